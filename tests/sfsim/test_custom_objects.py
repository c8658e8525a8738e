"""Custom objects created through the control API (``/_sfsim/objects``), used as any other object over real HTTPS:
describe, SOQL with relationships, REST, Collections, Composite and Bulk 2.0 writes, permissions, master-detail
cascades, and deleting the object."""

import csv
import datetime as dt
import io
import uuid

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from sfsim.launch import ControlError

# DescribeGlobalSObjectResult, ChildRelationship and Field as Salesforce documents them (REST API Developer Guide,
# "Describe Global" and "sObject Describe"; SOAP API "DescribeSObjectResult"): every key a client may read.
GLOBAL_KEYS = {
    "activateable",
    "createable",
    "custom",
    "customSetting",
    "deletable",
    "deprecatedAndHidden",
    "feedEnabled",
    "keyPrefix",
    "label",
    "labelPlural",
    "layoutable",
    "mergeable",
    "mruEnabled",
    "name",
    "queryable",
    "replicateable",
    "retrieveable",
    "searchable",
    "triggerable",
    "undeletable",
    "updateable",
    "urls",
}
DESCRIBE_KEYS = GLOBAL_KEYS | {"childRelationships", "fields", "recordTypeInfos", "compactLayoutable"}
CHILD_KEYS = {
    "cascadeDelete",
    "childSObject",
    "deprecatedAndHidden",
    "field",
    "junctionIdListNames",
    "junctionReferenceTo",
    "relationshipName",
    "restrictedDelete",
}
FIELD_KEYS = {
    "aggregatable",
    "autoNumber",
    "byteLength",
    "calculated",
    "calculatedFormula",
    "cascadeDelete",
    "caseSensitive",
    "createable",
    "custom",
    "defaultValue",
    "defaultedOnCreate",
    "dependentPicklist",
    "digits",
    "externalId",
    "filterable",
    "groupable",
    "idLookup",
    "label",
    "length",
    "name",
    "nameField",
    "nillable",
    "permissionable",
    "picklistValues",
    "precision",
    "referenceTo",
    "relationshipName",
    "relationshipOrder",
    "restrictedPicklist",
    "scale",
    "soapType",
    "sortable",
    "type",
    "unique",
    "updateable",
    "writeRequiresMasterRead",
}
SYSTEM_FIELDS = {
    "Id",
    "Name",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
    "IsDeleted",
}
# One field of every type the control API takes (describe type, and Setup's names for some).
EVERY_TYPE = [
    {"name": "Code__c", "type": "string", "length": 20, "externalId": True, "unique": True},
    {"name": "Summary__c", "type": "TextArea"},
    {"name": "Details__c", "type": "LongTextArea"},
    {"name": "Quantity__c", "type": "Number", "precision": 10, "scale": 2},
    {"name": "Seats__c", "type": "int"},
    {"name": "Price__c", "type": "currency"},
    {"name": "Discount__c", "type": "percent"},
    {"name": "Active__c", "type": "Checkbox"},
    {"name": "Due__c", "type": "date"},
    {"name": "Reviewed_At__c", "type": "datetime"},
    {"name": "Stage__c", "type": "picklist", "picklistValues": ["New", "Open", "Closed"], "restrictedPicklist": True},
    {"name": "Regions__c", "type": "multipicklist", "picklistValues": ["EMEA", "AMER", "APAC"]},
    {"name": "Contact_Email__c", "type": "email"},
    {"name": "Hotline__c", "type": "phone"},
    {"name": "Site__c", "type": "url"},
    {"name": "Account__c", "type": "Lookup", "referenceTo": ["Account"]},
    {"name": "Must__c", "type": "string", "nillable": False},
    {"name": "Account_Name__c", "type": "string", "calculatedFormula": "Account__r.Name"},
    {"name": "Total__c", "type": "currency", "calculatedFormula": "Price__c * Quantity__c"},
]
EVERY_TYPE_DESCRIBED = {
    "Code__c": "string",
    "Summary__c": "textarea",
    "Details__c": "textarea",
    "Quantity__c": "double",
    "Seats__c": "int",
    "Price__c": "currency",
    "Discount__c": "percent",
    "Active__c": "boolean",
    "Due__c": "date",
    "Reviewed_At__c": "datetime",
    "Stage__c": "picklist",
    "Regions__c": "multipicklist",
    "Contact_Email__c": "email",
    "Hotline__c": "phone",
    "Site__c": "url",
    "Account__c": "reference",
    "Must__c": "string",
    "Account_Name__c": "string",
    "Total__c": "currency",
}


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}__c"


