"""The Metadata API's deploy over REST (``metadata/deployRequest``) and PermissionSetAssignment through REST, driven
over real HTTPS: the package in salesforce-package/ is converted to Metadata API format here, zipped, deployed into
a ``fresh`` org and polled to its end, the way the product's "Set up Salesforce for me" does it."""

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

SOURCE = Path(__file__).resolve().parents[2] / "salesforce-package/force-app/main/default"
MD_NS = "http://soap.sforce.com/2006/04/metadata"
FIELD = "Activity.RoxActivityId__c"
PERMISSION_SET = "Rox_Integration"
OPTIONS = {
    "checkOnly": False,
    "rollbackOnError": True,
    "singlePackage": True,
    "testLevel": "NoTestRun",
    "ignoreWarnings": False,
    "allowMissingFiles": False,
}


# -- building a deployment from the SFDX source ----------------------------------------------------------------------
def _inner(xml: str, tag: str) -> str:
    """What a metadata file's root element holds (between <tag xmlns=...> and </tag>)."""
    return re.search(rf"<{tag}[^>]*>(.*)</{tag}>", xml, re.S).group(1)


def _wrap(tag: str, body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag} xmlns="{MD_NS}">{body}</{tag}>\n'


def source_fields() -> dict[str, list[str]]:
    """objects/<Object>/fields/*.field-meta.xml → the <fields> elements of each object's .object file."""
    out: dict[str, list[str]] = {}
    for path in sorted(SOURCE.glob("objects/*/fields/*.field-meta.xml")):
        out.setdefault(path.parent.parent.name, []).append(_inner(path.read_text(), "CustomField"))
    return out


def source_permission_sets() -> dict[str, str]:
    return {path.name.split(".")[0]: path.read_text() for path in sorted(SOURCE.glob("permissionsets/*.xml"))}


def field_xml(name: str, typ: str, **extra: str) -> str:
    body = f"<fullName>{name}</fullName><label>{name[:-3]}</label><type>{typ}</type>"
    return body + "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())


def mdapi_zip(
    fields: dict[str, list[str]] | None = None,
    permission_sets: dict[str, str] | None = None,
    folder: str = "",
    members: dict[str, list[str]] | None = None,
) -> bytes:
    """A deployment zip in Metadata API format: package.xml (naming every field and permission set unless
    ``members`` says otherwise), objects/<Object>.object, permissionsets/<Name>.permissionset."""
    fields = source_fields() if fields is None else fields
    permission_sets = source_permission_sets() if permission_sets is None else permission_sets
    if members is None:
        members = {
            "CustomField": [
                f"{obj}.{re.search(r'<fullName>(.*?)</fullName>', f).group(1)}"
                for obj, items in fields.items()
                for f in items
            ],
            "PermissionSet": list(permission_sets),
        }
    types = "".join(
        f"<types>{''.join(f'<members>{m}</members>' for m in names)}<name>{kind}</name></types>"
        for kind, names in members.items()
        if names
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{folder}package.xml", _wrap("Package", f"{types}<version>59.0</version>"))
        for obj, items in fields.items():
            z.writestr(
                f"{folder}objects/{obj}.object", _wrap("CustomObject", "".join(f"<fields>{f}</fields>" for f in items))
            )
        for name, xml in permission_sets.items():
            z.writestr(f"{folder}permissionsets/{name}.permissionset", xml)
    return buf.getvalue()


def with_bad_grants() -> dict[str, str]:
    """The Rox Integration permission set, also granting an object and a field that do not exist."""
    xml = source_permission_sets()[PERMISSION_SET]
    extra = (
        "<objectPermissions><allowCreate>false</allowCreate><allowDelete>false</allowDelete>"
        "<allowEdit>false</allowEdit><allowRead>true</allowRead><modifyAllRecords>false</modifyAllRecords>"
        "<object>Nope__c</object><viewAllRecords>false</viewAllRecords></objectPermissions>"
        "<fieldPermissions><editable>false</editable><field>Account.Nope__c</field>"
        "<readable>true</readable></fieldPermissions>"
    )
    return {PERMISSION_SET: xml.replace("<label>", extra + "<label>", 1)}


# -- talking to deployRequest ----------------------------------------------------------------------------------------
class Deployer:
    """POSTs deployments and polls them, as a REST client of the Metadata API does."""

    def __init__(self, api):
        self.api = api
        self.url = api.url("metadata/deployRequest")

    def post(self, data: bytes | None, options: dict | None = None, json_filename: str | None = None):
        parts = {
            "json": (json_filename, json.dumps({"deployOptions": {**OPTIONS, **(options or {})}}), "application/json")
        }
        if data is not None:
            parts["file"] = ("deploy.zip", data, "application/zip")
        return self.api.post(self.url, files=parts)

    def start(self, data: bytes, **options) -> dict:
        resp = self.post(data, options)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def poll(self, deploy_id: str, details: bool = True):
        return self.api.get(f"{self.url}/{deploy_id}", params={"includeDetails": "true"} if details else None)

    def run(self, data: bytes, **options) -> dict:
        """Deploys and polls until done; returns the final deployResult."""
        deploy_id = self.start(data, **options)["id"]
        for _ in range(10):
            result = self.poll(deploy_id).json()["deployResult"]
            if result["done"]:
                return result
        raise AssertionError("the deployment never finished")


@pytest.fixture
def deployer(api):
    return Deployer(api)


@pytest.fixture
def fresh(sfsim):
    """A connectable org without the package; afterwards the ``ready`` org and default settings again."""
    sfsim.control("POST", "scenario", {"name": "fresh"})
    yield
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 1})
    sfsim.control("POST", "scenario", {"name": "ready"})


