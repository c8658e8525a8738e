"""SOQL: the grammar, Salesforce-style errors, query/queryAll semantics, paging, formulas and literals."""

import datetime as dt

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sfsim.errors import SFError
from sfsim.soql import date_literal_range, parse, unescape


def _error(sf, soql, include_deleted=False):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(soql, include_deleted=include_deleted)
    return err.value.content[0]


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM",
        "SELECT FROM Account",
        "SELECT Id Account",
        "SELECT Id FROM Account WHERE",
        "SELECT Id FROM Account WHERE Name = ",
        "SELECT Id FROM Account WHERE Name = 'unterminated",
        "SELECT Id FROM Account ORDER Name",
        "SELECT Id FROM Account LIMIT x",
        "SELECT Id,, Name FROM Account",
        "SELECT Id FROM Account WHERE (Name = 'a'",
    ],
)
def test_malformed_queries(sf, soql):
    err = _error(sf, soql)
    assert err["errorCode"] == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:" in err["message"] and "unexpected token" in err["message"]


def test_malformed_message_points_at_the_token():
    with pytest.raises(SFError) as err:
        parse("SELECT Id FROM Account WHERE Name == 'x'")
    assert err.value.message == (
        "\nSELECT Id FROM Account WHERE Name == 'x'\n" + " " * 35 + "^\nERROR at Row:1:Column:36\nunexpected token: '='"
    )


def test_keywords_are_case_insensitive_and_names_are_not_keywords():
    tree = parse("select id, notes__c, order__c from account where notes__c != null order by id desc nulls last")
    assert tree.children[1].children[0] == "account"


