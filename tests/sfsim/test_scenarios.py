"""Scenarios, seen the way a client sees them: through the setup objects, describe, the Tooling API and errors."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

PACKAGE = Path(__file__).resolve().parents[2] / "salesforce-package/force-app/main/default"
MD = "{http://soap.sforce.com/2006/04/metadata}"
OBJECTS = ["Account", "Contact", "Opportunity", "OpportunityLineItem", "Product2", "Lead"]


@pytest.fixture
def scenario(sfsim):
    def switch(name):
        sfsim.control("POST", "scenario", {"name": name})
        return sfsim.salesforce()

    yield switch
    sfsim.control("POST", "scenario", {"name": "ready"})


def _user(sf):
    uid = sf.restful("")["identity"].rsplit("/", 1)[1]
    return sf.query(
        f"SELECT Id, Username, Profile.Name, Profile.PermissionsApiEnabled, Profile.UserLicense.Name "
        f"FROM User WHERE Id = '{uid}'"
    )["records"][0]


def _permission_sets(sf, uid):
    rows = sf.query(
        f"SELECT PermissionSetId, PermissionSet.Name, PermissionSet.NamespacePrefix "
        f"FROM PermissionSetAssignment WHERE AssigneeId = '{uid}'"
    )["records"]
    return rows


def _object_access(sf, uid):
    """Effective object access: the profile's permission set plus the assigned ones."""
    user = sf.query(f"SELECT ProfileId FROM User WHERE Id = '{uid}'")["records"][0]
    ps = [
        r["Id"]
        for r in sf.query(
            f"SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true AND ProfileId = '{user['ProfileId']}'"
        )["records"]
    ]
    ps += [r["PermissionSetId"] for r in _permission_sets(sf, uid)]
    ids = ",".join(f"'{p}'" for p in ps)
    access: dict = {}
    for r in sf.query_all(
        f"SELECT SobjectType, PermissionsRead, PermissionsEdit FROM ObjectPermissions WHERE ParentId IN ({ids})"
    )["records"]:
        read, edit = access.get(r["SobjectType"], (False, False))
        access[r["SobjectType"]] = (read or r["PermissionsRead"], edit or r["PermissionsEdit"])
    return access


def _task_field(sf, name="RoxActivityId__c"):
    return next((f for f in sf.Task.describe()["fields"] if f["name"] == name), None)


def test_ready_has_everything_the_guide_asks_for(sfsim, sf):
    org = sf.query("SELECT Id, OrganizationType, IsSandbox FROM Organization")["records"][0]
    assert org["OrganizationType"] == "Enterprise Edition" and org["Id"].startswith("00D")
    user = _user(sf)
    assert user["Username"] == sfsim.username
    assert user["Profile"]["Name"] == "System Administrator"
    assert user["Profile"]["PermissionsApiEnabled"] is True
    assert user["Profile"]["UserLicense"]["Name"] == "Salesforce"
    sets = _permission_sets(sf, user["Id"])
    assert [(r["PermissionSet"]["Name"], r["PermissionSet"]["NamespacePrefix"]) for r in sets] == [
        ("Rox_Integration", "rox")
    ]
    label = sf.query("SELECT Label FROM PermissionSet WHERE Name = 'Rox_Integration'")["records"][0]["Label"]
    assert label == "Rox Integration"
    access = _object_access(sf, user["Id"])
    for obj in OBJECTS:
        assert access[obj] == (True, True), obj
    field = _task_field(sf)
    assert field["type"] == "string" and field["length"] == 100 and field["externalId"]
    fls = sf.query(
        "SELECT Field, PermissionsEdit FROM FieldPermissions WHERE Parent.Name = 'Rox_Integration' "
        "AND Field IN ('Task.RoxActivityId__c', 'Event.RoxActivityId__c')"
    )["records"]
    assert sorted(r["Field"] for r in fls) == ["Event.RoxActivityId__c", "Task.RoxActivityId__c"]
    tooling = sf.toolingexecute("query/?q=SELECT+SubscriberPackage.NamespacePrefix+FROM+InstalledSubscriberPackage")
    assert tooling["records"][0]["SubscriberPackage"]["NamespacePrefix"] == "rox"


