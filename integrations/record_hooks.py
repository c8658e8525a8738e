"""How record changes reach Salesforce: called by ``roxcrm.hooks`` (``settings.RECORD_HOOKS``).

``record_changed`` runs inside the edit's transaction: a change to a field whose rule writes to Salesforce adds (or
coalesces into) the record's open outbox row, and a worker is asked to write it once the transaction commits.
Changes made by the inbound sync never come here (the sync saves through ``roxcrm.sync_path``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.models import OutboxEntry, SalesforceConnection, SalesforceLink
from mappings.models import FieldMapping, ObjectMapping

# Rox objects written back as a whole record (activities are written by the activity writeback).
RECORD_OBJECTS = {"account", "contact", "opportunity", "lead"}


def record_changed(change: Any, actor: Any) -> None:
    record = change.record
    if actor.is_sync or record.object_type not in RECORD_OBJECTS:
        return
    organization_id = record.organization_id
    mappings = ObjectMapping.objects.filter(
        organization_id=organization_id, rox_object=record.object_type, read_only=False
    ).prefetch_related("field_mappings")
    now = timezone.now()
    queued: set[str] = set()
    for object_mapping in mappings:
        writing = {m.rox_field for m in object_mapping.field_mappings.all() if m.rule in FieldMapping.WRITING_RULES}
        linked = SalesforceLink.objects.filter(
            organization_id=organization_id, sobject=object_mapping.sobject, record_id=record.pk, deleted_at=None
        ).exists()
        if change.created or not linked:
            if object_mapping.new_entity_writeback:
                fields = dict.fromkeys(writing, now.isoformat())
                enqueue(record, object_mapping.sobject, OutboxEntry.Operation.CREATE, fields)
                queued.add(object_mapping.sobject)
            continue
        changed = {name: now.isoformat() for name in change.changes if name in writing}
        if changed:
            enqueue(record, object_mapping.sobject, OutboxEntry.Operation.UPDATE, changed)
            queued.add(object_mapping.sobject)
    if queued:
        connection = SalesforceConnection.objects.filter(organization_id=organization_id).only("pk").first()
        if connection is not None:
            for sobject in queued:
                transaction.on_commit(lambda s=sobject, c=connection.pk: _ask_worker(c, s))


def enqueue(
    record: Any, sobject: str, operation: str, fields: dict[str, str], not_before: dt.datetime | None = None
) -> OutboxEntry:
    """Add the change to the record's pending row (one per record and operation), or open one."""
    pending = OutboxEntry.objects.select_for_update().filter(
        organization_id=record.organization_id,
        sobject=sobject,
        record_id=record.pk,
        operation=operation,
        state=OutboxEntry.State.PENDING,
    )
    entry = pending.first()
    if entry is None:
        try:
            with transaction.atomic():
                return OutboxEntry.objects.create(
                    organization_id=record.organization_id,
                    sobject=sobject,
                    rox_object=record.object_type,
                    record_id=record.pk,
                    operation=operation,
                    fields=fields,
                    not_before=not_before,
                )
        except IntegrityError:
            entry = pending.get()  # another transaction opened it a moment ago
    entry.fields = {**entry.fields, **fields}
    entry.save(update_fields=["fields", "updated_at"])
    return entry


def _ask_worker(connection_id: int, sobject: str) -> None:
    from django_q.tasks import async_task

    async_task(
        "integrations.tasks.writeback_task", connection_id, sobject, task_name=f"writeback {sobject} {connection_id}"
    )