def test_unknown_field_object_and_relationship(sf):
    field = _error(sf, "SELECT Id, Nme FROM Account")
    assert field["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nme' on entity 'Account'" in field["message"]
    assert "ERROR at Row:1:Column:12" in field["message"]
    typ = _error(sf, "SELECT Id FROM Acount")
    assert typ["errorCode"] == "INVALID_TYPE" and "sObject type 'Acount' is not supported" in typ["message"]
    rel = _error(sf, "SELECT Acount.Name FROM Contact")
    assert rel["errorCode"] == "INVALID_FIELD" and "Didn't understand relationship 'Acount'" in rel["message"]
    value = _error(sf, "SELECT Id FROM Account WHERE Name = 5")
    assert value["errorCode"] == "INVALID_FIELD" and "must be of type string" in value["message"]
    bad_id = _error(sf, "SELECT Id FROM Account WHERE Id = 'xyz'")
    assert bad_id["errorCode"] == "INVALID_QUERY_FILTER_OPERATOR"
    dup = _error(sf, "SELECT Id, Name, name FROM Account")
    assert dup["errorCode"] == "MALFORMED_QUERY" and "duplicate field selected" in dup["message"]


def test_count_nested_parents_and_result_formats(sf):
    count = sf.query("SELECT COUNT() FROM Contact")
    assert count["records"] == [] and count["totalSize"] > 100 and count["done"]
    rec = sf.query(
        "SELECT Id, Name, Account.Name, Account.Owner.Name, Owner.Email, CreatedDate, Birthdate, "
        "IsDeleted FROM Contact WHERE AccountId != null LIMIT 1"
    )["records"][0]
    assert rec["attributes"]["type"] == "Contact"
    assert rec["Account"]["attributes"]["type"] == "Account" and rec["Account"]["Name"]
    assert rec["Account"]["Owner"]["attributes"]["type"] == "User" and rec["Account"]["Owner"]["Name"]
    assert rec["Owner"]["Email"]
    assert dt.datetime.strptime(rec["CreatedDate"], "%Y-%m-%dT%H:%M:%S.000%z")
    assert rec["IsDeleted"] is False
    orphan = sf.Contact.create({"LastName": "Orphan"})["id"]
    row = sf.query(f"SELECT Account.Name FROM Contact WHERE Id = '{orphan}'")["records"][0]
    assert row["Account"] is None


def test_where_operators(sf, unique):
    tag = unique("op")
    acc = [
        sf.Account.create(
            {"Name": f"{tag} {i}", "NumberOfEmployees": i * 10, "Industry": ["Banking", "Energy", None][i % 3]}
        )["id"]
        for i in range(6)
    ]

    def names(where):
        res = sf.query(f"SELECT Name FROM Account WHERE Name LIKE '{tag}%' AND ({where}) ORDER BY Name")
        return [r["Name"][-1] for r in res["records"]]

    assert names("NumberOfEmployees >= 20 AND NumberOfEmployees < 40") == ["2", "3"]
    assert names("Industry = 'banking'") == ["0", "3"]  # text comparison is case-insensitive
    assert names("Industry IN ('Banking', 'Energy')") == ["0", "1", "3", "4"]
    assert names("Industry NOT IN ('Banking')") == ["1", "2", "4", "5"]
    assert names("Industry = null") == ["2", "5"]
    assert names("Industry != null AND NOT (Industry = 'Energy')") == ["0", "3"]
    assert names("NumberOfEmployees = 0 OR NumberOfEmployees > 45") == ["0", "5"]
    assert names(f"Id = '{acc[1][:15]}'") == ["1"]
    assert names("Name LIKE '% 4'") == ["4"]


def test_string_escapes():
    assert unescape(r"O\'Brien \\ \n") == "O'Brien \\ \n"
    assert unescape(r"50\%", like=True) == r"50\%"


def test_quoted_strings_with_escapes(sf, unique):
    name = unique("O'Brien")
    sf.Account.create({"Name": name})
    escaped = name.replace("'", "\\'")
    assert sf.query(f"SELECT Name FROM Account WHERE Name = '{escaped}'")["records"][0]["Name"] == name


def test_order_by_several_keys_nulls_limit_offset(sf, unique):
    tag = unique("ord")
    for i, ind in enumerate(["Banking", None, "Apparel", None]):
        sf.Account.create({"Name": f"{tag} {i}", "Industry": ind})
    base = f"SELECT Name, Industry FROM Account WHERE Name LIKE '{tag}%'"
    first = sf.query(base + " ORDER BY Industry NULLS FIRST, Name DESC")["records"]
    assert [r["Name"][-1] for r in first] == ["3", "1", "2", "0"]
    last = sf.query(base + " ORDER BY Industry ASC NULLS LAST, Name")["records"]
    assert [r["Name"][-1] for r in last] == ["2", "0", "1", "3"]
    page = sf.query(base + " ORDER BY Name LIMIT 2 OFFSET 1")
    assert [r["Name"][-1] for r in page["records"]] == ["1", "2"] and page["totalSize"] == 2


def test_date_and_datetime_literals(sf, sfsim):
    sfsim.control("POST", "clock", {"freeze": "2026-06-10T12:00:00Z"})
    try:
        rid = sf.Opportunity.create({"Name": "Dated", "StageName": "Prospecting", "CloseDate": "2026-06-10"})["id"]
        where = f"Id = '{rid}' AND "
        for cond, hit in [
            ("CloseDate = TODAY", True),
            ("CloseDate = YESTERDAY", False),
            ("CreatedDate = TODAY", True),
            ("CreatedDate = LAST_N_DAYS:3", True),
            ("CreatedDate > 2026-06-10T11:59:59Z", True),
            ("CreatedDate > 2026-06-10T14:00:00+02:00", False),
            ("CloseDate >= 2026-06-01 AND CloseDate < 2026-07-01", True),
            ("CloseDate = THIS_MONTH", True),
            ("CloseDate < LAST_N_DAYS:5", False),
        ]:
            assert sf.query(f"SELECT Id FROM Opportunity WHERE {where}{cond}")["totalSize"] == int(hit), cond
    finally:
        sfsim.control("POST", "clock", {"reset": True})
    today = dt.date(2026, 6, 10)
    assert date_literal_range("LAST_N_DAYS:7", today) == (dt.date(2026, 6, 3), dt.date(2026, 6, 11))
    assert date_literal_range("THIS_WEEK", today) == (dt.date(2026, 6, 7), dt.date(2026, 6, 14))


def test_paging_with_next_records_url(sfsim, sf):
    total = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    sf.headers["Sforce-Query-Options"] = "batchSize=200"
    first = sf.query("SELECT Id, Name FROM Contact ORDER BY Id")
    assert first["done"] is False and len(first["records"]) == 200 and first["totalSize"] == total
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 200 and second["records"][0]["Id"] > first["records"][-1]["Id"]
    everything = sf.query_all("SELECT Id FROM Contact")
    assert len(everything["records"]) == total and len({r["Id"] for r in everything["records"]}) == total
    assert everything["done"] is True


def test_a_lost_page_can_be_fetched_again(sf, api):
    api.headers["Sforce-Query-Options"] = "batchSize=200"
    first = api.get(api.url("query"), params={"q": "SELECT Id FROM Contact ORDER BY Id"}).json()
    url = first["nextRecordsUrl"]
    a = api.get(api.url(url.split("/v59.0/", 1)[1])).json()
    b = api.get(api.url(url.split("/v59.0/", 1)[1])).json()
    assert a["records"] == b["records"]
    bogus = api.get(api.url("query/01g5g0000000000AAA-2000"))
    assert bogus.status_code == 400 and bogus.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_sees_deleted_and_archived_rows(sf, sfsim):
    rid = sf.Task.create({"Subject": "Old call", "ActivityDate": "2020-01-01", "Status": "Completed"})["id"]
    sfsim.control("DELETE", f"records/Task/{rid}")
    assert sf.query(f"SELECT Id FROM Task WHERE Id = '{rid}'")["totalSize"] == 0
    rows = sf.query_all(f"SELECT Id, IsDeleted FROM Task WHERE Id = '{rid}'", include_deleted=True)["records"]
    assert rows[0]["IsDeleted"] is True
    archived = sf.query("SELECT COUNT() FROM Task WHERE IsArchived = true", include_deleted=True)["totalSize"]
    assert archived > 0
    assert sf.query("SELECT COUNT() FROM Task WHERE IsArchived = true")["totalSize"] == 0


def test_equal_timestamps_across_page_boundaries(sf, sfsim, unique):
    tag = unique("eq")
    sfsim.control("POST", "clock", {"freeze": True})
    try:
        records = [{"attributes": {"type": "Lead"}, "LastName": f"{tag}{i}", "Company": tag} for i in range(200)]
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records[:150]})
    finally:
        sfsim.control("POST", "clock", {"reset": True})
    sf.headers["Sforce-Query-Options"] = "batchSize=200"
    res = sf.query_all(
        f"SELECT Id, SystemModstamp FROM Lead WHERE Company = '{tag}' ORDER BY SystemModstamp, Id", include_deleted=True
    )
    assert len(res["records"]) == 350 and len({r["SystemModstamp"] for r in res["records"]}) == 1


