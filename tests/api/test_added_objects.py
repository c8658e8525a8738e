"""The API of objects an organization added (issue 16): /api/v1/objects/<API name>/ lists, reads, creates and
changes their records through the same edit path and rules as the standard objects (ETag/If-Match, validation,
history), with Link fields given and shown as the code of the linked record."""

from __future__ import annotations

from roxcrm.models import FieldChange, ObjectDefinition, ObjectRecord, Organization, User
from tests.api.conftest import ApiClient, make_token
from tests.factories import make_account, make_custom_field


def add_project(org: Organization) -> ObjectDefinition:
    definition = ObjectDefinition.objects.create(
        organization=org, key="project__c", sobject="Project__c", label="Project", plural="Projects"
    )
    make_custom_field(org, object_type="project__c", label="Account", data_type="link", target="account")
    make_custom_field(org, object_type="project__c", label="Status", data_type="picklist", options=["Open", "Done"])
    return definition


def test_records_of_an_added_object_through_the_api(api: ApiClient, org: Organization, admin_user: User) -> None:
    add_project(org)
    account = make_account(org, name="Initech")
    created = api.post(
        "objects/Project__c",
        {
            "name": "Relaunch",
            "owner": admin_user.email,
            "custom_fields": {"account": str(account.code), "status": "open"},
        },
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["name"], body["owner"], body["custom_fields"]) == (
        "Relaunch",
        admin_user.email,
        {"account": str(account.code), "status": "Open"},
    )
    assert created["ETag"] == '"1"' and created["Location"].endswith(f"/api/v1/objects/Project__c/{body['code']}")
    record = ObjectRecord.objects.get(code=body["code"])
    assert record.object_type == "project__c" and record.custom_values["account"] == account.pk
    listed = api.get("objects/Project__c", owner=admin_user.email).json()
    assert [r["code"] for r in listed["data"]] == [body["code"]]
    stale = api.patch(f"objects/Project__c/{body['code']}", {"name": "Late"}, headers={"If-Match": '"0"'})
    assert stale.status_code == 412 and stale.json()["current"]["name"] == "Relaunch"
    changed = api.patch(
        f"objects/Project__c/{body['code']}", {"custom_fields": {"status": "Done"}}, headers={"If-Match": '"1"'}
    )
    assert changed.status_code == 200 and changed.json()["custom_fields"]["status"] == "Done"
    assert FieldChange.objects.filter(object_type="project__c", record_id=record.pk, field="custom.status").count() == 2


def test_bad_input_and_other_objects_are_refused_clearly(
    api: ApiClient, org: Organization, other_org: Organization, admin_user: User, outsider: User
) -> None:
    add_project(org)
    foreign = make_account(other_org, name="Umbrella")
    for body, field in (
        ({"name": "X", "custom_fields": {"account": str(foreign.code)}}, "custom_fields.account"),
        ({"name": "X", "custom_fields": {"account": "not-a-code"}}, "custom_fields.account"),
        ({"name": "X", "custom_fields": {"status": "Bogus"}}, "custom_fields.status"),
        ({"name": "X", "custom_fields": {"nope": 1}}, "custom_fields.nope"),
        ({"custom_fields": {}}, "name"),
    ):
        response = api.post("objects/Project__c", body)
        assert response.status_code == 400 and field in response.json()["fields"], response.json()
    assert not ObjectRecord.objects.exists()
    assert api.get("objects/Nothing__c").status_code == 404
    ObjectDefinition.objects.create(organization=other_org, key="secret__c", sobject="Secret__c", label="S", plural="S")
    assert api.get("objects/Secret__c").status_code == 404
    project = api.post("objects/Project__c", {"name": "Mine"}).json()
    theirs = make_token(other_org, outsider)[1]
    assert ApiClient(theirs).get(f"objects/Project__c/{project['code']}").status_code == 404
    read_only = ApiClient(make_token(org, admin_user, scope="read")[1])
    assert read_only.post("objects/Project__c", {"name": "No"}).status_code == 403
    schema = api.get("/api/v1/openapi.json").json()
    assert "/api/v1/objects/{api_name}" in schema["paths"]