def test_ready_is_built_from_the_package_source(sf):
    root = ET.parse(PACKAGE / "permissionsets/Rox_Integration.permissionset-meta.xml").getroot()
    assert root.find(MD + "label").text == "Rox Integration"
    expected, exempt = set(), set()
    describes = {}
    for fp in root.findall(MD + "fieldPermissions"):
        obj, field = fp.find(MD + "field").text.split(".")
        for target in ["Task", "Event"] if obj == "Activity" else [obj]:
            if target not in describes:
                describes[target] = {f["name"]: f for f in getattr(sf, target).describe()["fields"]}
            # Like Salesforce, no FieldPermissions rows for fields outside field-level security (required, names).
            (expected if describes[target][field]["permissionable"] else exempt).add(f"{target}.{field}")
    rows = sf.query_all("SELECT Field FROM FieldPermissions WHERE Parent.Name = 'Rox_Integration'")["records"]
    assert {r["Field"] for r in rows} == expected
    assert exempt <= {"Contact.FirstName", "Lead.FirstName", "Opportunity.CloseDate", "OpportunityLineItem.Quantity"}
    field = ET.parse(PACKAGE / "objects/Activity/fields/RoxActivityId__c.field-meta.xml").getroot()
    assert field.find(MD + "length").text == "100"
    assert _task_field(sf)["length"] == int(field.find(MD + "length").text)


def test_fresh_has_no_package_and_no_activity_id(scenario):
    sf = scenario("fresh")
    assert sf.query("SELECT COUNT() FROM PermissionSet WHERE Name = 'Rox_Integration'")["totalSize"] == 0
    assert _task_field(sf) is None
    assert all(f["name"] != "RoxActivityId__c" for f in sf.Event.describe()["fields"])
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT RoxActivityId__c FROM Task")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    tooling = sf.toolingexecute("query/?q=SELECT+Id+FROM+InstalledSubscriberPackage")
    assert tooling["totalSize"] == 0
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0


def test_integration_license_gets_access_from_the_permission_set(scenario):
    sf = scenario("integration-license")
    user = _user(sf)
    assert user["Profile"]["UserLicense"]["Name"] == "Salesforce Integration"
    assert user["Profile"]["Name"] == "Salesforce API Only System Integrations"
    access = _object_access(sf, user["Id"])
    for obj in OBJECTS:
        assert access[obj] == (True, True), obj
    profile = sf.query(f"SELECT ProfileId FROM User WHERE Id = '{user['Id']}'")["records"][0]["ProfileId"]
    assert sf.query(f"SELECT COUNT() FROM ObjectPermissions WHERE Parent.ProfileId = '{profile}'")["totalSize"] == 0
    fields = {f["name"] for f in sf.Account.describe()["fields"]}
    assert "Website" in fields and "Fax" not in fields
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Fax FROM Account")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert sf.query("SELECT Website FROM Account LIMIT 1")["totalSize"] == 1


# The fields the product's prerequisite checks read (mappings.defaults.BASIC_FIELDS).
BASIC_FIELDS = {
    "Account": (
        "Name",
        "Website",
        "Industry",
        "AnnualRevenue",
        "NumberOfEmployees",
        "BillingStreet",
        "BillingCity",
        "BillingState",
        "BillingPostalCode",
        "BillingCountry",
        "Phone",
        "OwnerId",
    ),
    "Contact": ("FirstName", "LastName", "Email", "Phone", "Title", "AccountId"),
    "Opportunity": ("Name", "AccountId", "Amount", "StageName", "CloseDate", "NextStep", "OwnerId"),
    "Lead": ("FirstName", "LastName", "Email", "Company", "Status", "Title", "Phone"),
    "Product2": ("Name", "ProductCode", "Family", "IsActive"),
    "OpportunityLineItem": ("OpportunityId", "Product2Id", "Quantity", "UnitPrice", "TotalPrice"),
    "Task": ("RoxActivityId__c", "Subject", "ActivityDate", "WhoId", "WhatId", "Status", "OwnerId"),
    "Event": ("RoxActivityId__c", "Subject", "StartDateTime", "EndDateTime", "WhoId", "WhatId", "OwnerId"),
}


