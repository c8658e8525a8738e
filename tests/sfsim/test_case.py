"""Case, a standard object from a real recorded describe (sfsim/schema/standard/Case.json): described and listed as
Salesforce does, numbered by its Auto Number CaseNumber, queryable, writable through REST, Collections and Bulk 2.0,
and gated by object and field permissions like the other standard objects."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

CASE_NUMBER = re.compile(r"^\d{8}$")


@pytest.fixture
def restore(sfsim: Any) -> Any:
    yield
    sfsim.control("POST", "scenario", {"name": "ready"})


def _account_and_contact(sf: Any) -> tuple[str, str]:
    row = sf.query("SELECT Id, AccountId FROM Contact WHERE AccountId != null LIMIT 1")["records"][0]
    return row["AccountId"], row["Id"]


def test_the_demo_seed_has_cases_of_its_accounts_and_their_contacts(sf: Any) -> None:
    rows = sf.query_all(
        "SELECT Id, CaseNumber, AccountId, ContactId, Contact.AccountId, Status, IsClosed, ClosedDate FROM Case"
    )["records"]
    assert len(rows) >= 40
    assert all(r["Id"].startswith("500") and CASE_NUMBER.match(r["CaseNumber"]) for r in rows)
    assert len({r["CaseNumber"] for r in rows}) == len(rows)
    assert all(r["AccountId"] for r in rows)
    with_contact = [r for r in rows if r["ContactId"]]
    assert with_contact and all(r["Contact"]["AccountId"] == r["AccountId"] for r in with_contact)
    assert all(r["IsClosed"] == (r["Status"] == "Closed") == bool(r["ClosedDate"]) for r in rows)


def test_describe_is_the_recorded_one(sf: Any) -> None:
    described = sf.Case.describe()
    assert (described["name"], described["keyPrefix"], described["label"], described["labelPlural"]) == (
        "Case",
        "500",
        "Case",
        "Cases",
    )
    assert not described["custom"] and described["createable"] and described["deletable"]
    fields = {f["name"]: f for f in described["fields"]}
    number = fields["CaseNumber"]
    assert number["nameField"] and number["autoNumber"] and number["idLookup"]
    assert not number["createable"] and not number["updateable"] and not number["permissionable"]
    assert [p["value"] for p in fields["Status"]["picklistValues"]] == ["New", "Working", "Escalated", "Closed"]
    assert [p["value"] for p in fields["Priority"]["picklistValues"]] == ["High", "Medium", "Low"]
    assert (fields["AccountId"]["referenceTo"], fields["AccountId"]["relationshipName"]) == (["Account"], "Account")
    assert fields["ContactId"]["referenceTo"] == ["Contact"] and fields["ParentId"]["referenceTo"] == ["Case"]
    assert fields["OwnerId"]["referenceTo"] == ["Group", "User"]
    assert not fields["IsClosed"]["createable"] and not fields["ClosedDate"]["updateable"]
    # "permissionable" as the real describe reports it (Status and IsClosed are outside field-level security).
    assert {name: fields[name]["permissionable"] for name in ("Subject", "AccountId", "Status", "IsClosed")} == {
        "Subject": True,
        "AccountId": True,
        "Status": False,
        "IsClosed": False,
    }
    assert {"Name", "Asset"} & set(fields) == set()  # a case's name is its number; Asset is not in sfsim
    children = {(c["childSObject"], c["field"]): c["relationshipName"] for c in described["childRelationships"]}
    assert children[("Case", "ParentId")] == "Cases" and children[("Task", "WhatId")] == "Tasks"
    for parent in (sf.Account, sf.Contact):
        relationships = {c["relationshipName"] for c in parent.describe()["childRelationships"]}
        assert "Cases" in relationships


def test_describe_global_lists_it(sf: Any) -> None:
    summary = next(o for o in sf.describe()["sobjects"] if o["name"] == "Case")
    assert summary["keyPrefix"] == "500" and summary["labelPlural"] == "Cases" and not summary["custom"]
    assert all(summary[k] for k in ("queryable", "createable", "updateable", "deletable", "replicateable"))
    assert summary["urls"]["describe"].endswith("/sobjects/Case/describe")


def test_create_query_update_and_delete(sfsim: Any, sf: Any, unique: Any) -> None:
    account, contact = _account_and_contact(sf)
    subject = unique("case")
    first = sf.Case.create({"Subject": subject, "AccountId": account, "ContactId": contact, "Origin": "Web"})
    second = sf.Case.create({"Subject": f"{subject} 2", "Status": "Working", "Priority": "High"})
    assert first["success"] and first["id"].startswith("500")
    row = sf.Case.get(first["id"])
    assert (row["Status"], row["Priority"], row["IsClosed"], row["ClosedDate"]) == ("New", "Medium", False, None)
    number = row["CaseNumber"]
    assert CASE_NUMBER.match(number) and int(sf.Case.get(second["id"])["CaseNumber"]) == int(number) + 1
    found = sf.query(
        f"SELECT Id, CaseNumber, Subject, Account.Name, Contact.Email, Owner.Name FROM Case WHERE Subject = '{subject}'"
    )["records"]
    assert [r["Id"] for r in found] == [first["id"]] and found[0]["Account"]["Name"] and found[0]["Owner"]["Name"]
    assert sf.query(f"SELECT Id FROM Case WHERE CaseNumber = '{number}'")["records"][0]["Id"] == first["id"]

    sf.Case.update(first["id"], {"Status": "Closed", "Priority": "Low"})
    closed = sf.Case.get(first["id"])
    assert closed["IsClosed"] is True and closed["ClosedDate"] and closed["Priority"] == "Low"
    sf.Case.update(first["id"], {"Status": "Working"})
    reopened = sf.Case.get(first["id"])
    assert reopened["IsClosed"] is False and reopened["ClosedDate"] is None and reopened["CaseNumber"] == number
    for read_only in ({"CaseNumber": "1"}, {"IsClosed": True}):
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.Case.update(first["id"], read_only)
        assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"

    sf.Case.delete(first["id"])
    assert sf.query(f"SELECT COUNT() FROM Case WHERE Id = '{first['id']}'")["totalSize"] == 0
    gone = sf.query_all(f"SELECT Id, IsDeleted FROM Case WHERE Id = '{first['id']}'", include_deleted=True)
    assert gone["records"][0]["IsDeleted"] is True
    assert sfsim.control("GET", f"records/Case/{second['id']}")["Subject"] == f"{subject} 2"


def test_an_activity_on_a_case_belongs_to_its_account(sf: Any, unique: Any) -> None:
    account, _ = _account_and_contact(sf)
    case = sf.Case.create({"Subject": unique("case"), "AccountId": account})["id"]
    task = sf.Task.create({"Subject": "Call the customer back", "WhatId": case})["id"]
    row = sf.query(f"SELECT AccountId, What.Type, What.Name FROM Task WHERE Id = '{task}'")["records"][0]
    assert row["AccountId"] == account and row["What"]["Type"] == "Case"
    assert row["What"]["Name"] == sf.Case.get(case)["CaseNumber"]


def test_collections_and_bulk_write_cases(sf: Any, unique: Any) -> None:
    tag = unique("many")
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Case"}, "Subject": f"{tag} a"},
            {"attributes": {"type": "Case"}, "Subject": f"{tag} b", "Status": "Closed"},
            {"attributes": {"type": "Case"}, "Subject": f"{tag} c", "Priority": "Urgent-ish" * 10},
        ],
    }
    made = sf.restful("composite/sobjects", method="POST", json=body)
    assert [r["success"] for r in made] == [True, True, False]
    assert made[2]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    ids = [r["id"] for r in made[:2]]
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Case"}, "Id": i, "Status": "Escalated"} for i in ids]},
    )
    assert all(r["success"] for r in updated)
    rows = sf.query(f"SELECT Status, IsClosed FROM Case WHERE Subject LIKE '{tag}%'")["records"]
    assert [(r["Status"], r["IsClosed"]) for r in rows] == [("Escalated", False)] * 2

    result = sf.bulk2.Case.insert(records=[{"Subject": f"{tag} bulk {i}", "Origin": "Email"} for i in range(3)])[0]
    assert result["numberRecordsProcessed"] == 3 and result["numberRecordsFailed"] == 0
    made_in_bulk = list(csv.DictReader(io.StringIO(sf.bulk2.Case.get_successful_records(result["job_id"]))))
    assert all(r["sf__Id"].startswith("500") for r in made_in_bulk)
    sf.bulk2.Case.delete(records=[{"Id": r["sf__Id"]} for r in made_in_bulk])
    assert sf.query(f"SELECT COUNT() FROM Case WHERE Subject LIKE '{tag} bulk%'")["totalSize"] == 0


def test_the_ready_integration_user_may_read_and_edit_cases(sf: Any) -> None:
    rows = sf.query(
        "SELECT PermissionsRead, PermissionsCreate, PermissionsEdit, PermissionsDelete FROM ObjectPermissions "
        "WHERE SobjectType = 'Case'"
    )["records"]
    assert rows and all(r["PermissionsRead"] and r["PermissionsEdit"] for r in rows)
    readable = sf.query("SELECT Field FROM FieldPermissions WHERE SobjectType = 'Case' AND PermissionsEdit = true")
    assert {"Case.Subject", "Case.AccountId", "Case.Priority"} <= {r["Field"] for r in readable["records"]}
    assert "Case.Status" not in {r["Field"] for r in readable["records"]}  # outside field-level security


def test_object_and_field_permissions_gate_cases(sfsim: Any, restore: Any) -> None:
    # The Salesforce Integration licence's profile grants no objects, and Rox's permission set has no Case.
    sfsim.control("POST", "scenario", {"name": "integration-license"})
    limited = sfsim.salesforce()
    assert "Case" not in {o["name"] for o in limited.describe()["sobjects"]}
    with pytest.raises(SalesforceMalformedRequest) as err:
        limited.query("SELECT Id FROM Case")
    assert err.value.content[0]["errorCode"] == "INVALID_TYPE"
    # Salesforce's admin grants Read and Edit on Case, and the Subject field but not Priority.
    parent = "Rox_Integration"
    sfsim.control("PUT", "object-permissions", {"parent": parent, "object": "Case", "read": True, "edit": True})
    sfsim.control("PUT", "field-permissions", {"parent": parent, "field": "Case.Subject", "read": True, "edit": True})
    granted = sfsim.salesforce()
    summary = next(o for o in granted.describe()["sobjects"] if o["name"] == "Case")
    assert summary["updateable"] and not summary["createable"] and not summary["deletable"]
    fields = {f["name"] for f in granted.Case.describe()["fields"]}
    assert {"Subject", "CaseNumber", "Status", "OwnerId"} <= fields and "Priority" not in fields
    case = granted.query("SELECT Id, CaseNumber, Status FROM Case LIMIT 1")["records"][0]
    granted.Case.update(case["Id"], {"Subject": "Edited with Edit only"})
    assert granted.Case.get(case["Id"])["Subject"] == "Edited with Edit only"
    with pytest.raises(SalesforceMalformedRequest) as err:
        granted.Case.update(case["Id"], {"Priority": "High"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceRefusedRequest):
        granted.Case.create({"Subject": "No create"})
    with pytest.raises(SalesforceRefusedRequest):
        granted.Case.delete(case["Id"])
