"""How record changes reach Salesforce: called by ``roxcrm.hooks`` (``settings.RECORD_HOOKS``).

``record_changed`` runs inside the edit's transaction: a change to a field whose rule writes to Salesforce adds (or
coalesces into) the record's open outbox row, and a worker is asked to write it once the transaction commits.
Changes made by the inbound sync never come here (the sync saves through ``roxcrm.sync_path``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from integrations.models import DescribeCache, OutboxEntry, SalesforceConnection, SalesforceLink
from integrations.outbox import enqueue
from mappings.models import FieldMapping, ObjectMapping
from roxcrm.hooks import Picklist
from roxcrm.models import ObjectRecord

# Rox objects written back as a whole record (activities are written by the activity writeback), besides every
# object the organization added (``ObjectRecord``).
RECORD_OBJECTS = {"account", "contact", "opportunity", "lead"}
# Who may not change a Read Only field: people, agents and API clients (the sync and Rox itself may).
PEOPLE = ("user", "agent", "api")


def _written_back(record: Any) -> bool:
    return record.object_type in RECORD_OBJECTS or isinstance(record, ObjectRecord)


def record_changed(change: Any, actor: Any) -> None:
    record = change.record
    if actor.is_sync:
        return
    if record.object_type == "activity":
        _activity_changed(change)
        return
    if not _written_back(record):
        return
    targets = _targets(record, creating=change.created)
    now = timezone.now()
    queued: set[str] = set()
    for target in targets.objects:
        if change.created or not target.linked:
            if target.new_entity_writeback:
                fields = dict.fromkeys(target.writing, now.isoformat())
                enqueue(record, target.sobject, OutboxEntry.Operation.CREATE, fields, new_record=change.created)
                queued.add(target.sobject)
            continue
        changed = {name: now.isoformat() for name in change.changes if name in target.writing}
        if changed:
            enqueue(record, target.sobject, OutboxEntry.Operation.UPDATE, changed, look_for_failed=target.has_failed)
            queued.add(target.sobject)
    if queued and targets.connection_id is not None:
        for sobject in queued:
            _ask_on_commit(targets.connection_id, sobject)


def change_errors(record: Any, changed: dict[str, Any], actor: Any, creating: bool) -> dict[str, list[str]]:
    """Values Salesforce would refuse for the field a writing mapping sends them to (length, precision and scale),
    and values not among a picklist's active values (restricted or not, as ``picklist_choices`` offers them), by
    field key: refused at edit time, on the pages, the API and the admin alike, rather than saved in Rox and failed
    in the outbox later. Only changed values are checked, so a value deactivated in Salesforce that a record still
    holds stays when the record is saved without touching it. Only for records Rox writes to Salesforce (linked, or
    to be created there), checked against the cached describe (no Salesforce call)."""
    from integrations.schema import parsed_describe
    from mappings.validation import picklist_value_error, salesforce_value_error

    if not _written_back(record):
        return {}
    targets = _targets(record, creating=creating, describe=True)
    # The same edit's record_changed uses what was read here (the edit's own writes change none of it).
    record.__dict__[_TARGETS] = targets
    errors: dict[str, list[str]] = {}
    if actor.kind in PEOPLE:
        for name, reason in _locked(targets, creating, changed).items():
            if name in changed:
                errors.setdefault(name, []).append(reason)
    for target in targets.objects:
        if not _writes_record(target, creating):
            continue
        checked = [(name, sf_field) for name in changed for sf_field in target.writing.get(name, ())]
        sf_object = parsed_describe(target.describe) if checked and target.describe else None
        if sf_object is None:
            continue
        for name, sf_field in checked:
            sf = sf_object.fields.get(sf_field)
            if sf is None or sf.read_only_in_salesforce:
                continue
            error = salesforce_value_error(sf, changed[name])
            if error:
                errors.setdefault(name, []).append(f"Salesforce would refuse this value: {error}")
            error = picklist_value_error(sf, changed[name], target.sobject)
            if error:
                errors.setdefault(name, []).append(error)
    return errors


def _writes_record(target: _Target, creating: bool) -> bool:
    """Whether Rox writes the record to ``target``'s object: it is linked there (an update), or new entity writeback
    creates it there."""
    return target.new_entity_writeback or (not creating and target.linked)


def picklist_choices(record: Any, creating: bool = False) -> dict[str, Picklist]:
    """The fields of ``record`` chosen from a Salesforce picklist, by field key: those a writing rule sends to a
    picklist or multi-select picklist of an object Rox writes the record to (linked, or to be created there by new
    entity writeback, as ``change_errors`` checks), with the field's active values and default from the cached
    describe (no Salesforce call). The pages and the admin offer these values; ``change_errors`` refuses any other,
    restricted picklist or not. Values that depend on the record type are not told apart: every active value of
    the field is offered."""
    return field_rules(record, creating)[1]


def field_rules(record: Any, creating: bool = False) -> tuple[dict[str, str], dict[str, Picklist]]:
    """``locked_fields`` and ``picklist_choices`` of ``record`` from one read of where it is written: an edit form
    needs both, and each read is the same query."""
    if not _written_back(record):
        return {}, {}
    targets = _targets(record, creating=creating, describe=True)
    choices = _picklists(
        (target.sobject, target.describe, target.writing)
        for target in targets.objects
        if _writes_record(target, creating)
    )
    return _locked(targets, creating), choices


def picklists(organization: Any) -> dict[str, dict[str, Picklist]]:
    """Every Rox field a writing rule sends to a Salesforce picklist, by Rox object type and field key, with the
    picklist's active values and default from the cached describes: what ``picklist_choices`` offers on the records
    Rox writes to Salesforce (activities aside: the activity writeback fills Task and Event itself)."""
    rows = (
        FieldMapping.objects.filter(
            object_mapping__organization=organization,
            object_mapping__read_only=False,
            rule__in=FieldMapping.WRITING_RULES,
        )
        .exclude(object_mapping__rox_object="activity")
        .order_by("object_mapping__rox_object", "object_mapping__pk", "pk")
        .values_list("object_mapping__rox_object", "object_mapping__sobject", "rox_field", "sf_field")
    )
    writing: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {}
    for rox_object, sobject, rox_field, sf_field in rows:
        fields = writing.setdefault(rox_object, {}).setdefault(sobject, {})
        fields[rox_field] = (*fields.get(rox_field, ()), sf_field)
    if not writing:
        return {}
    described = DescribeCache.objects.filter(
        connection__organization=organization, connection__sf_org_id__gt=""
    ).values_list("sobject", "pk", "fetched_at")
    stamps = {sobject: (pk, at) for sobject, pk, at in described}
    found = {
        rox_object: _picklists((sobject, stamps.get(sobject), fields) for sobject, fields in objects.items())
        for rox_object, objects in writing.items()
    }
    return {rox_object: fields for rox_object, fields in found.items() if fields}


def _picklists(
    targets: Iterable[tuple[str, tuple[int, Any] | None, dict[str, tuple[str, ...]]]],
) -> dict[str, Picklist]:
    """Rox field key -> the Salesforce picklist its writing rules send it to, from ``(sobject, describe stamp,
    writing)``. A field sent to several picklists takes the values all of them have."""
    from integrations.schema import parsed_describe
    from mappings.validation import PICKLIST_TYPES

    found: dict[str, list[tuple[str, Any]]] = {}
    for sobject, describe, writing in targets:
        sf_object = parsed_describe(describe) if describe and writing else None
        if sf_object is None:
            continue
        for name, sf_fields in writing.items():
            for sf_field in sf_fields:
                sf = sf_object.fields.get(sf_field)
                if sf is None or sf.type not in PICKLIST_TYPES or not sf.picklist_values or sf.read_only_in_salesforce:
                    continue
                found.setdefault(name, []).append((sobject, sf))
    result: dict[str, Picklist] = {}
    for name, fields in found.items():
        first, *others = (sf for _, sf in fields)
        values = tuple(v for v in first.picklist_values if all(v in sf.picklist_values for sf in others))
        result[name] = Picklist(
            salesforce_field=", ".join(f"{sobject}.{sf.name}" for sobject, sf in fields),
            values=values,
            default=next((sf.picklist_default for _, sf in fields if sf.picklist_default in values), None),
            multiple=first.type == "multipicklist",
        )
    return result


def locked_fields(record: Any, creating: bool = False) -> dict[str, str]:
    """The fields of ``record`` that people may not change in Rox, by field key, each with the reason: the ones a
    mapping reads Read Only from Salesforce (and none writes back), on a record Salesforce holds (linked, or to be
    created there by new entity writeback), and on a record Salesforce already holds, the ones written to a field
    Salesforce sets only on create (a detail's master). Salesforce's value would replace a change made here, or
    the change could never be sent; the pages show them read-only and the edit path refuses changes to them."""
    if not _written_back(record):
        return {}
    return _locked(_targets(record, creating=creating, describe=not creating), creating)


def _locked(targets: _Targets, creating: bool, changed: Iterable[str] | None = None) -> dict[str, str]:
    """The fields people may not change, with the reason: those Read Only from Salesforce (on a record Salesforce
    holds), and, on a record already in Salesforce, those written to a field Salesforce sets only on create (a
    master-detail that cannot be reparented). ``changed``: only these fields are asked about (an edit), so a
    describe is read only for them."""
    written = {name for target in targets.objects for name in target.writing}
    locked: dict[str, str] = {}
    for target in targets.objects:
        if target.linked and not creating:
            for name, sf_fields in _create_only(target, changed).items():
                source = ", ".join(f"{target.sobject}.{f}" for f in sf_fields)
                locked[name] = (
                    f"Set when the record was created in Salesforce ({source}): Salesforce does not let it change "
                    "after, so it cannot be changed here."
                )
    for target in targets.objects:
        if not (target.linked or (creating and target.new_entity_writeback)):
            continue
        for name, sf_fields in target.reading.items():
            if name in written or name in locked:
                continue
            source = ", ".join(f"{target.sobject}.{f}" for f in sf_fields)
            locked[name] = (
                f"Read Only: this comes from Salesforce ({source}, mapped Read Only in CRM Mappings). Change it in "
                "Salesforce, or map it Read and Write."
            )
    return locked


def _create_only(target: _Target, changed: Iterable[str] | None) -> dict[str, tuple[str, ...]]:
    """Rox field key -> the Salesforce fields of ``target`` a writing rule sends it to that Salesforce sets only on
    create, from the cached describe (none known without one)."""
    from integrations.schema import parsed_describe

    names = [name for name in target.writing if changed is None or name in changed]
    sf_object = parsed_describe(target.describe) if names and target.describe else None
    if sf_object is None:
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for name in names:
        once = tuple(f for f in target.writing[name] if (sf := sf_object.fields.get(f)) is not None and sf.create_only)
        if once:
            found[name] = once
    return found


@dataclass(frozen=True)
class _Target:
    """A Salesforce object Rox writes the record to (a mapping that is not read-only), as the edit found it."""

    sobject: str
    new_entity_writeback: bool
    writing: dict[str, tuple[str, ...]]  # Rox field key -> the Salesforce fields a writing rule sends it to
    reading: dict[str, tuple[str, ...]]  # Rox field key -> the Salesforce fields a Read Only rule fills it from
    linked: bool  # the record has a live link to a record of the object
    has_failed: bool  # the record has failed outbox rows of the object (their fields go with its next write)
    describe: tuple[int, Any] | None  # the cached describe's (pk, fetched_at), when asked for


@dataclass(frozen=True)
class _Targets:
    creating: bool
    objects: list[_Target]
    connection_id: int | None


_TARGETS = "_writeback_targets"


def _targets(record: Any, *, creating: bool, describe: bool = False) -> _Targets:
    """Everything an edit needs to know about where the record is written, in one query: each object mapping that
    is not read-only with its writing field mappings, whether the record is linked there and has failed rows there,
    the cached describe (``describe``) and the organization's connection. An edit reads it once: change_errors
    leaves it on the record for the same edit's record_changed, which takes it (and reads it itself otherwise)."""
    left = record.__dict__.pop(_TARGETS, None)
    if left is not None and left.creating == creating:
        return left
    organization_id = record.organization_id
    # Every mapping of the record's object: those Rox writes to (not read-only), and those it only reads while
    # their sync is on (their Read Only fields are Salesforce's to change).
    mappings = ObjectMapping.objects.filter(organization_id=organization_id, rox_object=record.object_type).filter(
        Q(read_only=False) | Q(sync_enabled=True)
    )
    annotations: dict[str, Any] = {
        "connection_id": Subquery(
            SalesforceConnection.objects.filter(organization_id=organization_id).order_by().values("pk")[:1]
        )
    }
    if not creating:
        mine = {"organization_id": organization_id, "sobject": OuterRef("sobject"), "record_id": record.pk}
        annotations["linked"] = Exists(
            SalesforceLink.objects.filter(rox_object=record.object_type, deleted_at=None, **mine)
        )
        annotations["has_failed"] = Exists(OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED, **mine))
    if describe:
        described = DescribeCache.objects.filter(
            connection__organization_id=organization_id, connection__sf_org_id__gt="", sobject=OuterRef("sobject")
        ).order_by()
        annotations["describe_pk"] = Subquery(described.values("pk")[:1])
        annotations["describe_at"] = Subquery(described.values("fetched_at")[:1])
    rows = mappings.annotate(**annotations).values_list(
        "pk",
        "sobject",
        "read_only",
        "sync_enabled",
        "new_entity_writeback",
        "field_mappings__rox_field",
        "field_mappings__sf_field",
        "field_mappings__rule",
        *annotations,
    )
    by_mapping: dict[int, dict[str, Any]] = {}
    connection_id = None
    for pk, sobject, read_only, sync_enabled, new_entity_writeback, rox_field, sf_field, rule, *extra in rows:
        values = dict(zip(annotations, extra, strict=True))
        connection_id = values["connection_id"]
        target = by_mapping.setdefault(
            pk,
            {
                "sobject": sobject,
                "new_entity_writeback": new_entity_writeback and not read_only,
                "writing": {},
                "reading": {},
                "linked": bool(values.get("linked")),
                "has_failed": bool(values.get("has_failed")),
                "describe": (values["describe_pk"], values["describe_at"]) if values.get("describe_pk") else None,
            },
        )
        if rule in FieldMapping.WRITING_RULES and not read_only:
            target["writing"][rox_field] = (*target["writing"].get(rox_field, ()), sf_field)
        elif rox_field and sync_enabled and (read_only or rule == FieldMapping.Rule.READ_ONLY):
            target["reading"][rox_field] = (*target["reading"].get(rox_field, ()), sf_field)
    return _Targets(
        creating=creating, objects=[_Target(**target) for target in by_mapping.values()], connection_id=connection_id
    )


