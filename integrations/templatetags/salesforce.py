"""``{% salesforce_card record %}``: a record page's Salesforce card (link, last sync, errors, conflicts)."""

from __future__ import annotations

from typing import Any

from django import template

from integrations.models import Conflict, SalesforceConnection, SalesforceLink, SyncError

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
    return {
        "show": True,
        "connection": connection,
        "links": links,
        "errors": list(errors[:5]),
        "conflicts": list(conflicts[:5]),
        "org": context.get("org"),
    }