def _describe_field(sf, obj: str, name: str = "RoxActivityId__c") -> dict | None:
    return next((f for f in getattr(sf, obj).describe()["fields"] if f["name"] == name), None)


def _pick(d: dict, *keys: str) -> dict:
    return {k: d[k] for k in keys}


def _by_name(components: list[dict]) -> dict[str, dict]:
    return {c["fullName"]: c for c in components}


def _permission_set(sf) -> list[dict]:
    return sf.query(f"SELECT Id, Label, NamespacePrefix FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")["records"]


def _field_exists(sfsim) -> bool:
    """Whether Task has RoxActivityId__c at all (the control API's SOQL sees every field)."""
    resp = sfsim.control("POST", "query", {"q": "SELECT RoxActivityId__c FROM Task LIMIT 1"}, expect_ok=False)
    return "records" in resp


# -- the tests -------------------------------------------------------------------------------------------------------
def test_deploy_the_package_into_a_fresh_org(sfsim, sf, deployer, fresh):
    assert not _permission_set(sf) and not _field_exists(sfsim)
    created = deployer.start(mdapi_zip())
    deploy_id = created["id"]
    assert deploy_id.startswith("0Af") and len(deploy_id) == 18
    assert created["validatedDeployRequestId"] is None
    assert created["deployOptions"] == {**created["deployOptions"], **OPTIONS}
    result = created["deployResult"]
    assert result["id"] == deploy_id
    assert _pick(result, "status", "done", "success", "checkOnly", "rollbackOnError") == {
        "status": "Pending",
        "done": False,
        "success": False,
        "checkOnly": False,
        "rollbackOnError": True,
    }
    assert _pick(result, "numberComponentsDeployed", "numberComponentsTotal", "numberComponentErrors") == {
        "numberComponentsDeployed": 0,
        "numberComponentsTotal": 2,
        "numberComponentErrors": 0,
    }
    assert result["numberTestErrors"] == result["numberTestsCompleted"] == result["numberTestsTotal"] == 0
    assert result["runTestsEnabled"] is False and result["createdDate"]
    assert result["startDate"] is result["completedDate"] is result["details"] is None
    assert result["errorMessage"] is result["errorStatusCode"] is None

    # Applied at the first poll, which answers InProgress (one such poll by default); the next tells the outcome.
    first = deployer.poll(deploy_id)
    assert first.status_code == 200
    progress = first.json()["deployResult"]
    assert (progress["status"], progress["done"], progress["numberComponentsDeployed"]) == ("InProgress", False, 1)
    assert progress["startDate"] and progress["completedDate"] is None
    done = deployer.poll(deploy_id).json()
    assert done["id"] == deploy_id and done["deployOptions"]["checkOnly"] is False
    result = done["deployResult"]
    assert (result["status"], result["done"], result["success"]) == ("Succeeded", True, True)
    assert (result["numberComponentsDeployed"], result["numberComponentErrors"]) == (2, 0)
    assert result["completedDate"] and result["details"]["componentFailures"] == []
    components = _by_name(result["details"]["componentSuccesses"])
    assert set(components) == {"package.xml", FIELD, PERMISSION_SET}
    assert components[FIELD]["componentType"] == "CustomField"
    assert components[FIELD]["fileName"] == "objects/Activity.object"
    assert components[PERMISSION_SET]["componentType"] == "PermissionSet"
    assert components[PERMISSION_SET]["fileName"] == "permissionsets/Rox_Integration.permissionset"
    assert components["package.xml"]["componentType"] == "Package"
    for c in components.values():
        assert c["success"] is True and c["problem"] is None and c["problemType"] is None and c["deleted"] is False
    assert components[FIELD]["created"] and components[PERMISSION_SET]["created"]
    # Without includeDetails there are no details.
    assert deployer.poll(deploy_id, details=False).json()["deployResult"]["details"] is None

    (ps,) = _permission_set(sf)
    assert ps["Label"] == "Rox Integration" and ps["NamespacePrefix"] is None
    assert components[PERMISSION_SET]["id"] == ps["Id"]
    # As in Salesforce, a deployed field is visible only through the permission sets that grant it.
    assert _field_exists(sfsim) and _describe_field(sf, "Task") is None

    # Assign the permission set through REST; then the field shows in Task and Event describes as text(100).
    uid = sf.restful("")["identity"].rsplit("/", 1)[1]
    assigned = sf.PermissionSetAssignment.create({"AssigneeId": uid, "PermissionSetId": ps["Id"]})
    assert assigned["success"] and assigned["id"].startswith("0Pa")
    for obj in ("Task", "Event"):
        field = _describe_field(sf, obj)
        assert (field["type"], field["length"], field["externalId"], field["updateable"]) == ("string", 100, True, True)
    rows = sf.query(f"SELECT PermissionSet.Name, IsActive FROM PermissionSetAssignment WHERE AssigneeId = '{uid}'")
    assert [(r["PermissionSet"]["Name"], r["IsActive"]) for r in rows["records"]] == [(PERMISSION_SET, True)]
    grants = sf.query(f"SELECT Field, PermissionsEdit FROM FieldPermissions WHERE ParentId = '{ps['Id']}'")["records"]
    assert {"Task.RoxActivityId__c", "Event.RoxActivityId__c"} <= {r["Field"] for r in grants}
    # The field works as the product uses it: an upsert key for tasks.
    upserted = sf.Task.upsert("RoxActivityId__c/rox-deploy-1", {"Subject": "Deployed", "Status": "Not Started"})
    assert upserted == 201

    # Deploying again changes nothing and says so.
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 0})
    again = deployer.run(mdapi_zip())
    assert again["status"] == "Succeeded"
    for c in again["details"]["componentSuccesses"]:
        assert c["changed"] is False and c["created"] is False, c
    assert len(_permission_set(sf)) == 1
    assert sf.query(f"SELECT COUNT() FROM PermissionSetAssignment WHERE AssigneeId = '{uid}'")["totalSize"] == 1