def test_cross_object_formula_changes_without_bumping_systemmodstamp(sf, sfsim):
    acc = sf.Account.create({"Name": "Formula Parent", "Industry": "Banking"})["id"]
    opp = sf.Opportunity.create({"Name": "F", "StageName": "Prospecting", "CloseDate": "2026-12-01", "AccountId": acc})[
        "id"
    ]
    con = sf.Contact.create({"LastName": "F", "AccountId": acc})["id"]
    before = sf.query(
        f"SELECT Account_Industry__c, SystemModstamp, LastModifiedDate FROM Opportunity WHERE Id = '{opp}'"
    )["records"][0]
    assert before["Account_Industry__c"] == "Banking"
    sfsim.control("POST", "clock", {"advance_seconds": 3})
    try:
        sfsim.control("PATCH", f"records/Account/{acc}", {"fields": {"Industry": "Energy", "Name": "Renamed"}})
    finally:
        sfsim.control("POST", "clock", {"reset": True})
    after = sf.query(
        f"SELECT Account_Industry__c, SystemModstamp, LastModifiedDate FROM Opportunity WHERE Id = '{opp}'"
    )["records"][0]
    assert after["Account_Industry__c"] == "Energy"
    assert after["SystemModstamp"] == before["SystemModstamp"]
    assert after["LastModifiedDate"] == before["LastModifiedDate"]
    assert sf.Contact.get(con)["Account_Name__c"] == "Renamed"


