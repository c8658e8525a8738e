"""REST API through simple-salesforce: versions, resources, limits, usage header, describe, records, errors."""

import datetime as dt

import pytest
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sfsim import ids


def test_versions_need_no_auth_and_carry_no_limit_header(sfsim):
    resp = sfsim.session().get(f"{sfsim.instance_url}/services/data/")
    assert resp.status_code == 200
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in resp.json()
    assert "Sforce-Limit-Info" not in resp.headers


def test_resources_and_limits(sf, api):
    resources = api.get(api.url("")).json()
    for key in ("sobjects", "query", "queryAll", "limits", "tooling", "composite", "search", "recent", "identity"):
        assert key in resources
    assert resources["identity"].startswith("https://")
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] >= limits["DailyApiRequests"]["Remaining"] > 0
    assert "DailyBulkV2QueryJobs" in limits and "DailyBulkApiBatches" in limits


def test_every_response_carries_the_usage_header(sf, api):
    sf.query("SELECT Id FROM Account LIMIT 1")
    used, total = sf.api_usage["api-usage"]
    assert 0 < used <= total
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert sf.api_usage["api-usage"].used == used + 1
    missing = api.get(api.url("sobjects/Account/001000000000000AAA"))
    assert missing.status_code == 404 and missing.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_trailing_slashes_are_accepted(api):
    for path in ("limits/", "sobjects", "sobjects/", "sobjects/Account/", "query/?q=SELECT+Id+FROM+Account+LIMIT+1"):
        assert api.get(api.url(path)).status_code == 200, path


def test_request_limit_exceeded(sfsim, sf):
    sfsim.control("PUT", "limits", {"daily_api_requests": 50, "used": 49})
    try:
        sf.query("SELECT Id FROM Account LIMIT 1")
        assert sf.api_usage["api-usage"].used == 50
        with pytest.raises(SalesforceRefusedRequest) as err:
            sf.query("SELECT Id FROM Account LIMIT 1")
        assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
        sfsim.control("POST", "clock", {"advance_seconds": 24 * 3600 + 60})
        fresh = sfsim.salesforce()  # the day also outlived the two-hour session
        fresh.query("SELECT Id FROM Account LIMIT 1")
        assert fresh.api_usage["api-usage"].used == 1
    finally:
        sfsim.control("POST", "clock", {"reset": True})
        sfsim.control("PUT", "limits", {"daily_api_requests": 115000, "used": 0})


def test_invalid_session_raises_expired_session(sfsim):
    from simple_salesforce import Salesforce

    bad = Salesforce(instance_url=sfsim.instance_url, session_id="00Dxx!nope", session=sfsim.session())
    with pytest.raises(SalesforceExpiredSession) as err:
        bad.query("SELECT Id FROM Account")
    assert err.value.status == 401


def test_describe_global_and_object(sf):
    glob = sf.describe()
    names = {o["name"] for o in glob["sobjects"]}
    for name in (
        "Account",
        "Contact",
        "Opportunity",
        "OpportunityLineItem",
        "Product2",
        "Pricebook2",
        "PricebookEntry",
        "Lead",
        "Task",
        "Event",
        "User",
        "Profile",
        "UserLicense",
        "Organization",
        "PermissionSet",
        "PermissionSetAssignment",
        "ObjectPermissions",
        "FieldPermissions",
        "Project__c",
    ):
        assert name in names
    assert glob["maxBatchSize"] == 200
    account = next(o for o in glob["sobjects"] if o["name"] == "Account")
    assert account["keyPrefix"] == "001" and account["urls"]["describe"].endswith("/sobjects/Account/describe")
    desc = sf.Opportunity.describe()
    fields = {f["name"]: f for f in desc["fields"]}
    assert fields["Amount"]["type"] == "currency" and fields["Amount"]["precision"] == 18
    assert fields["AccountId"]["referenceTo"] == ["Account"] and fields["AccountId"]["relationshipName"] == "Account"
    assert "Closed Won" in [p["value"] for p in fields["StageName"]["picklistValues"]]
    formula = fields["Account_Industry__c"]
    assert formula["calculated"] and formula["calculatedFormula"] and not formula["createable"]
    assert not formula["updateable"] and formula["custom"]
    assert {"childSObject", "field", "relationshipName", "cascadeDelete"} <= set(desc["childRelationships"][0])
    for key in (
        "name",
        "label",
        "type",
        "soapType",
        "length",
        "byteLength",
        "digits",
        "precision",
        "scale",
        "calculated",
        "calculatedFormula",
        "externalId",
        "idLookup",
        "unique",
        "caseSensitive",
        "createable",
        "updateable",
        "nillable",
        "defaultedOnCreate",
        "defaultValue",
        "custom",
        "autoNumber",
        "filterable",
        "sortable",
        "nameField",
        "htmlFormatted",
        "picklistValues",
        "restrictedPicklist",
        "dependentPicklist",
        "referenceTo",
        "relationshipName",
        "inlineHelpText",
        "permissionable",
    ):
        assert key in formula