def test_a_failing_deploy_rolls_everything_back(sfsim, sf, deployer, fresh):
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 0})
    fields = source_fields()
    fields["Activity"].append(field_xml("Broken__c", "Textt", length="10"))
    result = deployer.run(mdapi_zip(fields, with_bad_grants()))
    assert (result["status"], result["done"], result["success"]) == ("Failed", True, False)
    # Three components, two of them failing (the permission set for two reasons).
    assert result["numberComponentsTotal"] == 3 and result["numberComponentErrors"] == 2
    failures = result["details"]["componentFailures"]
    problems = {(c["componentType"], c["fullName"], c["problem"]) for c in failures}
    assert problems == {
        (
            "CustomField",
            "Activity.Broken__c",
            "Error parsing file: 'Textt' is not a valid value for the enum 'FieldType'",
        ),
        ("PermissionSet", PERMISSION_SET, "In field: object - no CustomObject named Nope__c found"),
        ("PermissionSet", PERMISSION_SET, "In field: field - no CustomField named Account.Nope__c found"),
    }
    for c in failures:
        assert c["success"] is False and c["problemType"] == "Error" and c["changed"] is False
        assert c["fileName"] in ("objects/Activity.object", "permissionsets/Rox_Integration.permissionset")
    # RoxActivityId__c deployed fine, but rollbackOnError undid it with the rest.
    assert FIELD in _by_name(result["details"]["componentSuccesses"])
    assert not _field_exists(sfsim) and not _permission_set(sf)