@pytest.fixture
def objects(sfsim):
    """Creates custom objects through the control API; deletes them (children first) after the test."""
    made: list[str] = []

    def create(**body):
        out = sfsim.control("POST", "objects", body)["object"]
        made.append(out["name"])
        return out

    yield create
    for name in reversed(made):
        sfsim.control("DELETE", f"objects/{name}", expect_ok=False)


def _gadget(objects, **extra) -> dict:
    return objects(
        name=_name("Gadget"), label="Gadget", pluralLabel="Gadgets", fields=EVERY_TYPE, keyPrefix=None, **extra
    )


def _pair(objects) -> tuple[str, str]:
    """A custom master (Auto Number names, lookup to Account) and its master-detail child."""
    master = objects(
        name=_name("Program"),
        label="Program",
        pluralLabel="Programs",
        nameField={"label": "Program Number", "type": "AutoNumber", "displayFormat": "PRG-{0000}"},
        fields=[
            {"name": "Account__c", "type": "lookup", "referenceTo": "Account", "childRelationshipName": "Programs"},
            {"name": "Budget__c", "type": "currency"},
        ],
    )["name"]
    child = objects(
        name=_name("Phase"),
        label="Phase",
        pluralLabel="Phases",
        fields=[
            {"name": "Program__c", "type": "MasterDetail", "referenceTo": [master], "childRelationshipName": "Phases"},
            {"name": "Weeks__c", "type": "Number"},
            {"name": "Program_Budget__c", "type": "currency", "calculatedFormula": "Program__r.Budget__c"},
        ],
    )["name"]
    return master, child


def _error(call) -> dict:
    with pytest.raises(SalesforceMalformedRequest) as err:
        call()
    return err.value.content[0]


# -- creating and describing -----------------------------------------------------------------------------------------
def test_create_an_object_with_fields_of_every_type(sfsim, sf, objects):
    gadget = _gadget(objects)
    name = gadget["name"]
    assert gadget["keyPrefix"].startswith("a") and len(gadget["keyPrefix"]) == 3
    assert gadget["label"] == "Gadget" and gadget["deploymentStatus"] == "Deployed" and gadget["records"] == 0
    assert name in {o["name"] for o in sfsim.control("GET", "objects")["objects"]}
    fields = {f["name"]: f for f in getattr(sf, name).describe()["fields"]}
    assert {n: fields[n]["type"] for n in EVERY_TYPE_DESCRIBED} == EVERY_TYPE_DESCRIBED
    assert SYSTEM_FIELDS | {"OwnerId"} <= set(fields)
    assert fields["Code__c"]["length"] == 20 and fields["Code__c"]["externalId"] and fields["Code__c"]["unique"]
    assert fields["Details__c"]["length"] == 32768 and fields["Summary__c"]["length"] == 255
    assert (fields["Quantity__c"]["precision"], fields["Quantity__c"]["scale"]) == (10, 2)
    assert [p["value"] for p in fields["Stage__c"]["picklistValues"]] == ["New", "Open", "Closed"]
    assert (
        fields["Account__c"]["referenceTo"] == ["Account"] and fields["Account__c"]["relationshipName"] == "Account__r"
    )
    assert fields["Must__c"]["nillable"] is False and fields["Must__c"]["permissionable"] is False
    assert fields["Account_Name__c"]["calculated"] and not fields["Account_Name__c"]["createable"]
    assert fields["Active__c"]["nillable"] is False and fields["Active__c"]["defaultedOnCreate"]

    account = sf.Account.create({"Name": "Gadget Buyer"})["id"]
    values = {
        "Name": "G-1",
        "Code__c": "G1",
        "Summary__c": "short",
        "Details__c": "x" * 5000,
        "Quantity__c": 2.5,
        "Seats__c": 7,
        "Price__c": 10,
        "Discount__c": 12.5,
        "Active__c": True,
        "Due__c": "2026-03-01",
        "Reviewed_At__c": "2026-03-01T10:15:00Z",
        "Stage__c": "Open",
        "Regions__c": "EMEA;APAC",
        "Contact_Email__c": "ops@example.com",
        "Hotline__c": "+1 555 0100",
        "Site__c": "https://gadget.example.com",
        "Account__c": account,
        "Must__c": "yes",
    }
    rid = getattr(sf, name).create(values)["id"]
    assert rid.startswith(gadget["keyPrefix"])
    rec = getattr(sf, name).get(rid)
    assert rec["attributes"]["type"] == name
    assert rec["Reviewed_At__c"] == "2026-03-01T10:15:00.000+0000" and rec["Active__c"] is True
    assert rec["Account_Name__c"] == "Gadget Buyer" and rec["Total__c"] == 25
    assert rec["OwnerId"] == rec["CreatedById"] and rec["IsDeleted"] is False
    assert {k: rec[k] for k in values if k not in ("Quantity__c", "Price__c", "Reviewed_At__c")} == {
        k: v for k, v in values.items() if k not in ("Quantity__c", "Price__c", "Reviewed_At__c")
    }
    unnamed = getattr(sf, name).create({"Must__c": "yes"})["id"]
    assert getattr(sf, name).get(unnamed)["Name"] == unnamed  # Salesforce names it after its Id


