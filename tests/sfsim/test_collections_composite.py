"""sObject Collections and Composite: per-record results, allOrNone, upsert by external id, references."""

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


def _rec(typ, **fields):
    return {"attributes": {"type": typ}, **fields}


def test_create_collection_reports_each_record_in_order(sfsim, sf, unique):
    sfsim.control("POST", "stats/reset")
    tag = unique("col")
    body = {
        "allOrNone": False,
        "records": [
            _rec("Account", Name=f"{tag} a"),
            _rec("Contact", FirstName="x"),
            _rec("Lead", LastName="L", Company=tag),
        ],
    }
    res = sf.restful("composite/sobjects", method="POST", json=body)
    assert res[0]["success"] and res[0]["id"].startswith("001") and res[0]["errors"] == []
    assert res[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
    }
    assert res[2]["success"] and res[2]["id"].startswith("00Q")
    stats = sfsim.control("GET", "stats")
    assert stats["api_calls_by_category"] == {"collections": 1}


def test_all_or_none_rolls_everything_back(sf, unique):
    tag = unique("aon")
    body = {"allOrNone": True, "records": [_rec("Account", Name=tag), _rec("Account", Name="x" * 300)]}
    res = sf.restful("composite/sobjects", method="POST", json=body)
    assert res[0]["success"] is False and res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert res[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Name = '{tag}'")["totalSize"] == 0


def test_update_and_delete_collections(sf, unique):
    tag = unique("upd")
    ids = [sf.Account.create({"Name": f"{tag} {i}"})["id"] for i in range(3)]
    res = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                _rec("Account", Id=ids[0], Industry="Energy"),
                _rec("Account", Id=ids[1], Customer_Tier__c="Wood"),
                _rec("Account", Industry="Energy"),
            ],
        },
    )
    assert res[0] == {"id": ids[0], "success": True, "errors": []}
    assert res[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert res[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    deleted = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": ",".join([ids[0], ids[2], "001000000000000AAA"]), "allOrNone": "false"},
    )
    assert [d["success"] for d in deleted] == [True, True, False]
    assert deleted[2]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    again = sf.restful("composite/sobjects", method="DELETE", params={"ids": ids[0]})
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_upsert_collection_on_rox_activity_id(sf, unique):
    keys = [unique("act") for _ in range(3)]
    body = {
        "allOrNone": False,
        "records": [_rec("Task", RoxActivityId__c=k, Subject="Email: hi", Status="Completed") for k in keys],
    }
    first = sf.restful("composite/sobjects/Task/RoxActivityId__c", method="PATCH", json=body)
    assert [r["created"] for r in first] == [True, True, True]
    second = sf.restful("composite/sobjects/Task/RoxActivityId__c", method="PATCH", json=body)
    assert [r["created"] for r in second] == [False, False, False]
    assert [r["id"] for r in second] == [r["id"] for r in first]
    assert (
        sf.query(f"SELECT COUNT() FROM Task WHERE RoxActivityId__c IN ('{keys[0]}', '{keys[1]}', '{keys[2]}')")[
            "totalSize"
        ]
        == 3
    )


def test_upsert_collection_looks_up_values_and_references_as_salesforce_would(sf, unique):
    """One request: a value given twice is created once and then updated; a reference to a live record is taken,
    one to a deleted record refused with Salesforce's error, and the rest of the request still goes through."""
    key, other = unique("act"), unique("act")
    live = sf.Contact.create({"LastName": unique("Live")})["id"]
    gone = sf.Contact.create({"LastName": unique("Gone")})["id"]
    sf.Contact.delete(gone)
    body = {
        "allOrNone": False,
        "records": [
            _rec("Task", RoxActivityId__c=key, Subject="first", WhoId=live),
            _rec("Task", RoxActivityId__c=key, Subject="second", WhoId=live),
            _rec("Task", RoxActivityId__c=other, Subject="to a deleted contact", WhoId=gone),
        ],
    }
    results = sf.restful("composite/sobjects/Task/RoxActivityId__c", method="PATCH", json=body)
    assert [r["success"] for r in results] == [True, True, False]
    assert [r.get("created") for r in results[:2]] == [True, False] and results[0]["id"] == results[1]["id"]
    assert results[2]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    task = sf.query(f"SELECT Subject, WhoId FROM Task WHERE RoxActivityId__c = '{key}'")["records"]
    assert [(t["Subject"], t["WhoId"]) for t in task] == [("second", live)]
    assert sf.query(f"SELECT COUNT() FROM Task WHERE RoxActivityId__c = '{other}'")["totalSize"] == 0


def test_retrieve_collection(sf):
    ids = [sf.Account.create({"Name": f"Ret {i}"})["id"] for i in range(2)]
    res = sf.restful(
        "composite/sobjects/Account", params={"ids": ",".join([*ids, "001000000000000AAA"]), "fields": "Id,Name"}
    )
    assert [r and r["Name"] for r in res] == ["Ret 0", "Ret 1", None]


def test_more_than_200_records_is_refused(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects", method="POST", json={"records": [_rec("Account", Name="x")] * 201})
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_composite_with_references_counts_one_call(sfsim, sf, unique):
    sfsim.control("POST", "stats/reset")
    tag = unique("cmp")
    body = {
        "allOrNone": False,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Account",
                "referenceId": "acc",
                "body": {"Name": tag},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Contact",
                "referenceId": "con",
                "body": {"LastName": "Ref", "AccountId": "@{acc.id}"},
            },
            {
                "method": "GET",
                "url": f"/services/data/v59.0/query/?q=SELECT+Id,Name+FROM+Account+WHERE+Name='{tag}'",
                "referenceId": "q",
            },
            {
                "method": "GET",
                "url": "/services/data/v59.0/sobjects/Account/@{q.records[0].Id}?fields=Name",
                "referenceId": "read",
            },
        ],
    }
    res = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [r["httpStatusCode"] for r in res] == [201, 201, 200, 200]
    assert res[3]["body"]["Name"] == tag
    assert sfsim.control("GET", "stats")["api_calls_by_category"] == {"composite": 1}
    contact = sf.Contact.get(res[1]["body"]["id"])
    assert contact["AccountId"] == res[0]["body"]["id"]


def test_composite_all_or_none_halts_and_rolls_back(sf, unique):
    tag = unique("halt")
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Account",
                "referenceId": "ok",
                "body": {"Name": tag},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Contact",
                "referenceId": "bad",
                "body": {"FirstName": "missing last name"},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Account",
                "referenceId": "later",
                "body": {"Name": tag},
            },
        ],
    }
    res = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert res[1]["httpStatusCode"] == 400 and res[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert res[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert res[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Name = '{tag}'")["totalSize"] == 0


def test_composite_limits(sf):
    sub = {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": "r"}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json={"compositeRequest": [sub] * 26})
