"""``{% salesforce_card record %}``: a record page's Salesforce card (link, last sync, errors, conflicts)."""

from __future__ import annotations

from typing import Any

from django import template

from integrations.models import Conflict, OutboxEntry, SalesforceConnection, SalesforceLink, SyncError

register = template.Library()


@register.inclusion_tag("integrations/_record_card.html", takes_context=True)
def salesforce_card(context: dict[str, Any], record: Any) -> dict[str, Any]:
    connection = SalesforceConnection.objects.filter(organization_id=record.organization_id).first()
    if connection is None or not connection.sf_org_id:
        return {"show": False}
    links = list(
        SalesforceLink.objects.filter(
            organization_id=record.organization_id, rox_object=record.object_type, record_id=record.pk
        )
    )
    errors = SyncError.objects.filter(
        organization_id=record.organization_id, rox_object=record.object_type, record_id=record.pk, resolved_at=None
    )
    conflicts = Conflict.objects.filter(
        organization_id=record.organization_id, rox_object=record.object_type, record_id=record.pk
    )
    entries = OutboxEntry.objects.filter(
        organization_id=record.organization_id, rox_object=record.object_type, record_id=record.pk
    )
    waiting = list(entries.exclude(state__in=[OutboxEntry.State.DONE, OutboxEntry.State.DISCARDED]))
    last_written = (
        entries.filter(state=OutboxEntry.State.DONE).order_by("-done_at").values_list("done_at", flat=True).first()
        if links
        else None  # "last written" beside "not in Salesforce" says two things at once: the state below says one
    )
    not_written = ""
    if not links and not waiting:
        # Why a record is not in Salesforce: its activity type's switch is off, or what the engine decided.
        not_written = _switched_off(record)
        if not not_written:
            dropped = entries.filter(state=OutboxEntry.State.DISCARDED).exclude(error_message="")
            not_written = dropped.order_by("-updated_at").values_list("error_message", flat=True).first() or ""
    return {
        "waiting": waiting,
        "not_written": not_written,
        "last_written": last_written,
        "show": True,
        "connection": connection,
        "links": links,
        "errors": list(errors[:5]),
        "conflicts": list(conflicts[:5]),
        "org": context.get("org"),
    }


def _switched_off(record: Any) -> str:
    """For an activity of Rox whose type is not written (its switch on the Activities tab is off): why."""
    from activities.models import Activity
    from mappings.models import ActivitySettings

    if record.object_type != "activity" or record.origin != Activity.Origin.ROX:
        return ""
    switches = ActivitySettings.for_organization(record.organization)
    if switches.writes(record.type):
        return ""
    return f"{ActivitySettings.switch_label(record.type)} is off on the Activities tab."
