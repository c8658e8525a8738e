"""sfsim's fast loader for custom objects (``POST /_sfsim/objects/<name>/generate``): generated rows of every field
type, valid as Salesforce would hold them, readable through SOQL and Bulk 2.0, the same for the same seed."""

import datetime as dt
import re

from tests.sfsim.test_custom_objects import EVERY_TYPE, _name, _pair, objects

__all__ = ["objects"]  # the fixture shared with test_custom_objects


def _rows(sf, name: str) -> list[dict]:
    fields = [f["name"] for f in EVERY_TYPE if f["name"] != "Account_Name__c"]
    soql = f"SELECT Id, Name, OwnerId, CreatedDate, SystemModstamp, {', '.join(fields)} FROM {name} ORDER BY Id"
    return sf.query_all(soql)["records"]


def test_generated_rows_hold_valid_values_of_every_type(sfsim, sf, objects):
    name = objects(name=_name("Gadget"), label="Gadget", pluralLabel="Gadgets", fields=EVERY_TYPE)["name"]
    out = sfsim.control("POST", f"objects/{name}/generate", {"rows": 700, "seed": "t"})
    assert out["created"] == 700 and out["counts"] == {name: 700}
    rows = _rows(sf, name)
    assert len(rows) == 700
    accounts = {r["Id"] for r in sf.query_all("SELECT Id FROM Account")["records"]}
    users = {r["Id"] for r in sf.query_all("SELECT Id FROM User WHERE IsActive = true")["records"]}
    assert len({r["Code__c"] for r in rows}) == 700  # unique and external id fields are unique
    assert all(r["Must__c"] for r in rows)  # required fields always hold a value
    assert all(r["OwnerId"] in users and r["Name"].startswith("Gadget ") for r in rows)
    assert {r["Account__c"] for r in rows} - {None} <= accounts and any(r["Account__c"] is None for r in rows)
    assert {r["Stage__c"] for r in rows} - {None} <= {"New", "Open", "Closed"}
    assert all(set(r["Regions__c"].split(";")) <= {"EMEA", "AMER", "APAC"} for r in rows if r["Regions__c"])
    assert {type(r["Active__c"]) for r in rows} == {bool}
    for r in rows:
        assert r["Quantity__c"] is None or (
            0 <= r["Quantity__c"] < 10**8 and round(r["Quantity__c"], 2) == r["Quantity__c"]
        )
        assert r["Discount__c"] is None or 0 <= r["Discount__c"] <= 100
        assert r["Seats__c"] is None or isinstance(r["Seats__c"], int)
        assert r["Due__c"] is None or dt.date.fromisoformat(r["Due__c"])
        assert r["Reviewed_At__c"] is None or r["Reviewed_At__c"].endswith(".000+0000")
        assert r["Contact_Email__c"] is None or re.fullmatch(r"[a-z]+\.\d+@[a-z]+\.example\.com", r["Contact_Email__c"])
        assert r["Site__c"] is None or r["Site__c"].startswith("https://www.")
        assert r["Summary__c"] is None or len(r["Summary__c"]) <= 255
        assert r["CreatedDate"] <= r["SystemModstamp"]
    # Bulk 2.0 reads them like any other rows.
    job = sf.bulk2.__getattr__(name).query(f"SELECT Id, Code__c FROM {name}")
    assert sum(chunk.count("\n") - 1 for chunk in job) == 700


def test_the_same_seed_gives_the_same_rows(sfsim, sf, objects):
    first, second = (
        objects(name=_name("Gadget"), label="Gadget", pluralLabel=plural, fields=EVERY_TYPE)["name"]
        for plural in ("Gadgets", "Widgets")  # (the plural names each one's child relationship on Account)
    )
    sfsim.control("POST", "clock", {"freeze": True})
    try:
        for name in (first, second):
            sfsim.control("POST", f"objects/{name}/generate", {"rows": 50, "seed": "same"})
    finally:
        sfsim.control("POST", "clock", {"unfreeze": True})

    def values(name: str) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("attributes", "Id")} for r in _rows(sf, name)]

    assert values(first) == values(second)