def test_describe_global_and_describe_have_salesforce_shapes(sf, objects):
    master, child = _pair(objects)
    summaries = {o["name"]: o for o in sf.describe()["sobjects"]}
    for name in (master, child):
        summary = summaries[name]
        assert set(summary) >= GLOBAL_KEYS and set(summary) == set(summaries["Account"])
        assert summary["custom"] is True and summary["keyPrefix"] and summary["label"] in ("Program", "Phase")
        for key in ("queryable", "createable", "updateable", "deletable", "undeletable", "retrieveable"):
            assert summary[key] is True, key
        assert summary["urls"] == {
            "rowTemplate": f"/services/data/v59.0/sobjects/{name}/{{ID}}",
            "defaultValues": f"/services/data/v59.0/sobjects/{name}/defaultValues?recordTypeId&fields",
            "describe": f"/services/data/v59.0/sobjects/{name}/describe",
            "sobject": f"/services/data/v59.0/sobjects/{name}",
        }
    desc = getattr(sf, child).describe()
    assert set(desc) >= DESCRIBE_KEYS and desc["labelPlural"] == "Phases"
    fields = {f["name"]: f for f in desc["fields"]}
    assert all(set(f) >= FIELD_KEYS for f in desc["fields"])
    assert set(fields) >= SYSTEM_FIELDS and "OwnerId" not in fields  # a detail's owner is its master's
    md = fields["Program__c"]
    assert md["type"] == "reference" and md["referenceTo"] == [master] and md["relationshipName"] == "Program__r"
    assert md["cascadeDelete"] is True and md["relationshipOrder"] == 0 and md["writeRequiresMasterRead"] is False
    assert md["nillable"] is False and md["createable"] is True and md["updateable"] is False
    assert md["permissionable"] is False
    assert fields["Name"]["nameField"] and fields["Name"]["createable"] and fields["Name"]["defaultedOnCreate"]
    assert fields["Weeks__c"]["relationshipOrder"] is None and fields["Weeks__c"]["cascadeDelete"] is False

    master_desc = getattr(sf, master).describe()
    name_field = next(f for f in master_desc["fields"] if f["name"] == "Name")
    assert name_field["autoNumber"] is True and name_field["label"] == "Program Number"
    assert not name_field["createable"] and not name_field["updateable"] and name_field["idLookup"]
    children = {c["childSObject"]: c for c in master_desc["childRelationships"]}
    assert set(children[child]) == CHILD_KEYS
    assert children[child] == {
        "cascadeDelete": True,
        "childSObject": child,
        "deprecatedAndHidden": False,
        "field": "Program__c",
        "junctionIdListNames": [],
        "junctionReferenceTo": [],
        "relationshipName": "Phases__r",
        "restrictedDelete": False,
    }
    account_children = {(c["childSObject"], c["field"]): c for c in sf.Account.describe()["childRelationships"]}
    assert account_children[(master, "Account__c")]["relationshipName"] == "Programs__r"
    assert account_children[(master, "Account__c")]["cascadeDelete"] is False