def test_without_rollback_the_good_components_stay(sfsim, sf, deployer, fresh):
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 0})
    result = deployer.run(mdapi_zip(permission_sets=with_bad_grants()), rollbackOnError=False)
    assert (result["status"], result["success"], result["rollbackOnError"]) == ("SucceededPartial", False, False)
    assert (result["numberComponentsDeployed"], result["numberComponentErrors"]) == (1, 1)
    assert _field_exists(sfsim) and not _permission_set(sf)


def test_a_type_change_is_refused(sfsim, deployer, fresh):
    sfsim.control("POST", "scenario", {"name": "ready"})
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 0})
    changed = {"Activity": [field_xml("RoxActivityId__c", "Number", precision="18", scale="0")]}
    result = deployer.run(mdapi_zip(changed, {}))
    assert result["status"] == "Failed"
    (failure,) = result["details"]["componentFailures"]
    assert failure["problem"] == "Cannot change the type of Activity.RoxActivityId__c from Text to Number"
    assert _describe_field(sfsim.salesforce(), "Task")["type"] == "string"


def test_the_ready_org_already_has_exactly_what_the_package_deploys(sfsim, deployer, fresh):
    """``ready`` installs salesforce-package/ through the deploy code: deploying the same package changes nothing."""
    sfsim.control("POST", "scenario", {"name": "ready"})
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 0})
    result = deployer.run(mdapi_zip())
    assert result["status"] == "Succeeded"
    assert [(c["fullName"], c["changed"], c["created"]) for c in result["details"]["componentSuccesses"]] == [
        ("package.xml", False, False),
        (FIELD, False, False),
        (PERMISSION_SET, False, False),
    ]
    # short-activity-id has RoxActivityId__c as text(50): the package's text(100) is a change.
    sfsim.control("POST", "scenario", {"name": "short-activity-id"})
    result = deployer.run(mdapi_zip(members={"CustomField": [FIELD]}))
    assert _by_name(result["details"]["componentSuccesses"])[FIELD]["changed"] is True
    assert _describe_field(sfsim.salesforce(), "Event")["length"] == 100


def test_check_only_validates_and_changes_nothing(sfsim, sf, deployer, fresh):
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 0})
    result = deployer.run(mdapi_zip(), checkOnly=True)
    assert (result["status"], result["success"], result["checkOnly"]) == ("Succeeded", True, True)
    assert _by_name(result["details"]["componentSuccesses"])[FIELD]["created"] is True
    assert not _field_exists(sfsim) and not _permission_set(sf)


def test_progress_polls_are_a_setting(sfsim, deployer, fresh):
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 2})
    assert sfsim.control("GET", "settings")["deploy_in_progress_polls"] == 2
    deploy_id = deployer.start(mdapi_zip())["id"]
    seen = [deployer.poll(deploy_id, details=False).json()["deployResult"] for _ in range(4)]
    assert [(r["status"], r["numberComponentsDeployed"]) for r in seen] == [
        ("InProgress", 0),
        ("InProgress", 1),
        ("Succeeded", 2),
        ("Succeeded", 2),
    ]
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 0})
    deploy_id = deployer.start(mdapi_zip(), checkOnly=True)["id"]
    assert deployer.poll(deploy_id).json()["deployResult"]["status"] == "Succeeded"
    bad = sfsim.control("PUT", "settings", {"deploy_in_progress_polls": -1}, expect_ok=False)
    assert "deploy_in_progress_polls" in bad["error"]


def test_package_in_a_folder_and_options_as_a_file_part(sfsim, deployer, fresh):
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 0})
    resp = deployer.post(mdapi_zip(folder="unpackaged/"), {"singlePackage": False}, json_filename="options.json")
    assert resp.status_code == 201 and resp.json()["deployOptions"]["singlePackage"] is False
    result = deployer.poll(resp.json()["id"]).json()["deployResult"]
    assert result["status"] == "Succeeded"
    assert _by_name(result["details"]["componentSuccesses"])[FIELD]["fileName"] == "unpackaged/objects/Activity.object"


