"""Set up Salesforce for the admin (steps 2 to 4 of the guide in one click): deploy the Rox package source through the
Metadata API, assign its permission set (and Rox Added Objects, when asked) to the integration user, and re-run the
prerequisite checks. Nothing is deployed without the admin's click; a user who may not change Salesforce's set-up
is told why and given the manual steps.

Each set-up is a recorded run (``SyncRun.Kind.SETUP``): its details hold the steps done, the deployment's progress,
Salesforce's component messages on failure, and the checks' outcome, for the page and the command alike.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.utils import timezone

from integrations.engine.runs import recorded_run
from integrations.models import SalesforceConnection, SyncRun
from integrations.salesforce import soql
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import SalesforceError
from integrations.salesforce.metadata import ADDED_OBJECTS_LABEL, ADDED_OBJECTS_SET, Deployment, deploy, package_zip
from integrations.salesforce.preflight import PERMISSION_SET_LABEL, PERMISSION_SET_NAME
from mappings.metadata import salesforce_object
from mappings.models import ObjectMapping
from roxcrm.models import ObjectDefinition, User

log = logging.getLogger(__name__)

# The checks a set-up can fix (the others: edition, licence, profile, API access, are the admin's in Salesforce).
FIXABLE = ("package", "activity_id_task", "activity_id_event")
CUSTOMIZE_PERMISSIONS = ("PermissionsModifyAllData", "PermissionsCustomizeApplication")


def fixable(details: dict[str, Any] | None, added: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The titles of a preflight run's failing checks that a set-up fixes: the package's, the activity id field's
    and, for the ``added`` objects (granted through Rox Added Objects), access to them and their fields."""
    keys = {*FIXABLE, *(f"object_{s}" for s in added), *(f"fields_{s}" for s in added)}
    return [
        check["title"]
        for check in (details or {}).get("checks", [])
        if check["status"] == "fail" and check["key"] in keys
    ]


def added_access(connection: SalesforceConnection) -> dict[str, list[str]]:
    """Each object the organization added (and syncs) → its mapped Salesforce fields that take field permissions:
    custom fields that are not required (Salesforce refuses field permissions on required fields, master-detail
    ones included: those are visible to whoever can read the object)."""
    keys = ObjectDefinition.objects.filter(organization=connection.organization, archived_at=None).values("key")
    mappings = ObjectMapping.objects.filter(
        organization=connection.organization, sync_enabled=True, rox_object__in=keys
    ).prefetch_related("field_mappings")
    access = {}
    for mapping in mappings:
        described = salesforce_object(connection.organization, mapping.sobject)
        fields = []
        for field_mapping in mapping.field_mappings.all():
            sf = described.fields.get(field_mapping.sf_field) if described else None
            if sf is not None and sf.name.endswith("__c") and (sf.nillable or sf.type == "boolean"):
                fields.append(sf.name)
        access[mapping.sobject] = fields
    return access


def setup_start(*, connection: SalesforceConnection, user: User | None, grant_objects: bool = True) -> SyncRun:
    """Queue a set-up for a worker. Its run is made now, running from the click on, so the page shows it (and
    refreshes) until the worker has done it."""
    from django_q.tasks import async_task

    run = SyncRun.objects.create(
        connection=connection,
        kind=SyncRun.Kind.SETUP,
        started_at=timezone.now(),
        started_by=user,
        details={"steps": [], "queued": True},
    )
    async_task(
        "integrations.tasks.setup_org_task",
        connection.pk,
        user.pk if user else None,
        grant_objects,
        run.pk,
        task_name=f"Salesforce set-up of {connection.organization}",
    )
    return run