def test_polymorphic_who_and_what(sf):
    acc = sf.Account.create({"Name": "Poly Co"})["id"]
    con = sf.Contact.create({"LastName": "Poly", "AccountId": acc})["id"]
    task = sf.Task.create({"Subject": "Poly", "WhoId": con, "WhatId": acc})["id"]
    rec = sf.query(f"SELECT Who.Name, Who.Type, What.Name, AccountId, Account_Name__c FROM Task WHERE Id = '{task}'")[
        "records"
    ][0]
    assert rec["Who"]["attributes"]["type"] == "Contact" and rec["Who"]["Name"] == "Poly"
    assert rec["Who"]["Type"] == "Contact" and rec["What"]["Name"] == "Poly Co"
    assert rec["AccountId"] == acc and rec["Account_Name__c"] == "Poly Co"


def test_tooling_query_of_the_installed_package(sf):
    res = sf.toolingexecute(
        "query/?q=SELECT+Id,+SubscriberPackage.Name,+SubscriberPackage.NamespacePrefix,+"
        "SubscriberPackageVersion.Name+FROM+InstalledSubscriberPackage"
    )
    row = res["records"][0]
    assert row["Id"].startswith("0A3")
    assert row["SubscriberPackage"]["NamespacePrefix"] == "rox"
    assert row["SubscriberPackage"]["Name"] == "Rox Integration"
    assert row["SubscriberPackage"]["attributes"]["url"].split("/")[-1].startswith("033")
    assert row["SubscriberPackageVersion"]["attributes"]["url"].split("/")[-1].startswith("04t")


def test_batch_size_is_clamped_to_salesforce_bounds(api):
    api.headers["Sforce-Query-Options"] = "batchSize=50"
    res = api.get(api.url("query"), params={"q": "SELECT Id FROM Contact"}).json()
    assert len(res["records"]) == 200


def test_includes_on_multi_select_picklists(sfsim, sf, unique):
    sfsim.control(
        "POST",
        "fields",
        {
            "object": "Account",
            "name": "Regions__c",
            "type": "multipicklist",
            "picklistValues": ["EMEA", "APAC", "AMER"],
        },
    )
    try:
        tag = unique("ms")
        sf.Account.create({"Name": f"{tag} a", "Regions__c": "EMEA;APAC"})
        sf.Account.create({"Name": f"{tag} b", "Regions__c": "AMER"})
        res = sf.query(f"SELECT Name FROM Account WHERE Name LIKE '{tag}%' AND Regions__c INCLUDES ('APAC')")
        assert [r["Name"] for r in res["records"]] == [f"{tag} a"]
        res = sf.query(f"SELECT Name FROM Account WHERE Name LIKE '{tag}%' AND Regions__c EXCLUDES ('APAC')")
        assert [r["Name"] for r in res["records"]] == [f"{tag} b"]
    finally:
        sfsim.control("DELETE", "fields/Account/Regions__c")


def test_closed_locator_answers_invalid_query_locator(sfsim, api):
    api.headers["Sforce-Query-Options"] = "batchSize=200"
    first = api.get(api.url("query"), params={"q": "SELECT Id FROM Contact"}).json()
    assert sfsim.control("DELETE", "locators")["closed"] >= 1
    resp = api.get(f"{sfsim.instance_url}{first['nextRecordsUrl']}")
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_semi_join_finds_permissions_in_one_query(sf, sfsim):
    uid = sf.query(f"SELECT Id FROM User WHERE Username = '{sfsim.username}'")["records"][0]["Id"]
    res = sf.query(
        f"SELECT SobjectType, PermissionsEdit FROM ObjectPermissions WHERE SobjectType = 'Account' AND "
        f"ParentId IN (SELECT PermissionSetId FROM PermissionSetAssignment WHERE AssigneeId = '{uid}')"
    )
    assert [r["PermissionsEdit"] for r in res["records"]] == [True]
    none = sf.query(
        "SELECT COUNT() FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact "
        "WHERE AccountId != null) AND Id IN (SELECT AccountId FROM Opportunity)"
    )
    assert none["totalSize"] >= 0
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Account WHERE Id IN (SELECT Name FROM Contact)")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
