"""The connected org's schema for the CRM mappings: describes cached per object (no Salesforce call per page view),
turned into ``mappings.metadata`` dataclasses; the refresh that re-reads them; and schema drift (mapped fields that
Salesforce no longer has, or changed so that the mapping cannot work).

``settings.MAPPINGS_SCHEMA`` names this module, so that ``mappings`` validates against the org without importing
``integrations``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from integrations.models import DescribeCache, SalesforceConnection
from integrations.salesforce.client import SalesforceClient
from mappings.defaults import STANDARD_OBJECTS
from mappings.metadata import SalesforceObject, rox_fields
from mappings.models import ObjectMapping
from roxcrm.models import Organization

COMPOSITE_MAX = 25


def _connection(organization: Organization) -> SalesforceConnection | None:
    connection = SalesforceConnection.objects.filter(organization=organization).first()
    if connection is None or not connection.sf_org_id:
        return None
    return connection


# Parsed describes by (cache row, when it was fetched): an edit checks its values against the describe, and parsing
# one (hundreds of fields) on every save would cost more than the save.
_parsed: dict[tuple[int, Any], SalesforceObject] = {}


def salesforce_object(organization: Organization, sobject: str) -> SalesforceObject | None:
    """The cached describe of ``sobject`` for the organization's org, or None."""
    # One query: the describe of the organization's connected org (a connection that never signed in has none).
    stamp = (
        DescribeCache.objects.filter(
            connection__organization=organization, connection__sf_org_id__gt="", sobject=sobject
        )
        .values_list("pk", "fetched_at")
        .first()
    )
    return parsed_describe(stamp) if stamp is not None else None


def parsed_describe(stamp: tuple[int, Any]) -> SalesforceObject | None:
    """The describe of a ``DescribeCache`` row as dataclasses, by ``(pk, fetched_at)``: parsed once per row and
    fetch, so a refreshed describe (a new ``fetched_at``) is parsed again. None when the row is gone."""
    if stamp not in _parsed:
        if len(_parsed) > 500:
            _parsed.clear()
        data = DescribeCache.objects.filter(pk=stamp[0]).values_list("data", flat=True).first()
        if data is None:
            return None
        _parsed[stamp] = SalesforceObject.from_describe(data)
    return _parsed[stamp]


def prerequisite_blockers(organization: Organization, sobject: str) -> list[str]:
    """What the latest prerequisite checks say stands in the way of creating ``sobject`` records in Salesforce."""
    connection = _connection(organization)
    if connection is None or not connection.is_signed_in:
        return ["Connect Salesforce first."]
    run = connection.latest_preflight()
    if run is None or not run.details.get("checks"):
        return ["Run the prerequisite checks first (Settings → Integrations → Salesforce → Re-check)."]
    blockers = []
    checks = {c["key"]: c for c in run.details.get("checks", [])}
    package = checks.get("package")
    if package and package["status"] == "fail":
        blockers.append(f"The Rox package is needed: {package['found']} {package['fix']}")
    object_check = checks.get(f"object_{sobject}")
    if object_check and object_check["status"] != "pass":
        blockers.append(f"{object_check['found']} {object_check['fix']}")
    activity_check = checks.get(f"activity_id_{sobject.lower()}")
    if activity_check and activity_check["status"] == "fail":
        blockers.append(f"{activity_check['found']} {activity_check['fix']}")
    return blockers


def describe_data(connection: SalesforceConnection, sobject: str) -> dict[str, Any] | None:
    """The raw cached describe of ``sobject`` (labels, flags and fields as Salesforce gave them), or None."""
    return DescribeCache.objects.filter(connection=connection, sobject=sobject).values_list("data", flat=True).first()


def store_describes(connection: SalesforceConnection, describes: dict[str, dict[str, Any]]) -> None:
    now = timezone.now()
    for sobject, data in describes.items():
        DescribeCache.objects.update_or_create(
            connection=connection, sobject=sobject, defaults={"data": data, "fetched_at": now}
        )


def describe_refresh(connection: SalesforceConnection, sobjects: Iterable[str] | None = None) -> int:
    """Re-read the describes of the mapped objects (25 per Composite call). Returns the API calls used."""
    names = list(sobjects or _mapped_objects(connection.organization))
    client = SalesforceClient(connection)
    fetched: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), COMPOSITE_MAX):
        chunk = names[start : start + COMPOSITE_MAX]
        results = client.composite([client.subrequest(name, f"sobjects/{name}/describe/") for name in chunk])
        for item in results:
            if item["httpStatusCode"] == 200:
                fetched[item["referenceId"]] = item["body"]
            else:
                # The object itself became unreadable: forget it, so its mappings show as broken.
                DescribeCache.objects.filter(connection=connection, sobject=item["referenceId"]).delete()
    store_describes(connection, fetched)
    client.save_usage()
    return client.calls


def last_refreshed(organization: Organization) -> Any:
    connection = _connection(organization)
    if connection is None:
        return None
    return (
        DescribeCache.objects.filter(connection=connection)
        .order_by("fetched_at")
        .values_list("fetched_at", flat=True)
        .first()
    )


def broken_mappings(organization: Organization) -> list[str]:
    """“Object.Field: why” for every field mapping the current schema breaks (empty when not connected)."""
    from mappings.validation import field_status

    broken = []
    for object_mapping in ObjectMapping.objects.filter(organization=organization).prefetch_related(
        "field_mappings", "static_values"
    ):
        sf_object = salesforce_object(organization, object_mapping.sobject)
        if sf_object is None:
            continue
        fields = rox_fields(organization, object_mapping.rox_object)
        for mapping in object_mapping.field_mappings.all():
            status, reason = field_status(mapping, sf_object, fields)
            if status == "broken":
                broken.append(f"{object_mapping.sobject}.{mapping.sf_field}: {reason}")
    return broken


def _mapped_objects(organization: Organization) -> list[str]:
    mapped = list(ObjectMapping.objects.filter(organization=organization).values_list("sobject", flat=True))
    return list(dict.fromkeys([*STANDARD_OBJECTS, *mapped]))


def mapping_saved(mapping: Any, before: dict[str, Any] | None) -> None:
    """A field mapping now reads a Salesforce field it did not read (added, its field changed, or its rule now
    reads): once the object has had its first read, the field waits on the object's cursor to be filled on the
    records read before (``runner.backfill``), and a worker is asked to do it when the change commits."""
    from django.db import transaction

    from integrations.models import SyncCursor
    from mappings.models import FieldMapping

    if mapping.rule not in FieldMapping.READING_RULES:
        return
    if before and before["sf_field"] == mapping.sf_field and before["rule"] in FieldMapping.READING_RULES:
        return  # it read this field already
    connection = _connection(mapping.object_mapping.organization)
    if connection is None:
        return
    sobject = mapping.object_mapping.sobject
    cursor = (
        SyncCursor.objects.select_for_update()
        .filter(connection=connection, sobject=sobject, backfilled_at__isnull=False)
        .first()
    )
    if cursor is None:
        return  # never read in full yet: its first read reads the new field too
    if mapping.sf_field not in cursor.backfill_fields:
        cursor.backfill_fields = [*cursor.backfill_fields, mapping.sf_field]
        cursor.save(update_fields=["backfill_fields"])
    if mapping.object_mapping.sync_enabled and connection.is_signed_in:
        transaction.on_commit(lambda: _ask_backfill(connection.pk, sobject))


def _ask_backfill(connection_id: int, sobject: str) -> None:
    from django_q.tasks import async_task

    async_task("integrations.tasks.backfill_task", connection_id, sobject, task_name=f"backfill of {sobject}")