def _activity_changed(change: Any) -> None:
    """A Rox activity becomes (or updates) one Task or Event, if its type's switch is on."""
    from integrations.engine.plan import activity_sobject
    from mappings.models import ActivitySettings

    activity = change.record
    if activity.origin != "rox" or not (change.created or change.changes):
        return
    if not ActivitySettings.for_organization(activity.organization).writes(activity.type):
        return
    sobject = activity_sobject(activity.type)
    stamp = timezone.now().isoformat()
    fields = dict.fromkeys(change.changes or ["created"], stamp)
    enqueue(activity, sobject, OutboxEntry.Operation.UPDATE, fields, new_record=change.created)
    connection = SalesforceConnection.objects.filter(organization_id=activity.organization_id).only("pk").first()
    if connection is not None:
        _ask_on_commit(connection.pk, sobject)


def _ask_on_commit(connection_id: int, sobject: str) -> None:
    """Ask a worker for the object once the transaction commits: once per transaction, however many of its records
    changed (a request not yet made is found among the transaction's on-commit callbacks, which drop those of a
    rolled-back savepoint)."""
    db = transaction.get_connection()
    key = (connection_id, sobject)
    if db.in_atomic_block and any(
        isinstance(func, _AskWorker) and func.key == key and not func.done for _, func, _ in db.run_on_commit
    ):
        return
    transaction.on_commit(_AskWorker(key))