def setup_running(connection: SalesforceConnection) -> SyncRun | None:
    """The set-up queued or going on; one that never started or stopped without closing its run (no worker, a
    killed one) is closed as failed with the reason once it is older than a deployment may take."""
    running = SyncRun.objects.filter(
        connection=connection, kind=SyncRun.Kind.SETUP, outcome=SyncRun.Outcome.RUNNING
    ).first()
    limit = timezone.now() - dt.timedelta(seconds=settings.SALESFORCE_DEPLOY_TIMEOUT + 120)
    if running is not None and running.started_at < limit:
        running.outcome = SyncRun.Outcome.FAILED
        running.error = "The set-up did not finish (is the worker running?). Nothing was lost: start it again."
        running.finished_at = timezone.now()
        running.save(update_fields=["outcome", "error", "finished_at"])
        return None
    return running


def latest_setup(connection: SalesforceConnection) -> SyncRun | None:
    return SyncRun.objects.filter(connection=connection, kind=SyncRun.Kind.SETUP).order_by("-started_at").first()


def setup_org(
    *,
    connection: SalesforceConnection,
    user: User | None = None,
    grant_objects: bool = True,
    queued: SyncRun | None = None,
) -> SyncRun:
    """Deploy, assign, re-check. Returns the set-up's run: succeeded when every step did (the checks' own outcome
    is the preflight run's), failed with the reason and Salesforce's messages otherwise."""
    from integrations.services import preflight_run

    added = added_access(connection) if grant_objects else {}
    steps: list[str] = []
    with recorded_run(connection, SyncRun.Kind.SETUP, user=user, enforce_budget=False, queued=queued) as run:
        record = run.record
        record.details = {"steps": steps, "granted_objects": sorted(added)}

        def save(**details: Any) -> None:
            record.details = {**record.details, **details, "steps": steps}
            record.save(update_fields=["details"])

        client = run.client
        refusal = _may_customize(client, connection)
        if refusal:
            record.outcome, record.error = SyncRun.Outcome.FAILED, refusal
            save(refused=True)
            return record
        steps.append("Checked that the integration user may change Salesforce's set-up.")
        save()
        deployment = deploy(client, package_zip(added), progress=lambda state: save(**state.as_details()))
        if not deployment.success:
            record.outcome = SyncRun.Outcome.FAILED
            record.error = _deploy_failure(deployment)
            save(**deployment.as_details())
            return record
        steps.append(
            f"Deployed the Rox package ({deployment.deployed} component{'s' if deployment.deployed != 1 else ''}: "
            f"the RoxActivityId field on Activity, the “{PERMISSION_SET_LABEL}” permission set"
            + (f", “{ADDED_OBJECTS_LABEL}” for {', '.join(sorted(added))}" if added else "")
            + ")."
        )
        save(**deployment.as_details())
        names = [PERMISSION_SET_NAME, *([ADDED_OBJECTS_SET] if added else [])]
        assigned = _assign(client, connection, names)
        steps.append(
            f"Assigned {', '.join(assigned)} to {connection.sf_username}."
            if assigned
            else f"{connection.sf_username} had the permission sets already."
        )
        save()
    if record.outcome == SyncRun.Outcome.SUCCEEDED:
        checks = preflight_run(connection=connection, user=user)
        steps.append(
            "Re-ran the checks: every prerequisite is met."
            if checks.outcome != SyncRun.Outcome.FAILED
            else "Re-ran the checks: some still fail; each shows its fix."
        )
        record.details = {
            **record.details,
            "steps": steps,
            "checks_passed": checks.outcome != SyncRun.Outcome.FAILED,
            "checks_run": checks.pk,
        }
        record.save(update_fields=["details"])
    return record