def test_members_without_files_and_unsupported_types_fail(sfsim, deployer, fresh):
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 0})
    members = {"CustomField": [FIELD, "Activity.Missing__c"], "ApexClass": ["RoxHelper"]}
    result = deployer.run(mdapi_zip(permission_sets={}, members=members))
    assert result["status"] == "Failed"
    problems = {c["fullName"]: c["problem"] for c in result["details"]["componentFailures"]}
    assert problems["Activity.Missing__c"] == (
        "An object 'Activity.Missing__c' of type CustomField was named in package.xml, but was not found in "
        "zipped directory"
    )
    assert "ApexClass" in problems["RoxHelper"]
    # allowMissingFiles lets the listed-but-absent field go.
    result = deployer.run(
        mdapi_zip(permission_sets={}, members={"CustomField": members["CustomField"]}), allowMissingFiles=True
    )
    assert result["status"] == "Succeeded" and result["numberComponentsTotal"] == 1


def test_malformed_requests(api, deployer):
    not_multipart = api.post(deployer.url, json={"deployOptions": OPTIONS})
    no_file = deployer.post(None)
    not_a_zip = deployer.post(b"this is not a zip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("objects/Activity.object", _wrap("CustomObject", ""))
    no_manifest = deployer.post(buf.getvalue())
    for resp, code in (
        (not_multipart, "MISSING_ARGUMENT"),
        (no_file, "MISSING_ARGUMENT"),
        (not_a_zip, "INVALID_ZIP"),
        (no_manifest, "INVALID_ZIP"),
    ):
        assert resp.status_code == 400, resp.text
        (error,) = resp.json()
        assert error["errorCode"] == code and error["message"]
    assert "package.xml" in no_manifest.json()[0]["message"]
    bad_json = api.post(
        deployer.url,
        files={"json": (None, "{nope", "application/json"), "file": ("d.zip", mdapi_zip(), "application/zip")},
    )
    assert bad_json.status_code == 400 and bad_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    missing = deployer.poll("0Af5g0000000zzzCAA")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_a_standard_user_may_neither_deploy_nor_assign(sfsim, deployer, fresh, unique):
    sfsim.control("POST", "scenario", {"name": "standard-user"})
    resp = deployer.post(mdapi_zip())
    assert resp.status_code == 403
    assert resp.json() == [
        {
            "errorCode": "INSUFFICIENT_ACCESS",
            "message": "use of the Metadata API requires a user with the ModifyAllData or CustomizeApplication "
            "permission",
        }
    ]
    sf = sfsim.salesforce()
    ps = _permission_set(sf)[0]["Id"]
    user = sfsim.control("POST", "users", {"username": f"{unique('standard')}@sfsim.example.com"})["id"]
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.PermissionSetAssignment.create({"AssigneeId": user, "PermissionSetId": ps})
    assert err.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    describe = sf.PermissionSetAssignment.describe()
    assert describe["createable"] is False and describe["deletable"] is False


def test_permission_set_assignments_through_rest(sfsim, sf, api, unique):
    ps = _permission_set(sf)[0]["Id"]
    user = sfsim.control("POST", "users", {"username": f"{unique('assignee')}@sfsim.example.com"})["id"]
    describe = sf.PermissionSetAssignment.describe()
    assert (describe["createable"], describe["deletable"], describe["updateable"]) == (True, True, False)

    created = api.post(api.url("sobjects/PermissionSetAssignment"), json={"AssigneeId": user, "PermissionSetId": ps})
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    duplicate = api.post(api.url("sobjects/PermissionSetAssignment"), json={"AssigneeId": user, "PermissionSetId": ps})
    assert duplicate.status_code == 400
    assert duplicate.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    assert (
        duplicate.json()[0]["message"] == f"Duplicate PermissionSetAssignment. Assignee: {user}; Permission Set: {ps}"
    )
    for body, field in (
        ({"AssigneeId": user, "PermissionSetId": "0PS5g000000zzzzGAA"}, "PermissionSetId"),
        ({"AssigneeId": "0055g000000zzzzAAA", "PermissionSetId": ps}, "AssigneeId"),
        ({"AssigneeId": user, "PermissionSetId": user}, "PermissionSetId"),
    ):
        bad = api.post(api.url("sobjects/PermissionSetAssignment"), json=body)
        assert bad.status_code == 400, bad.text
        assert bad.json()[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY" and bad.json()[0]["fields"] == [field]
    profile_set = sf.query("SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true LIMIT 1")["records"][0]["Id"]
    owned = api.post(
        api.url("sobjects/PermissionSetAssignment"), json={"AssigneeId": user, "PermissionSetId": profile_set}
    )
    assert owned.status_code == 400 and owned.json()[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    with pytest.raises(SalesforceRefusedRequest):
        sf.PermissionSetAssignment.update(rid, {"IsActive": False})

    # The assignment gives the user the permission set's access; deleting it takes it away.
    count = f"SELECT COUNT() FROM PermissionSetAssignment WHERE AssigneeId = '{user}'"
    assert sf.query(count)["totalSize"] == 1
    assert api.delete(api.url(f"sobjects/PermissionSetAssignment/{rid}")).status_code == 204
    assert sf.query(count)["totalSize"] == 0
    assert api.delete(api.url(f"sobjects/PermissionSetAssignment/{rid}")).status_code == 404

    # Collections go through the same code: create (one duplicate fails), then delete.
    res = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "records": [
                {"attributes": {"type": "PermissionSetAssignment"}, "AssigneeId": user, "PermissionSetId": ps},
                {"attributes": {"type": "PermissionSetAssignment"}, "AssigneeId": user, "PermissionSetId": ps},
            ]
        },
    )
    assert res[0]["success"] and res[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    gone = sf.restful(f"composite/sobjects?ids={res[0]['id']}", method="DELETE")
    assert gone[0]["success"]
    assert sf.query(count)["totalSize"] == 0

    # Other setup objects stay read-only.
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.PermissionSet.create({"Name": "Mine", "Label": "Mine"})
    assert err.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    with pytest.raises((SalesforceRefusedRequest, SalesforceMalformedRequest)):
        sf.ObjectPermissions.create({"ParentId": ps, "SobjectType": "Account", "PermissionsRead": True})


def test_object_members_and_problem_texts(sfsim, deployer, fresh):
    """A CustomObject member deploys every field of its file (and the object as a component); each problem is a
    failure of its own, worded as Salesforce words it."""
    sfsim.control("PUT", "settings", {"deploy_in_progress_polls": 0})
    fields = source_fields()
    fields["Activity"] += [field_xml("Html__c", "Html", length="1000"), "<fullName>Subject</fullName>"]
    grants = (
        "<objectPermissions><allowCreate>false</allowCreate><allowDelete>false</allowDelete>"
        "<allowEdit>true</allowEdit><allowRead>false</allowRead><modifyAllRecords>false</modifyAllRecords>"
        "<object>Account</object><viewAllRecords>false</viewAllRecords></objectPermissions>"
        "<fieldPermissions><editable>true</editable><field>Account.Name</field><readable>true</readable>"
        "</fieldPermissions><label>Odd</label>"
    )
    data = mdapi_zip(
        fields,
        {"Odd": _wrap("PermissionSet", grants)},
        members={"CustomObject": ["Activity", "Broken"], "PermissionSet": ["Odd"]},
    )
    buf = io.BytesIO(data)
    with zipfile.ZipFile(buf, "a") as z:
        z.writestr("objects/Broken.object", "<CustomObject><fields>\n<oops>")
    result = deployer.run(buf.getvalue(), rollbackOnError=False)
    assert result["status"] == "SucceededPartial"
    ok = _by_name(result["details"]["componentSuccesses"])
    assert set(ok) == {"package.xml", "Activity", FIELD, "Activity.Subject"}
    assert ok["Activity"]["componentType"] == "CustomObject" and ok["Activity"]["changed"] is True
    assert ok["Activity.Subject"]["changed"] is False
    failures = {(c["fullName"], c["problem"]) for c in result["details"]["componentFailures"]}
    assert ("Activity.Html__c", "sfsim does not deploy custom fields of type Html (Activity.Html__c)") in failures
    assert ("Odd", "Permission Edit Account depends on permission(s): Read Account") in failures
    assert ("Odd", "You cannot deploy to a required field: Account.Name") in failures
    broken = next(c for c in result["details"]["componentFailures"] if c["fullName"] == "Broken")
    assert broken["problem"].startswith("Error parsing file: ") and broken["lineNumber"] == 2
    assert _field_exists(sfsim)