class _AskWorker:
    def __init__(self, key: tuple[int, str]) -> None:
        self.key = key
        self.done = False

    def __call__(self) -> None:
        self.done = True
        _ask_worker(*self.key)


def _ask_worker(connection_id: int, sobject: str) -> None:
    """Queue a writeback task for the object, unless one is already queued and has not started: a thousand edits
    committed in a burst make one or two tasks, not a thousand. A request older than ``WRITEBACK_REQUEST_STALE``
    seconds (its task lost, or the worker down) is asked again."""
    from django.conf import settings
    from django.db.models import Q
    from django_q.tasks import async_task

    from integrations.models import SyncCursor

    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.SALESFORCE_WRITEBACK_REQUEST_STALE)
    cursors = SyncCursor.objects.filter(connection_id=connection_id, sobject=sobject)
    asked = cursors.filter(Q(writeback_requested_at__isnull=True) | Q(writeback_requested_at__lt=stale)).update(
        writeback_requested_at=now
    )
    if not asked:
        if cursors.exists():
            return  # a task is queued and will find this change
        SyncCursor.objects.get_or_create(
            connection_id=connection_id, sobject=sobject, defaults={"writeback_requested_at": now}
        )
    async_task(
        "integrations.tasks.writeback_task", connection_id, sobject, task_name=f"writeback {sobject} {connection_id}"
    )