def test_auto_numbers_master_detail_and_refusals(sfsim, sf, objects):
    master, child = _pair(objects)
    refused = sfsim.control("POST", f"objects/{child}/generate", {"rows": 10}, expect_ok=False)
    assert "needs a" in refused["error"] and master in refused["error"]
    sfsim.control("POST", f"objects/{master}/generate", {"rows": 30})
    names = [r["Name"] for r in sf.query_all(f"SELECT Name FROM {master} ORDER BY Name")["records"]]
    assert names == [f"PRG-{n:04d}" for n in range(1, 31)]
    assert getattr(sf, master).create({"Budget__c": 5})["id"]
    assert sf.query(f"SELECT Name FROM {master} ORDER BY Name DESC LIMIT 1")["records"][0]["Name"] == "PRG-0031"
    sfsim.control("POST", f"objects/{child}/generate", {"rows": 90})
    rows = sf.query_all(f"SELECT Program__c FROM {child}")["records"]
    masters = {r["Id"] for r in sf.query_all(f"SELECT Id FROM {master}")["records"]}
    assert len(rows) == 90 and {r["Program__c"] for r in rows} <= masters
    for body in ({"rows": 0}, {"rows": 3_000_000}):
        assert "rows must be" in sfsim.control("POST", f"objects/{master}/generate", body, expect_ok=False)["error"]
    assert (
        "no custom object" in sfsim.control("POST", "objects/Account/generate", {"rows": 5}, expect_ok=False)["error"]
    )


def test_the_demo_seed_is_what_it_was() -> None:
    """Generating rows for a custom object must not change the demo data every test and benchmark relies on (a
    second ``WORDS`` list in seed.py once renamed the demo's accounts and lost 16 of its 740 contacts)."""
    import sqlite3
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "sfsim", "seed", "--data", tmp, "demo"], check=True, capture_output=True)
        db = sqlite3.connect(Path(tmp) / "org.sqlite3")
        counts = {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in ("Account", "Contact")}
        first = db.execute('SELECT "Name" FROM "Account" ORDER BY "Id" LIMIT 1').fetchone()[0]
        db.close()
    assert counts == {"Account": 300, "Contact": 740}
    assert first.split()[0][0].isupper()  # the demo's own words ("Acme", "Summit"), not the generator's


def test_fill_sets_generated_values_on_a_standard_objects_records(sfsim, sf):
    """``POST /_sfsim/objects/<name>/fill``: custom fields added to Contact get generated values on every existing
    contact (a standard object as wide as a custom one, for the custom object benchmark); stamps are unchanged."""
    names = []
    for spec in (
        {"name": "Fill_Region__c", "type": "Picklist", "picklistValues": ["North", "South"]},
        {"name": "Fill_Amount__c", "type": "Currency"},
        {"name": "Fill_Email__c", "type": "email"},
    ):
        names.append(sfsim.control("POST", "fields", {"object": "Contact", **spec})["field"]["name"])
    try:
        before = {
            r["Id"]: r["SystemModstamp"] for r in sf.query_all("SELECT Id, SystemModstamp FROM Contact")["records"]
        }
        out = sfsim.control("POST", "objects/Contact/fill", {"fields": names, "seed": "t"})
        assert out == {"object": "Contact", "filled": len(before)}
        rows = sf.query_all(f"SELECT Id, SystemModstamp, {', '.join(names)} FROM Contact")["records"]
        assert {r["Id"]: r["SystemModstamp"] for r in rows} == before
        regions = [r["Fill_Region__c"] for r in rows]
        assert set(regions) - {None} == {"North", "South"} and regions.count(None) < len(rows) / 4
        assert all(r["Fill_Amount__c"] is None or r["Fill_Amount__c"] >= 0 for r in rows)
        assert all(r["Fill_Email__c"] is None or r["Fill_Email__c"].endswith(".example.com") for r in rows)
        for body, message in (
            ({"fields": ["Nope__c"]}, "not a stored field"),
            ({"fields": ["SystemModstamp"]}, "not a stored field"),
            ({"fields": []}, "fields must be"),
        ):
            assert message in sfsim.control("POST", "objects/Contact/fill", body, expect_ok=False)["error"]
    finally:
        for name in names:
            sfsim.control("DELETE", f"fields/Contact/{name}")