def _may_customize(client: SalesforceClient, connection: SalesforceConnection) -> str:
    """Why the integration user may not deploy (no Modify All Data nor Customize Application), or ""."""
    user = soql.literal(connection.sf_user_id)
    fields = ", ".join(f"Profile.{p}" for p in CUSTOMIZE_PERMISSIONS)
    profile = (client.query(f"SELECT Id, Profile.Name, {fields} FROM User WHERE Id = {user}")["records"] or [{}])[0]
    granted = any((profile.get("Profile") or {}).get(p) for p in CUSTOMIZE_PERMISSIONS)
    if not granted:
        sets = ", ".join(f"PermissionSet.{p}" for p in CUSTOMIZE_PERMISSIONS)
        assignments = client.query(f"SELECT {sets} FROM PermissionSetAssignment WHERE AssigneeId = {user}")
        granted = any(
            (a.get("PermissionSet") or {}).get(p) for a in assignments["records"] for p in CUSTOMIZE_PERMISSIONS
        )
    if granted:
        return ""
    return (
        f"{connection.sf_username} may not change Salesforce's set-up: neither their profile "
        f"(“{(profile.get('Profile') or {}).get('Name', 'unknown')}”) nor a permission set grants “Modify All Data” "
        "or “Customize Application”. Follow the manual steps, or have a Salesforce admin do them."
    )


def _assign(client: SalesforceClient, connection: SalesforceConnection, names: list[str]) -> list[str]:
    """Assign the permission sets ``names`` to the integration user where not assigned yet; their labels."""
    found = client.query(f"SELECT Id, Name, Label FROM PermissionSet WHERE Name IN {soql.literal_list(names)}")[
        "records"
    ]
    missing = set(names) - {ps["Name"] for ps in found}
    if missing:
        raise SalesforceError(
            f"The deployment succeeded but Salesforce has no permission set {', '.join(sorted(missing))}."
        )
    user = soql.literal(connection.sf_user_id)
    have = {
        a["PermissionSetId"]
        for a in client.query(f"SELECT PermissionSetId FROM PermissionSetAssignment WHERE AssigneeId = {user}")[
            "records"
        ]
    }
    assigned = []
    for ps in found:
        if ps["Id"] in have:
            continue
        client.request(
            "POST",
            "sobjects/PermissionSetAssignment/",
            json={"AssigneeId": connection.sf_user_id, "PermissionSetId": ps["Id"]},
        )
        assigned.append(f"“{ps.get('Label') or ps['Name']}”")
    return assigned


def _deploy_failure(deployment: Deployment) -> str:
    if deployment.failures:
        problems = "; ".join(f"{f['component']}: {f['problem']}" for f in deployment.failures[:5])
        more = len(deployment.failures) - 5
        return f"Salesforce refused the deployment ({deployment.status}): {problems}" + (
            f"; and {more} more" if more > 0 else ""
        )
    return f"Salesforce refused the deployment ({deployment.status}): {deployment.error_message or 'no reason given'}"


def manual_steps(connection: SalesforceConnection | None) -> list[str]:
    """The manual path, as numbered steps for the page (no repository paths, no commands)."""
    user = connection.sf_username if connection and connection.sf_username else "the integration user"
    install = settings.SALESFORCE_PACKAGE_INSTALL_URL
    first = (
        "Install the Rox package from its install link (choose “Install for All Users”)."
        if install
        else "In Setup → Object Manager → Activity → Fields & Relationships, create a Text field “Rox Activity Id” "
        "(API name RoxActivityId), length 100, External ID ticked."
    )
    steps = [first]
    if not install:
        steps.append(
            f"In Setup → Permission Sets, create “{PERMISSION_SET_LABEL}” (API name {PERMISSION_SET_NAME}) with Read, "
            "Create and Edit on Account, Contact, Lead, Opportunity, Opportunity Product and Product, Read on Price "
            "Book and Price Book Entry, the “Edit Tasks” and “Edit Events” permissions, and Read and Edit on the "
            "RoxActivityId field of Task and Event."
        )
    steps.append(f"In Setup → Permission Sets → {PERMISSION_SET_LABEL} → Manage Assignments, add {user}.")
    steps.append(
        "For each object added in CRM Mappings, give the user Read and Edit on it and its mapped fields (a permission "
        "set of your own, or the user's profile)."
    )
    steps.append("Come back here and click Re-check.")
    return steps