def remote_conflicts(record: Any, fields: list[str]) -> list[dict[str, Any]]:
    """Which of the edited ``fields`` (Rox keys) Salesforce changed since Rox last agreed with it: one live query
    for the record. Each conflict says Salesforce's new value, who changed it and when, and that value as Rox
    stores it (for "take Salesforce's"). Empty when not connected, not linked, or Salesforce cannot be reached."""
    from integrations.engine.plan import build_plan
    from integrations.salesforce import soql
    from integrations.salesforce.client import SalesforceClient
    from integrations.salesforce.errors import SalesforceError

    connection = SalesforceConnection.objects.filter(organization_id=record.organization_id).first()
    if connection is None or not connection.is_signed_in or connection.auth_refused:
        return []
    conflicts: list[dict[str, Any]] = []
    for link in SalesforceLink.objects.filter(
        organization_id=record.organization_id, rox_object=record.object_type, record_id=record.pk, deleted_at=None
    ):
        object_mapping = ObjectMapping.objects.filter(
            organization_id=record.organization_id, sobject=link.sobject
        ).first()
        plan = build_plan(object_mapping) if object_mapping else None
        if plan is None:
            continue
        edited = [fp for fp in plan.fields if fp.rox_key in fields and fp.kind not in ("managed",)]
        if not edited:
            continue
        select = ["Id", "LastModifiedDate", "LastModifiedBy.Name", *[s for fp in edited for s in fp.select]]
        try:
            rows = SalesforceClient(connection).query(
                soql.select(list(dict.fromkeys(select)), link.sobject, where=f"Id = {soql.literal(link.sf_id)}")
            )["records"]
        except SalesforceError:
            return []  # the save goes through; the writeback's pull-then-push still protects newer values
        if not rows:
            continue
        row = rows[0]
        for fp in edited:
            sf_value = fp.salesforce_value(row)
            if fp.sf_field in (link.shadow or {}) and sf_value != link.shadow[fp.sf_field]:
                conflicts.append(
                    {
                        "field": fp.rox_key,
                        "sf_field": fp.sf_field,
                        "sf_value": sf_value,
                        "by": (row.get("LastModifiedBy") or {}).get("Name", "someone"),
                        "at": row.get("LastModifiedDate"),
                        "rox_value": _as_rox(fp, sf_value),
                    }
                )
    return conflicts