# -- SOQL ------------------------------------------------------------------------------------------------------------
def test_soql_follows_relationships_both_ways(sf):
    """The demo's Milestone__c (master-detail to Project__c, which looks up Account)."""
    rows = sf.query(
        "SELECT Name, Project__r.Name, Project__r.Account__r.Name, Project__r.Owner.Name FROM Milestone__c "
        "WHERE Project__r.Status__c != null ORDER BY Project__r.Name, Due_Date__c LIMIT 5"
    )["records"]
    assert len(rows) == 5
    first = rows[0]
    assert first["attributes"]["type"] == "Milestone__c"
    assert first["Project__r"]["attributes"]["type"] == "Project__c" and first["Project__r"]["Name"]
    assert first["Project__r"]["Account__r"]["Name"] and first["Project__r"]["Owner"]["Name"]
    project = first["Project__r"]["Name"]
    assert sf.query(f"SELECT COUNT() FROM Milestone__c WHERE Project__r.Name = '{project}'")["totalSize"] >= 1
    # Parent to child: a semi-join (sfsim has no child subqueries in the field list).
    done = sf.query(
        "SELECT Id FROM Project__c WHERE Id IN (SELECT Project__c FROM Milestone__c WHERE Status__c = 'Done')"
    )
    assert 0 < done["totalSize"] <= sf.query("SELECT COUNT() FROM Project__c")["totalSize"]
    assert _error(lambda: sf.query("SELECT Owner.Name FROM Milestone__c"))["errorCode"] == "INVALID_FIELD"
    assert (
        _error(lambda: sf.query("SELECT Id, (SELECT Id FROM Milestones__r) FROM Project__c"))["errorCode"]
        == "MALFORMED_QUERY"
    )


def test_soql_on_new_objects_with_relationship_paths(sf, objects):
    master, child = _pair(objects)
    account = sf.Account.create({"Name": "Path Co", "Industry": "Energy"})["id"]
    program = getattr(sf, master).create({"Account__c": account, "Budget__c": 5000})["id"]
    getattr(sf, child).create({"Name": "Design", "Program__c": program, "Weeks__c": 3})
    getattr(sf, child).create({"Name": "Build", "Program__c": program, "Weeks__c": 8})
    rows = sf.query(
        f"SELECT Name, Weeks__c, Program_Budget__c, Program__r.Name, Program__r.Account__r.Industry FROM {child} "
        f"WHERE Program__r.Account__r.Name = 'Path Co' ORDER BY Weeks__c DESC"
    )["records"]
    assert [r["Name"] for r in rows] == ["Build", "Design"]
    assert rows[0]["Program__r"]["Name"] == "PRG-0001" and rows[0]["Program_Budget__c"] == 5000
    assert rows[0]["Program__r"]["Account__r"]["Industry"] == "Energy"
    assert sf.query(f"SELECT Id FROM {master} WHERE Id IN (SELECT Program__c FROM {child})")["totalSize"] == 1
    assert sf.query(f"SELECT Owner.Name FROM {master}")["records"][0]["Owner"]["Name"] == "Ada Admin"


# -- writes ----------------------------------------------------------------------------------------------------------
def test_rest_create_update_upsert_delete_and_undelete(sfsim, sf, api, objects):
    name = _gadget(objects)["name"]
    obj = getattr(sf, name)
    rid = obj.create({"Name": "One", "Must__c": "x", "Code__c": "C-1"})["id"]
    assert obj.update(rid, {"Stage__c": "Closed", "Seats__c": 3}) == 204
    assert obj.get(rid)["Stage__c"] == "Closed"
    assert obj.upsert("Code__c/C-1", {"Seats__c": 4}) == 200
    created = api.patch(api.url(f"sobjects/{name}/Code__c/C-2"), json={"Name": "Two", "Must__c": "x"})
    assert created.status_code == 201 and created.json()["created"] is True
    assert obj.get_by_custom_id("Code__c", "C-2")["Name"] == "Two" and obj.get(rid)["Seats__c"] == 4
    assert obj.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound) as err:
        obj.get(rid)
    assert err.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    sfsim.control("POST", f"records/{name}/{rid}/undelete")
    assert obj.get(rid)["IsDeleted"] is False


