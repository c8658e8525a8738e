"""Object and field permissions of the connected user, as describe, SOQL and writes show them."""

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest


@pytest.fixture
def restore(sfsim):
    yield
    sfsim.control("POST", "scenario", {"name": "ready"})


def test_field_without_edit_is_read_only(sfsim, restore):
    sfsim.control("POST", "scenario", {"name": "integration-license"})
    sfsim.control(
        "PUT",
        "field-permissions",
        {"parent": "Rox_Integration", "field": "Account.Website", "read": True, "edit": False},
    )
    sf = sfsim.salesforce()
    website = next(f for f in sf.Account.describe()["fields"] if f["name"] == "Website")
    assert website["createable"] is False and website["updateable"] is False
    assert sf.query("SELECT Website FROM Account LIMIT 1")["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.create({"Name": "No website", "Website": "https://x.example.com"})
    body = err.value.content[0]
    assert body["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE" and body["fields"] == ["Website"]
    assert "security settings" in body["message"]


def test_unreadable_field_is_hidden_everywhere(sfsim, restore):
    sfsim.control("POST", "scenario", {"name": "integration-license"})
    sfsim.control("PUT", "field-permissions", {"parent": "Rox_Integration", "field": "Account.Industry"})
    sf = sfsim.salesforce()
    assert "Industry" not in {f["name"] for f in sf.Account.describe()["fields"]}
    for soql in (
        "SELECT Industry FROM Account",
        "SELECT Id FROM Account WHERE Industry = 'Banking'",
        "SELECT Account.Industry FROM Contact",
    ):
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.query(soql)
        assert err.value.content[0]["errorCode"] == "INVALID_FIELD", soql
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.create({"Name": "x", "Industry": "Banking"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_object_without_read_is_not_supported(sfsim, restore):
    sfsim.control("POST", "scenario", {"name": "integration-license"})
    sfsim.control("PUT", "object-permissions", {"parent": "Rox_Integration", "object": "Lead"})
    sf = sfsim.salesforce()
    assert "Lead" not in {o["name"] for o in sf.describe()["sobjects"]}
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Lead")
    assert err.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_no_create_and_no_delete(sfsim, sf, restore):
    sfsim.control("POST", "scenario", {"name": "integration-license"})
    sfsim.control("PUT", "object-permissions", {"parent": "Rox_Integration", "object": "Product2", "read": True})
    limited = sfsim.salesforce()
    with pytest.raises(SalesforceRefusedRequest) as err:
        limited.Product2.create({"Name": "Nope"})
    assert err.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    account = limited.Account.create({"Name": "Cannot delete"})["id"]
    with pytest.raises(SalesforceRefusedRequest):
        limited.Account.delete(account)
    summary = next(o for o in limited.describe()["sobjects"] if o["name"] == "Account")
    assert summary["createable"] and not summary["deletable"]


def test_tasks_need_edit_tasks(sfsim, restore):
    sfsim.control("POST", "scenario", {"name": "integration-license"})
    sfsim.control("DELETE", "permission-set-assignments", {"permission_set": "Rox_Integration"})
    sf = sfsim.salesforce()
    with pytest.raises(SalesforceRefusedRequest):
        sf.Task.create({"Subject": "x"})
    sfsim.control("POST", "permission-set-assignments", {"permission_set": "Rox_Integration"})
    assert sfsim.salesforce().Task.create({"Subject": "x"})["success"]


PERMISSIONABLE = {
    "Account": {
        "Id": False,
        "Name": False,
        "OwnerId": False,
        "CreatedDate": False,
        "CreatedById": False,
        "LastModifiedDate": False,
        "LastModifiedById": False,
        "SystemModstamp": False,
        "IsDeleted": False,
        "Industry": True,
        "Website": True,
        "BillingCity": True,
        "BillingAddress": True,
    },
    "Contact": {"Name": False, "FirstName": False, "LastName": False, "Email": True, "AccountId": True},
    "Lead": {"Status": False, "Company": False, "LastName": False, "IsConverted": False, "Email": True},
    "Opportunity": {"StageName": False, "CloseDate": False, "Name": False, "Amount": True, "IsPrivate": True},
    "Task": {"Status": False, "Priority": False, "OwnerId": False, "Subject": True, "RoxActivityId__c": True},
    "Event": {"OwnerId": False, "Subject": True, "StartDateTime": True},
}


def test_describe_says_which_fields_field_level_security_governs(sf):
    for sobject, expected in PERMISSIONABLE.items():
        fields = {f["name"]: f["permissionable"] for f in getattr(sf, sobject).describe()["fields"]}
        assert {name: fields[name] for name in expected} == expected, sobject


def test_required_fields_are_readable_without_field_permissions(sfsim, restore):
    sfsim.control("POST", "scenario", {"name": "integration-license"})
    sf = sfsim.salesforce()
    # The Rox Integration permission set has no rows for them, and Salesforce keeps none.
    assert (
        sf.query(
            "SELECT COUNT() FROM FieldPermissions WHERE Field IN ('Lead.Status', 'Task.Status', "
            "'Task.Priority', 'Lead.Company')"
        )["totalSize"]
        == 0
    )
    lead = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}
    for fields, name in ((lead, "Status"), (lead, "Company"), (lead, "LastName"), (task, "Status"), (task, "Priority")):
        assert fields[name]["permissionable"] is False, name
        assert fields[name]["createable"] and fields[name]["updateable"], name
    assert "OwnerId" in lead and "CreatedDate" in task
    assert sf.query("SELECT Id, Status, Company, LastName FROM Lead LIMIT 1")["records"][0]["Status"]
    assert sf.query("SELECT Id, Status, Priority, OwnerId FROM Task LIMIT 1")["records"][0]["Status"]
    open_leads = sfsim.control("POST", "query", {"q": "SELECT COUNT() FROM Lead WHERE Status = 'Open - Not Contacted'"})
    assert (
        sf.query("SELECT COUNT() FROM Lead WHERE Status = 'Open - Not Contacted'")["totalSize"]
        == open_leads["totalSize"]
    )
    assert sf.Lead.create({"LastName": "Field", "Company": "Security", "Status": "Working - Contacted"})["success"]
    assert sf.Task.create({"Subject": "Call", "Status": "Completed", "Priority": "High"})["success"]


def test_permissionable_field_without_field_permissions_is_hidden(sfsim, restore):
    sfsim.control("POST", "scenario", {"name": "integration-license"})
    sfsim.control("PUT", "field-permissions", {"parent": "Rox_Integration", "field": "Account.Industry"})
    sf = sfsim.salesforce()
    fields = {f["name"] for f in sf.Account.describe()["fields"]}
    assert "Industry" not in fields
    assert {"Id", "Name", "OwnerId", "CreatedDate", "SystemModstamp", "BillingAddress"} <= fields
    assert sf.query("SELECT Id, Name, OwnerId, CreatedDate FROM Account LIMIT 1")["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Name, Industry FROM Account")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