def test_trimmed_describes_are_filled_by_the_overlay(sf):
    fields = {f["name"]: f for f in sf.OpportunityLineItem.describe()["fields"]}
    assert fields["Quantity"]["precision"] == 12 and fields["Quantity"]["createable"]
    assert not fields["ListPrice"]["createable"]
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert task["Subject"]["length"] == 255 and task["TaskSubtype"]["restrictedPicklist"]


def test_custom_fields_on_activity_appear_on_task_and_event(sf):
    for obj in (sf.Task, sf.Event):
        fields = {f["name"]: f for f in obj.describe()["fields"]}
        assert fields["RoxActivityId__c"]["length"] == 100 and fields["RoxActivityId__c"]["externalId"]
        assert fields["Account_Name__c"]["calculated"]


def test_ids_have_prefix_and_case_safe_suffix(sf):
    rid = sf.Account.create({"Name": "Id check"})["id"]
    assert len(rid) == 18 and rid.startswith("001")
    assert ids.suffix(rid[:15]) == rid[15:]
    assert ids.normalize(rid[:15]) == rid
    assert sf.Account.get(rid[:15])["Id"] == rid
    assert sf.Contact.create({"LastName": "Pfx"})["id"].startswith("003")
    assert ids.suffix("001000000000000") == "AAA" and ids.suffix("001A00000000000") == "IAA"
    assert ids.suffix("00100000000000A") == "AAQ"