def test_integration_license_passes_every_prerequisite_but_the_profile(scenario):
    admin = scenario("ready")
    natural = {o: {f["name"]: f for f in getattr(admin, o).describe()["fields"]} for o in BASIC_FIELDS}
    sf = scenario("integration-license")
    user = _user(sf)
    assert user["Profile"]["PermissionsApiEnabled"] is True
    assert user["Profile"]["UserLicense"]["Name"] == "Salesforce Integration"
    rox = sf.query(
        f"SELECT PermissionSet.Name, PermissionSet.PermissionsEditTask, PermissionSet.PermissionsEditEvent "
        f"FROM PermissionSetAssignment WHERE AssigneeId = '{user['Id']}'"
    )["records"]
    assert [
        (
            r["PermissionSet"]["Name"],
            r["PermissionSet"]["PermissionsEditTask"],
            r["PermissionSet"]["PermissionsEditEvent"],
        )
        for r in rox
    ] == [("Rox_Integration", True, True)]
    grants = {
        r["SobjectType"]: r
        for r in sf.query_all(
            "SELECT SobjectType, PermissionsRead, PermissionsCreate, PermissionsEdit FROM ObjectPermissions "
            "WHERE Parent.Name = 'Rox_Integration'"
        )["records"]
    }
    for obj in OBJECTS:
        assert (grants[obj]["PermissionsRead"], grants[obj]["PermissionsCreate"], grants[obj]["PermissionsEdit"]) == (
            True,
            True,
            True,
        ), obj
    for obj, names in BASIC_FIELDS.items():
        describe = getattr(sf, obj).describe()
        assert describe["createable"] and describe["updateable"], obj
        fields = {f["name"]: f for f in describe["fields"]}
        assert [n for n in names if n not in fields] == [], obj
        # Edit wherever the field itself is editable (what the checks read: describe's updateable).
        assert [n for n in names if natural[obj][n]["updateable"] and not fields[n]["updateable"]] == [], obj
        assert sf.query(f"SELECT {', '.join(names)} FROM {obj} LIMIT 1")["done"], obj


def test_professional_without_api(sfsim, scenario):
    sf = scenario("professional-no-api")
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Account")
    assert err.value.content[0]["errorCode"] == "API_DISABLED_FOR_ORG"
    token = sfsim.token()
    info = sfsim.session().get(
        f"{sfsim.login_url}/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert info.status_code == 200
    org = sfsim.control("POST", "query", {"q": "SELECT OrganizationType FROM Organization"})["records"][0]
    assert org["OrganizationType"] == "Professional Edition"


def test_standard_user(scenario):
    sf = scenario("standard-user")
    assert _user(sf)["Profile"]["Name"] == "Standard User"


def test_api_disabled(sfsim, scenario):
    sf = scenario("api-disabled")
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Account")
    assert err.value.content[0]["errorCode"] == "API_CURRENTLY_DISABLED"
    token = sfsim.token()
    assert (
        sfsim.session()
        .get(f"{sfsim.login_url}/services/oauth2/userinfo", params={"oauth_token": token["access_token"]})
        .status_code
        == 200
    )
    row = sfsim.control(
        "POST",
        "query",
        {"q": f"SELECT Profile.Name, Profile.PermissionsApiEnabled FROM User WHERE Username = '{sfsim.username}'"},
    )["records"][0]
    assert row["Profile"] == {
        "attributes": row["Profile"]["attributes"],
        "Name": "System Administrator",
        "PermissionsApiEnabled": False,
    }


def test_missing_edit_opportunity(scenario):
    sf = scenario("missing-edit-opportunity")
    user = _user(sf)
    access = _object_access(sf, user["Id"])
    assert access["Opportunity"] == (True, False) and access["Account"] == (True, True)
    opp = sf.query("SELECT Id FROM Opportunity LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.Opportunity.update(opp, {"NextStep": "x"})
    assert err.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    res = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Opportunity"}, "Id": opp, "NextStep": "x"}]},
    )
    assert res[0]["errors"][0]["statusCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert sf.Account.create({"Name": "still fine"})["success"]


def test_short_activity_id(scenario):
    sf = scenario("short-activity-id")
    assert _task_field(sf)["length"] == 50
    assert next(f for f in sf.Event.describe()["fields"] if f["name"] == "RoxActivityId__c")["length"] == 50


def test_switching_scenario_keeps_records(sfsim, scenario):
    before = sfsim.control("GET", "counts")
    scenario("fresh")
    scenario("ready")
    assert sfsim.control("GET", "counts") == before


def test_scenario_help_lists_every_scenario():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "sfsim", "scenario", "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    ).stdout
    for name in (
        "ready",
        "fresh",
        "integration-license",
        "professional-no-api",
        "standard-user",
        "api-disabled",
        "missing-edit-opportunity",
        "short-activity-id",
    ):
        assert name in out
