"""A record's place in the sync, for pages and the API: its Salesforce Id, when it last synced, pending writeback,
and its last error. One query per kind of data for a whole page of records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Max

from integrations.models import OutboxEntry, SalesforceLink, SyncError
from roxcrm.models import Organization


@dataclass(frozen=True)
class SyncState:
    salesforce_id: str | None = None
    sobject: str | None = None
    last_synced_at: datetime | None = None
    deleted_in_salesforce: bool = False
    pending_writeback: bool = False
    last_written_at: datetime | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "salesforce_id": self.salesforce_id,
            "sobject": self.sobject,
            "last_synced_at": self.last_synced_at,
            "deleted_in_salesforce": self.deleted_in_salesforce,
            "pending_writeback": self.pending_writeback,
            "last_written_at": self.last_written_at,
            "last_error": self.last_error,
        }


def records_sync_state(*, organization: Organization, object_type: str, record_ids: list[int]) -> dict[int, SyncState]:
    """The sync state of each of ``record_ids`` (records never linked to Salesforce get an empty state)."""
    links = {
        link.record_id: link
        for link in SalesforceLink.objects.filter(
            organization=organization, rox_object=object_type, record_id__in=record_ids
        ).only("record_id", "sf_id", "sobject", "synced_at", "deleted_at")
    }
    waiting = set(
        OutboxEntry.objects.filter(
            organization=organization,
            rox_object=object_type,
            record_id__in=record_ids,
            state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT, OutboxEntry.State.REVIEW],
        ).values_list("record_id", flat=True)
    )
    written = dict(
        OutboxEntry.objects.filter(
            organization=organization, rox_object=object_type, record_id__in=record_ids, state=OutboxEntry.State.DONE
        )
        .values("record_id")
        .annotate(last=Max("done_at"))
        .values_list("record_id", "last")
    )
    errors: dict[int, str] = {}
    # Open errors of either direction; a failed writeback row counts too.
    for error in SyncError.objects.filter(
        organization=organization, rox_object=object_type, record_id__in=record_ids, resolved_at=None
    ).order_by("created_at"):
        errors[error.record_id] = f"{error.code}: {error.message}"
    states = {}
    for record_id in record_ids:
        link = links.get(record_id)
        states[record_id] = SyncState(
            salesforce_id=link.sf_id if link else None,
            sobject=link.sobject if link else None,
            last_synced_at=link.synced_at if link else None,
            deleted_in_salesforce=bool(link and link.deleted_at),
            pending_writeback=record_id in waiting,
            last_written_at=written.get(record_id),
            last_error=errors.get(record_id),
        )
    return states