def test_create_read_update_delete(sfsim, sf, unique):
    name = unique("acme")
    rid = sf.Account.create({"Name": name, "Industry": "Banking", "NumberOfEmployees": 12})["id"]
    rec = sf.Account.get(rid)
    assert rec["attributes"] == {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{rid}"}
    assert rec["Name"] == name and rec["NumberOfEmployees"] == 12 and rec["IsDeleted"] is False
    assert rec["CreatedDate"].endswith(".000+0000") and rec["CreatedById"].startswith("005")
    assert rec["Billing_Location__c"] == ", "  # Salesforce's & treats blanks as empty text
    assert set(sf.Account.get(rid, params={"fields": "Name,Industry"})) == {"attributes", "Name", "Industry"}
    assert sf.Account.update(rid, {"Industry": "Energy", "BillingCity": "Oslo", "BillingCountry": "Norway"}) == 204
    rec = sf.Account.get(rid)
    assert rec["Industry"] == "Energy" and rec["Billing_Location__c"] == "Oslo, Norway"
    assert rec["BillingAddress"]["city"] == "Oslo"
    assert sf.Account.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Account.get(rid)
    assert err.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    gone = sf.query_all(f"SELECT Id, IsDeleted FROM Account WHERE Id = '{rid}'", include_deleted=True)["records"]
    assert gone[0]["IsDeleted"] is True
    assert sf.query(f"SELECT Id FROM Account WHERE Id = '{rid}'")["totalSize"] == 0


def test_unknown_record_and_malformed_id(sf):
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Account.get("001000000000000AAA")
    assert err.value.content[0]["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get("not-an-id")


def _error(call):
    with pytest.raises(SalesforceMalformedRequest) as err:
        call()
    return err.value.content[0]


def test_validation_errors(sf):
    assert _error(lambda: sf.Contact.create({"FirstName": "No"})) == {
        "message": "Required fields are missing: [LastName]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["LastName"],
    }
    too_long = _error(lambda: sf.Account.create({"Name": "x" * 256}))
    assert too_long["errorCode"] == "STRING_TOO_LONG" and too_long["fields"] == ["Name"]
    assert "max length=255" in too_long["message"]
    picklist = _error(lambda: sf.Account.create({"Name": "P", "Customer_Tier__c": "Platinum"}))
    assert picklist["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    formula = _error(lambda: sf.Account.create({"Name": "F", "Billing_Location__c": "x"}))
    assert formula["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE" and formula["fields"] == ["Billing_Location__c"]
    readonly = _error(lambda: sf.Account.create({"Name": "R", "CreatedDate": "2020-01-01T00:00:00Z"}))
    assert readonly["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    unknown = _error(lambda: sf.Account.create({"Name": "U", "Nope__c": 1}))
    assert unknown["errorCode"] == "INVALID_FIELD" and "No such column 'Nope__c'" in unknown["message"]
    assert (
        _error(lambda: sf.Account.create({"Name": "N", "NumberOfEmployees": "many"}))["errorCode"]
        == "JSON_PARSER_ERROR"
    )
    assert _error(lambda: sf.Contact.create({"LastName": "B", "AccountId": "garbage"}))["errorCode"] == "MALFORMED_ID"
    assert (
        _error(lambda: sf.Contact.create({"LastName": "B", "AccountId": "003000000000000AAA"}))["errorCode"]
        == "MALFORMED_ID"
    )
    assert (
        _error(lambda: sf.Contact.create({"LastName": "B", "AccountId": "0015g000009zzzzAAA"}))["errorCode"]
        == "INVALID_CROSS_REFERENCE_KEY"
    )
    assert (
        _error(lambda: sf.Contact.create({"LastName": "B", "Email": "not-mail"}))["errorCode"]
        == "INVALID_EMAIL_ADDRESS"
    )
    body = _error(lambda: sf.Account.create({"Name": "J", "Industry": None, "BillingCity": "x" * 41}))
    assert body["errorCode"] == "STRING_TOO_LONG"


def test_unique_external_id_rejects_duplicates(sf, unique):
    key = unique("K")[:40]
    sf.Account.create({"Name": "First", "External_Key__c": key})
    dup = _error(lambda: sf.Account.create({"Name": "Second", "External_Key__c": key}))
    assert dup["errorCode"] == "DUPLICATE_VALUE" and dup["fields"] == ["External_Key__c"]


def test_upsert_by_external_id(sf, unique):
    key = unique("up")
    created = sf.Task.upsert(f"RoxActivityId__c/{key}", {"Subject": "Call", "Status": "Completed"})
    assert created == 201
    assert sf.Task.upsert(f"RoxActivityId__c/{key}", {"Subject": "Call again"}) == 200
    rec = sf.Task.get_by_custom_id("RoxActivityId__c", key)
    assert rec["Subject"] == "Call again" and rec["IsClosed"] is True
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Task.upsert(f"Nope__c/{key}", {"Subject": "x"})
    assert err.value.content[0]["errorCode"] == "NOT_FOUND"


def test_upsert_with_several_matches_answers_300(sf, unique, api):
    key = unique("dup")
    for _ in range(2):
        sf.Task.create({"Subject": "Twin", "RoxActivityId__c": key})
    with pytest.raises(SalesforceMoreThanOneRecord) as err:
        sf.Task.upsert(f"RoxActivityId__c/{key}", {"Subject": "x"})
    assert len(err.value.content) == 2 and all(
        u.startswith("/services/data/v59.0/sobjects/Task/") for u in err.value.content
    )
    resp = api.patch(api.url(f"sobjects/Task/RoxActivityId__c/{key}"), json={"Subject": "x"})
    assert resp.status_code == 300


def test_upsert_response_body_says_created(api, unique):
    key = unique("body")
    first = api.patch(api.url(f"sobjects/Task/RoxActivityId__c/{key}"), json={"Subject": "x"})
    assert first.status_code == 201 and first.json()["created"] is True
    second = api.patch(api.url(f"sobjects/Task/RoxActivityId__c/{key}"), json={"Subject": "y"})
    assert second.status_code == 200 and second.json() == {
        "id": first.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }


def test_audit_fields_follow_the_writer(sfsim, sf):
    rep = sfsim.control("POST", "users", {"username": f"rep{dt.datetime.now().timestamp()}@sfsim.example.com"})["id"]
    rid = sf.Account.create({"Name": "Audit"})["id"]
    before = sf.Account.get(rid)
    sfsim.control("POST", "clock", {"advance_seconds": 5})
    try:
        sfsim.control("PATCH", f"records/Account/{rid}", {"as": rep, "fields": {"Phone": "123"}})
        after = sf.Account.get(rid)
    finally:
        sfsim.control("POST", "clock", {"reset": True})
    assert after["LastModifiedById"] == rep and after["CreatedById"] == before["CreatedById"]
    assert after["SystemModstamp"] > before["SystemModstamp"] and after["LastModifiedDate"] == after["SystemModstamp"]


def test_get_updated_and_deleted(sfsim, sf):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    rid = sf.Lead.create({"LastName": "Upd", "Company": "C"})["id"]
    sf.Lead.delete(rid)
    rid2 = sf.Lead.create({"LastName": "Upd2", "Company": "C"})["id"]
    # Both calls cover whole minutes up to now: move the clock past this minute.
    sfsim.control("POST", "clock", {"advance_seconds": 120})
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)
    try:
        updated = sf.Lead.updated(start, end)
        deleted = sf.Lead.deleted(start, end)
    finally:
        sfsim.control("POST", "clock", {"reset": True})
    assert rid2 in updated["ids"] and rid not in updated["ids"]
    assert updated["latestDateCovered"].endswith(":00.000+0000")
    assert rid in [d["id"] for d in deleted["deletedRecords"]]
    assert {"earliestDateAvailable", "latestDateCovered"} <= set(deleted)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.updated(start - dt.timedelta(days=40), end)
    assert err.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_opportunity_stage_drives_derived_fields(sf):
    acc = sf.Account.create({"Name": "Stage Co"})["id"]
    rid = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Closed Won", "CloseDate": "2026-12-01", "AccountId": acc, "Amount": 1000}
    )["id"]
    opp = sf.Opportunity.get(rid)
    assert opp["IsClosed"] is True and opp["IsWon"] is True and opp["Probability"] == 100
    assert opp["Weighted_Amount__c"] == 1000 and opp["ForecastCategoryName"] == "Closed"
    bad = _error(lambda: sf.Opportunity.create({"Name": "No stage", "CloseDate": "2026-12-01"}))
    assert bad["errorCode"] == "REQUIRED_FIELD_MISSING" and bad["fields"] == ["StageName"]


def test_activity_rules(sf):
    lead = sf.Lead.create({"LastName": "Who", "Company": "C"})["id"]
    acc = sf.Account.create({"Name": "What"})["id"]
    bad = _error(lambda: sf.Task.create({"Subject": "x", "WhoId": lead, "WhatId": acc}))
    assert bad["errorCode"] == "FIELD_INTEGRITY_EXCEPTION" and bad["fields"] == ["WhatId"]
    assert sf.Task.create({"Subject": "x", "WhoId": lead})["success"]
    event = _error(lambda: sf.Event.create({"Subject": "Meet", "StartDateTime": "2026-05-01T10:00:00Z"}))
    assert event["errorCode"] == "REQUIRED_FIELD_MISSING" and event["fields"] == ["DurationInMinutes"]
    rid = sf.Event.create(
        {"Subject": "Meet", "StartDateTime": "2026-05-01T10:00:00Z", "EndDateTime": "2026-05-01T10:45:00Z"}
    )["id"]
    rec = sf.Event.get(rid)
    assert rec["DurationInMinutes"] == 45 and rec["ActivityDate"] == "2026-05-01"
    assert rec["ActivityDateTime"] == "2026-05-01T10:00:00.000+0000"