def test_collections_and_composite(sf, objects):
    master, child = _pair(objects)
    res = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": master}, "Budget__c": 100},
                {"attributes": {"type": master}, "Budget__c": 200},
                {"attributes": {"type": child}, "Name": "No master"},
            ],
        },
    )
    assert res[0]["success"] and res[1]["success"]
    assert res[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING" and res[2]["errors"][0]["fields"] == [
        "Program__c"
    ]
    names = sf.query(f"SELECT Name FROM {master} ORDER BY Name")["records"]
    assert [r["Name"] for r in names] == ["PRG-0001", "PRG-0002"]
    composite = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"/services/data/v59.0/sobjects/{master}",
                    "referenceId": "program",
                    "body": {"Budget__c": 300},
                },
                {
                    "method": "POST",
                    "url": f"/services/data/v59.0/sobjects/{child}",
                    "referenceId": "phase",
                    "body": {"Name": "Kickoff", "Program__c": "@{program.id}"},
                },
                {
                    "method": "GET",
                    "url": f"/services/data/v59.0/sobjects/{child}/@{{phase.id}}?fields=Name,Program_Budget__c",
                    "referenceId": "read",
                },
            ],
        },
    )
    answers = {r["referenceId"]: r for r in composite["compositeResponse"]}
    assert answers["program"]["httpStatusCode"] == 201 and answers["phase"]["httpStatusCode"] == 201
    assert answers["read"]["body"]["Program_Budget__c"] == 300
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": master}, "Id": res[0]["id"], "Budget__c": 150}]},
    )
    assert updated[0]["success"]