def _as_rox(fp: Any, canonical: Any) -> Any:
    """A canonical Salesforce value as the edit form's field takes it (lookups and owners are left to the sync)."""
    from integrations.engine.values import python_value

    if fp.definition is not None:
        return canonical
    if fp.model_field is None or fp.kind in ("reference", "owner"):
        return None
    return python_value(fp.model_field, canonical)


def after_save(record: Any) -> str:
    """Right after a person saved: write this record's pending changes (and only those) to Salesforce now, and say
    how it went. When another run holds the object, the worker (asked when the edit committed) writes them and the
    person is told so: a backlog of other records never makes the request wait."""
    from integrations.engine.drain import drain
    from integrations.salesforce.errors import SalesforceError

    pending = OutboxEntry.objects.filter(
        organization_id=record.organization_id,
        rox_object=record.object_type,
        record_id=record.pk,
        state=OutboxEntry.State.PENDING,
    )
    sobjects = list(pending.values_list("sobject", flat=True).distinct())
    if not sobjects:
        return ""
    connection = SalesforceConnection.objects.filter(organization_id=record.organization_id).first()
    if connection is None or not connection.is_signed_in or connection.auth_refused:
        return "pending: Salesforce is not connected; the change waits and is written after reconnecting."
    for sobject in sobjects:
        try:
            result = drain(connection, sobject, record_ids=[record.pk])
        except SalesforceError as exc:
            return f"pending: {exc}"
        if result.skipped_reason:
            return f"pending: {result.skipped_reason}; the worker writes it shortly."
    entry = (
        OutboxEntry.objects.filter(
            organization_id=record.organization_id, rox_object=record.object_type, record_id=record.pk
        )
        .order_by("-updated_at")
        .first()
    )
    if entry is None or entry.state == OutboxEntry.State.DONE:
        return "written to Salesforce"
    if entry.state == OutboxEntry.State.FAILED:
        return f"not written: Salesforce said {entry.error_code}: {entry.error_message}"
    if entry.state == OutboxEntry.State.REVIEW:
        return "pending review: several Salesforce records match; an admin chooses in Sync health."
    return f"pending: {entry.error_message or 'retrying shortly'}"