def test_collection_upsert_on_an_external_id(sf, objects):
    name = _gadget(objects)["name"]
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": name}, "Code__c": "U-1", "Must__c": "x"},
            {"attributes": {"type": name}, "Code__c": "U-2"},
        ],
    }
    first = sf.restful(f"composite/sobjects/{name}/Code__c", method="PATCH", json=body)
    assert first[0]["success"] and first[0]["created"] is True
    assert first[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    body["records"][1]["Must__c"] = "y"
    second = sf.restful(f"composite/sobjects/{name}/Code__c", method="PATCH", json=body)
    assert [r["created"] for r in second] == [False, True] and second[0]["id"] == first[0]["id"]


def test_bulk_ingest_and_query(sf, objects):
    name = _gadget(objects)["name"]
    bulk = getattr(sf.bulk2, name)
    records = [{"Name": f"B{i}", "Code__c": f"B-{i}", "Must__c": "x", "Seats__c": str(i)} for i in range(5)]
    records += [{"Name": "Bad seats", "Code__c": "B-x", "Must__c": "x", "Seats__c": "many"}]
    records += [{"Name": "No must", "Code__c": "B-y", "Must__c": "", "Seats__c": "1"}]
    result = bulk.insert(records=records, wait=0.1)[0]
    assert result["numberRecordsProcessed"] == 7 and result["numberRecordsFailed"] == 2
    failed = {r["Name"]: r["sf__Error"] for r in csv.DictReader(io.StringIO(bulk.get_failed_records(result["job_id"])))}
    assert failed["Bad seats"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:Seats: value not of required type: many")
    assert failed["No must"].startswith("REQUIRED_FIELD_MISSING:")
    upserted = bulk.upsert(
        records=[{"Code__c": "B-1", "Seats__c": "11"}, {"Code__c": "B-9", "Name": "B9", "Must__c": "x"}],
        external_id_field="Code__c",
        wait=0.1,
    )[0]
    assert upserted["numberRecordsProcessed"] == 2 and upserted["numberRecordsFailed"] == 0
    text = "".join(bulk.query(f"SELECT Code__c, Seats__c, Owner.Name FROM {name} ORDER BY Code__c", wait=0.1))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["Code__c"] for r in rows] == ["B-0", "B-1", "B-2", "B-3", "B-4", "B-9"]
    assert rows[1]["Seats__c"] == "11" and rows[0]["Owner.Name"] == "Ada Admin"
    ids = [{"Id": r["Id"]} for r in sf.query(f"SELECT Id FROM {name}")["records"]]
    deleted = bulk.delete(records=ids, wait=0.1)[0]
    assert deleted["numberRecordsFailed"] == 0
    assert sf.query(f"SELECT COUNT() FROM {name}")["totalSize"] == 0


def test_required_and_type_errors(sf, objects):
    master, child = _pair(objects)
    gadget = _gadget(objects)["name"]
    missing = _error(lambda: getattr(sf, gadget).create({"Name": "No must"}))
    assert missing == {
        "message": "Required fields are missing: [Must__c]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["Must__c"],
    }
    assert _error(lambda: getattr(sf, child).create({"Name": "Orphan"}))["fields"] == ["Program__c"]
    assert (
        _error(lambda: getattr(sf, gadget).create({"Must__c": "x", "Seats__c": "many"}))["errorCode"]
        == "JSON_PARSER_ERROR"
    )
    assert (
        _error(lambda: getattr(sf, gadget).create({"Must__c": "x", "Stage__c": "Lost"}))["errorCode"]
        == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    )
    assert (
        _error(lambda: getattr(sf, gadget).create({"Must__c": "x", "Code__c": "x" * 21}))["errorCode"]
        == "STRING_TOO_LONG"
    )
    contact = sf.Contact.create({"LastName": "Not an account"})["id"]
    assert _error(lambda: getattr(sf, gadget).create({"Must__c": "x", "Account__c": contact}))["errorCode"] == (
        "MALFORMED_ID"
    )
    formula = _error(lambda: getattr(sf, gadget).create({"Must__c": "x", "Account_Name__c": "x"}))
    assert formula["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    auto = _error(lambda: getattr(sf, master).create({"Name": "PRG-9999"}))
    assert auto["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE" and auto["fields"] == ["Name"]
    one = getattr(sf, master).create({})["id"]
    two = getattr(sf, master).create({})["id"]
    phase = getattr(sf, child).create({"Program__c": one})["id"]
    reparent = _error(lambda: getattr(sf, child).update(phase, {"Program__c": two}))
    assert reparent["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE" and reparent["fields"] == ["Program__c"]


# -- permissions -----------------------------------------------------------------------------------------------------
@pytest.fixture
def integration_license(sfsim):
    sfsim.control("POST", "scenario", {"name": "integration-license"})
    yield
    sfsim.control("POST", "scenario", {"name": "ready"})


def test_object_and_field_permissions_gate_a_custom_object(sfsim, objects, integration_license):
    master, _child = _pair(objects)
    sf = sfsim.salesforce()
    # The Rox Integration permission set does not grant the new object: it does not exist for this user.
    assert master not in {o["name"] for o in sf.describe()["sobjects"]}
    no_type = _error(lambda: sf.query(f"SELECT Id FROM {master}"))
    assert no_type["errorCode"] == "INVALID_TYPE" and f"sObject type '{master}' is not supported" in no_type["message"]
    sfsim.control("PUT", "object-permissions", {"parent": "Rox_Integration", "object": master, "read": True})
    sfsim.control(
        "PUT", "field-permissions", {"parent": "Rox_Integration", "field": f"{master}.Budget__c", "read": True}
    )
    sf = sfsim.salesforce()
    summary = next(o for o in sf.describe()["sobjects"] if o["name"] == master)
    assert summary["queryable"] and not summary["createable"] and not summary["deletable"]
    assert sf.query(f"SELECT Id, Name, Budget__c FROM {master}")["totalSize"] == 0
    fields = {f["name"]: f for f in getattr(sf, master).describe()["fields"]}
    assert "Account__c" not in fields and not fields["Budget__c"]["updateable"]
    assert _error(lambda: sf.query(f"SELECT Account__c FROM {master}"))["errorCode"] == "INVALID_FIELD"
    with pytest.raises(Exception) as refused:
        getattr(sf, master).create({"Budget__c": 1})
    assert refused.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    # Removing Read again: gone from describe, queries fail as for any object without access.
    sfsim.control("PUT", "object-permissions", {"parent": "Rox_Integration", "object": master})
    sf = sfsim.salesforce()
    assert master not in {o["name"] for o in sf.describe()["sobjects"]}
    assert _error(lambda: sf.query(f"SELECT Id FROM {master}"))["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceResourceNotFound) as err:
        getattr(sf, master).describe()
    assert err.value.content[0]["errorCode"] == "NOT_FOUND"


def test_standard_profiles_keep_access_across_scenarios(sfsim, objects):
    name = _gadget(objects)["name"]
    grants = sfsim.control(
        "POST", "query", {"q": f"SELECT COUNT() FROM ObjectPermissions WHERE SobjectType = '{name}'"}
    )
    assert grants["totalSize"] == 2  # System Administrator and Standard User
    sfsim.control("POST", "scenario", {"name": "fresh"})
    sfsim.control("POST", "scenario", {"name": "ready"})
    sf = sfsim.salesforce()
    summary = next(o for o in sf.describe()["sobjects"] if o["name"] == name)
    assert summary["createable"] and summary["deletable"]
    assert getattr(sf, name).create({"Must__c": "x", "Summary__c": "after a scenario switch"})["success"]


def test_without_grant_profiles_nothing_is_granted(sfsim, objects):
    name = objects(name=_name("Private"), fields=[{"name": "Secret__c"}], grant_profiles=False)["name"]
    sf = sfsim.salesforce()
    summary = next(o for o in sf.describe()["sobjects"] if o["name"] == name)  # View All Data still reads it
    assert not summary["createable"]
    assert "Secret__c" not in {f["name"] for f in getattr(sf, name).describe()["fields"]}


# -- master-detail cascades ------------------------------------------------------------------------------------------
def test_master_detail_children_follow_their_master_to_the_recycle_bin_and_back(sfsim, sf, objects):
    master, child = _pair(objects)
    program = getattr(sf, master).create({})["id"]
    phases = [getattr(sf, child).create({"Name": f"P{i}", "Program__c": program})["id"] for i in range(3)]
    other = getattr(sf, master).create({})["id"]
    kept = getattr(sf, child).create({"Program__c": other})["id"]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    assert getattr(sf, master).delete(program) == 204
    assert sf.query(f"SELECT COUNT() FROM {child}")["totalSize"] == 1
    gone = sf.query_all(f"SELECT Id FROM {child} WHERE IsDeleted = true", include_deleted=True)["records"]
    assert sorted(r["Id"] for r in gone) == sorted(phases)
    sfsim.control("POST", "clock", {"advance_seconds": 120})  # getDeleted covers whole minutes up to now
    try:
        deleted = getattr(sf, child).deleted(start, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4))
    finally:
        sfsim.control("POST", "clock", {"reset": True})
    assert sorted(d["id"] for d in deleted["deletedRecords"]) == sorted(phases)
    sfsim.control("POST", f"records/{master}/{program}/undelete")
    assert sf.query(f"SELECT COUNT() FROM {child}")["totalSize"] == 4
    sfsim.control("POST", f"records/{master}/{other}/hard-delete")
    assert (
        sfsim.control("POST", "query", {"q": f"SELECT Id FROM {child} WHERE Id = '{kept}'", "all": True})["totalSize"]
        == 0
    )


def test_demo_projects_cascade_to_their_milestones(sfsim, sf):
    project = sf.query("SELECT Project__c FROM Milestone__c LIMIT 1")["records"][0]["Project__c"]
    count = sf.query(f"SELECT COUNT() FROM Milestone__c WHERE Project__c = '{project}'")["totalSize"]
    assert count >= 1
    sf.Project__c.delete(project)
    assert sf.query(f"SELECT COUNT() FROM Milestone__c WHERE Project__c = '{project}'")["totalSize"] == 0
    sfsim.control("POST", f"records/Project__c/{project}/undelete")
    assert sf.query(f"SELECT COUNT() FROM Milestone__c WHERE Project__c = '{project}'")["totalSize"] == count


# -- deleting objects, refusing bad definitions ----------------------------------------------------------------------
def test_delete_an_object(sfsim, sf, objects):
    master, child = _pair(objects)
    program = getattr(sf, master).create({})["id"]
    getattr(sf, child).create({"Program__c": program})
    refused = sfsim.control("DELETE", f"objects/{master}", expect_ok=False)
    assert "referenced by" in refused["error"] and f"{child}.Program__c" in refused["error"]
    assert sfsim.control("DELETE", f"objects/{child}") == {"deleted": child}
    assert sfsim.control("DELETE", f"objects/{master}") == {"deleted": master}
    listed = {o["name"] for o in sfsim.control("GET", "objects")["objects"]}
    assert master not in listed and child not in listed and "Milestone__c" in listed
    sf = sfsim.salesforce()
    assert master not in {o["name"] for o in sf.describe()["sobjects"]}
    assert _error(lambda: sf.query(f"SELECT Id FROM {master}"))["errorCode"] == "INVALID_TYPE"
    assert master not in {c["childSObject"] for c in sf.Account.describe()["childRelationships"]}
    leftovers = sfsim.control(
        "POST", "query", {"q": f"SELECT COUNT() FROM FieldPermissions WHERE SobjectType IN ('{master}', '{child}')"}
    )
    assert leftovers["totalSize"] == 0
    assert "no custom object" in sfsim.control("DELETE", "objects/Project__c", expect_ok=False)["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "Gizmo"}, "must end with __c"),
        ({"name": "1Gizmo__c"}, "must start with a letter"),
        ({"name": "Giz-mo__c"}, "letters, digits and underscores"),
        ({"name": "Giz__mo__c"}, "two underscores"),
        ({"name": "Gizmo___c"}, "two underscores"),
        ({"name": "G" * 41 + "__c"}, "longer than 40"),
        ({"name": "Project__c"}, "already exists"),
        ({"name": "Gizmo__c", "keyPrefix": "001"}, "already used by Account"),
        ({"name": "Gizmo__c", "keyPrefix": "a-1"}, "3 letters or digits"),
        ({"name": "Gizmo__c", "label": "x" * 41}, "label"),
        ({"name": "Gizmo__c", "deploymentStatus": "Live"}, "deploymentStatus"),
        ({"name": "Gizmo__c", "nameField": {"type": "AutoNumber"}}, "displayFormat"),
        ({"name": "Gizmo__c", "fields": [{"name": "Bad Name__c"}]}, "letters, digits and underscores"),
        ({"name": "Gizmo__c", "fields": [{"name": "Odd__c", "type": "blob"}]}, "unknown field type"),
        ({"name": "Gizmo__c", "fields": [{"name": "P__c", "type": "picklist"}]}, "picklistValues"),
        ({"name": "Gizmo__c", "fields": [{"name": "R__c", "type": "lookup", "referenceTo": "Nope__c"}]}, "no object"),
        ({"name": "Gizmo__c", "fields": [{"name": "M__c", "type": "MasterDetail", "referenceTo": "User"}]}, "master"),
        ({"name": "Gizmo__c", "fields": [{"name": "F__c", "calculatedFormula": "Name &"}]}, "formula"),
        ({"name": "Gizmo__c", "fields": [{"name": "A__c"}, {"name": "a__c"}]}, "given twice"),
    ],
)
def test_bad_definitions_are_refused_with_a_clear_400(sfsim, body, message):
    resp = sfsim.session().post(f"{sfsim.instance_url}/_sfsim/objects", json=body)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["error"]
    assert body["name"] not in {o["name"] for o in sfsim.control("GET", "objects")["objects"]}


def test_master_detail_needs_an_empty_custom_object(sfsim):
    with pytest.raises(ControlError, match="only a custom object"):
        sfsim.control(
            "POST",
            "fields",
            {"object": "Contact", "name": "Prj__c", "type": "MasterDetail", "referenceTo": "Project__c"},
        )
    with pytest.raises(ControlError, match="object that has records"):
        sfsim.control(
            "POST",
            "fields",
            {"object": "Milestone__c", "name": "Second__c", "type": "MasterDetail", "referenceTo": "Account"},
        )


def test_reset_drops_created_objects_and_the_demo_seed_brings_milestones_back(sfsim, objects):
    name = _gadget(objects)["name"]
    sfsim.reset(seed="demo")
    listed = {o["name"]: o for o in sfsim.control("GET", "objects")["objects"]}
    assert name not in listed
    milestones = listed["Milestone__c"]
    assert milestones["detail"] is True and 100 <= milestones["records"] <= 400
    assert sfsim.control("GET", "counts")["Milestone__c"] == milestones["records"]
