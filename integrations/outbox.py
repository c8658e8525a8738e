"""The outbox: Rox changes waiting to be written to Salesforce, one open row per record and operation.

This module is the only code that changes a row's state, for records and activities alike:

    enqueue (the edit's transaction) → pending → claim → in flight → done
                                                                   → pending again (retry later, with backoff)
                                                                   → failed (Salesforce refused it; shown with
                                                                     its error until it is retried, written with
                                                                     the record's next edit, or discarded)
                                                                   → review (several matches for a new record)

A field change leaves the outbox only when Salesforce has it or a person discarded it: a failed row is carried into
the record's next edit (so that edit sends it again) and its error stays open until a write of the record leaves
no failed row behind.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Subquery
from django.utils import timezone

from integrations.models import OutboxEntry, SalesforceLink, SyncError, SyncRun

# A transient failure (lock, timeout, parent not yet in Salesforce) is retried this many times, with backoff, before
# the row is failed and shown; the same for records and activities.
MAX_ATTEMPTS = 10
OPEN = (OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT, OutboxEntry.State.FAILED, OutboxEntry.State.REVIEW)


def enqueue(
    record: Any,
    sobject: str,
    operation: str,
    fields: dict[str, str],
    not_before: dt.datetime | None = None,
    *,
    new_record: bool = False,
    look_for_failed: bool = True,
) -> OutboxEntry:
    """Add the change to the record's pending row (one per record and operation), or open one, in the edit's
    transaction. A failed row of the record is carried into it (its fields, and its error until written), so the
    record's next edit sends the refused change again rather than leaving it behind. A record created in this
    transaction (``new_record``) has no row yet, so none is looked for; ``look_for_failed=False`` says the caller
    found, in this transaction, that the record has no failed row of the object, so only its pending row is read."""
    identity = {
        "organization_id": record.organization_id,
        "sobject": sobject,
        "record_id": record.pk,
        "operation": operation,
    }

    def open_row(with_fields: dict[str, str], **extra: Any) -> OutboxEntry:
        return OutboxEntry.objects.create(
            rox_object=record.object_type, fields=with_fields, not_before=not_before, **identity, **extra
        )

    if new_record:
        return open_row(fields)
    # Each read is one index look-up: the pending row by the one-pending constraint's index, the failed rows by the
    # object's failed rows (a read of both states at once could use neither, and read every row of the object).
    pending = OutboxEntry.objects.select_for_update().filter(state=OutboxEntry.State.PENDING, **identity)
    entry = pending.first()
    failed = (
        list(OutboxEntry.objects.select_for_update().filter(state=OutboxEntry.State.FAILED, **identity).order_by("pk"))
        if look_for_failed
        else []
    )
    carried: dict[str, str] = {}
    for old in failed:
        carried.update(old.fields)
    last_error = {"error_code": failed[-1].error_code, "error_message": failed[-1].error_message} if failed else {}
    if entry is None:
        try:
            with transaction.atomic():
                entry = open_row({**carried, **fields}, **last_error)
        except IntegrityError:
            entry = pending.get()  # another transaction opened it a moment ago
    if entry.fields != {**carried, **entry.fields, **fields}:
        entry.fields = {**carried, **entry.fields, **fields}
        entry.save(update_fields=["fields", "updated_at"])
    if failed:
        OutboxEntry.objects.filter(pk__in=[old.pk for old in failed]).delete()
    return entry


def claim(
    organization_id: int, sobject: str, limit: int, *, record_ids: Iterable[int] | None = None
) -> list[OutboxEntry]:
    """Mark up to ``limit`` ready rows of the object (of only ``record_ids``' records, when given) in flight, oldest
    first, and return them. The caller holds the object's run lock, so no other drain claims them; the state
    condition still refuses rows another path (a discard) took."""
    now = timezone.now()
    mine = {"organization_id": organization_id, "sobject": sobject}
    ready = OutboxEntry.objects.filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now), state=OutboxEntry.State.PENDING, **mine
    )
    if record_ids is not None:
        ready = ready.filter(record_id__in=list(record_ids))
    OutboxEntry.objects.filter(pk__in=Subquery(ready.order_by("id").values("pk")[:limit])).update(
        state=OutboxEntry.State.IN_FLIGHT, in_flight_since=now, attempts=F("attempts") + 1
    )
    claimed = OutboxEntry.objects.filter(state=OutboxEntry.State.IN_FLIGHT, in_flight_since=now, **mine)
    # Columns a drain never reads stay in the database (a deferred column still loads if something asks for it).
    return list(claimed.defer("candidates", "error_fields", "created_at", "updated_at", "done_at").order_by("id"))


def release_stuck(organization_id: int, sobject: str | None = None) -> int:
    """Rows left in flight by a worker that died are pending again. With ``sobject``, the caller holds that object's
    run lock, so every row of it still in flight is a dead run's and is released at once; without, rows in flight
    longer than ``SALESFORCE_RUN_TIMEOUT`` are."""
    stuck = OutboxEntry.objects.filter(organization_id=organization_id, state=OutboxEntry.State.IN_FLIGHT)
    if sobject is None:
        stuck = stuck.filter(in_flight_since__lt=timezone.now() - dt.timedelta(seconds=settings.SALESFORCE_RUN_TIMEOUT))
    else:
        stuck = stuck.filter(sobject=sobject)
    try:
        with transaction.atomic():
            return stuck.update(state=OutboxEntry.State.PENDING, in_flight_since=None)
    except IntegrityError:
        # A record edited again after the worker died has a newer pending row already.
        entries = list(stuck)
        for entry in entries:
            requeue(entry)
        return len(entries)


def requeue(entry: OutboxEntry, **changes: Any) -> None:
    """Put a claimed (in flight) row back to pending, with ``changes`` (not_before, the error).

    There is one pending row per record and operation, and an edit made while this row was in flight opened a new
    one: then this row's fields are merged into that row, which writes them together with the newer ones, and this
    row is deleted. A row no longer in flight (written, failed, discarded meanwhile) is left as it is."""
    for _ in range(3):
        try:
            with transaction.atomic():
                OutboxEntry.objects.filter(pk=entry.pk, state=OutboxEntry.State.IN_FLIGHT).update(
                    state=OutboxEntry.State.PENDING, in_flight_since=None, **changes
                )
            return
        except IntegrityError:
            pass
        with transaction.atomic():
            claimed = OutboxEntry.objects.select_for_update().filter(pk=entry.pk, state=OutboxEntry.State.IN_FLIGHT)
            newer = OutboxEntry.objects.select_for_update().filter(
                organization_id=entry.organization_id,
                sobject=entry.sobject,
                record_id=entry.record_id,
                operation=entry.operation,
                state=OutboxEntry.State.PENDING,
            )
            mine, theirs = claimed.first(), newer.first()
            if mine is None:
                return
            if theirs is None:
                continue  # claimed by another drain meanwhile: this row may be pending again now
            theirs.fields = {**mine.fields, **theirs.fields}
            theirs.save(update_fields=["fields", "updated_at"])
            mine.delete()
            return


def back_to_pending(entries: list[OutboxEntry], delay: dt.timedelta | None, exc: Exception) -> None:
    """A failure of the whole call: every claimed row still in flight waits and is tried again (with backoff);
    rows already written, failed or retried before the failure keep their state."""
    still = OutboxEntry.objects.filter(pk__in=[e.pk for e in entries], state=OutboxEntry.State.IN_FLIGHT)
    in_flight = set(still.values_list("pk", flat=True))
    waiting = [entry for entry in entries if entry.pk in in_flight]
    for entry in waiting:
        entry.state = OutboxEntry.State.PENDING
        entry.not_before = timezone.now() + (delay or backoff(entry.attempts))
        entry.in_flight_since = None
        entry.error_code = getattr(exc, "code", "") or exc.__class__.__name__
        entry.error_message = str(exc)
    columns = ["state", "not_before", "in_flight_since", "error_code", "error_message"]
    try:
        with transaction.atomic():
            OutboxEntry.objects.bulk_update(waiting, columns, batch_size=500)
    except IntegrityError:
        # Some records were edited during this drain and have a newer pending row: merge into it, one by one.
        for entry in waiting:
            requeue(entry, not_before=entry.not_before, error_code=entry.error_code, error_message=entry.error_message)


def backoff(attempts: int) -> dt.timedelta:
    base = min(5 * 2 ** max(attempts - 1, 0), 15 * 60)
    return dt.timedelta(seconds=base * (0.5 + random.random()) * settings.SALESFORCE_RETRY_SCALE)


def retry_later(entry: OutboxEntry, *, run: SyncRun, code: str, message: str) -> bool:
    """A transient failure of one row: pending again after a backoff, or, past ``MAX_ATTEMPTS``, failed and shown.
    Returns whether it will be retried."""
    if entry.attempts >= MAX_ATTEMPTS:
        fail(entry, run=run, code=code, message=f"Gave up after {entry.attempts} attempts: {message}")
        return False
    requeue(entry, not_before=timezone.now() + backoff(entry.attempts), error_code=code, error_message=message)
    return True


def fail(entry: OutboxEntry, *, run: SyncRun | None, code: str, message: str, fields: Iterable[str] = ()) -> None:
    """A permanent error: no retry. The row and its error are shown in Sync health until the row is retried,
    carried into the record's next edit and written, or discarded. The record's earlier open error is replaced by
    this one (one current error per record)."""
    fields = list(fields)
    now = timezone.now()
    record = {"organization_id": entry.organization_id, "rox_object": entry.rox_object, "record_id": entry.record_id}
    with transaction.atomic():
        OutboxEntry.objects.filter(pk=entry.pk).update(
            state=OutboxEntry.State.FAILED,
            in_flight_since=None,
            error_code=code,
            error_message=message,
            error_fields=fields,
            updated_at=now,
        )
        sf_id = SalesforceLink.objects.filter(sobject=entry.sobject, **record).values_list("sf_id", flat=True).first()
        SyncError.objects.filter(direction="outbound", sobject=entry.sobject, resolved_at=None, **record).update(
            resolved_at=now
        )
        SyncError.objects.create(
            run=run,
            direction="outbound",
            sobject=entry.sobject,
            sf_id=sf_id or "",
            code=code,
            message=message,
            fields=fields,
            **record,
        )


def review(entry: OutboxEntry, candidates: list[dict[str, str]]) -> None:
    """A new record matched several Salesforce records: an admin chooses one, or a new one, in Sync health."""
    OutboxEntry.objects.filter(pk=entry.pk).update(
        state=OutboxEntry.State.REVIEW,
        in_flight_since=None,
        candidates=candidates,
        error_message=f"{len(candidates)} Salesforce records match; choose one or create a new one.",
        updated_at=timezone.now(),
    )


def done(entries: list[OutboxEntry], *, batch: Any = None) -> None:
    """Salesforce has them."""
    if not entries:
        return
    OutboxEntry.objects.filter(pk__any=[e.pk for e in entries]).update(
        state=OutboxEntry.State.DONE,
        done_at=timezone.now(),
        in_flight_since=None,
        error_code="",
        error_message="",
        batch=batch,
    )


def dropped(entry: OutboxEntry, reason: str) -> None:
    """Nothing to write any more, by the engine's decision (the activity is gone, its type's switch is off)."""
    OutboxEntry.objects.filter(pk=entry.pk).update(
        state=OutboxEntry.State.DISCARDED, in_flight_since=None, error_message=reason, updated_at=timezone.now()
    )


def open_error_ids(organization: Any, **filters: Any) -> set[int]:
    """Rox records with an unresolved writeback error (to be resolved when written), read once per drain so that
    a chunk's recording only touches errors that exist."""
    return set(
        SyncError.objects.filter(
            organization=organization, direction="outbound", resolved_at=None, **filters
        ).values_list("record_id", flat=True)
    )


def resolve_errors(organization: Any, sobject: str, rox_object: str, record_ids: Iterable[int]) -> None:
    """Records just written: their writeback errors are over, except where a failed row of the record is still
    waiting (an edit made while it was being sent is written on its own; the refused change is not)."""
    ids = set(record_ids)
    if not ids:
        return
    ids -= set(
        OutboxEntry.objects.filter(
            organization=organization, sobject=sobject, record_id__in=ids, state=OutboxEntry.State.FAILED
        ).values_list("record_id", flat=True)
    )
    if ids:
        SyncError.objects.filter(
            organization=organization,
            direction="outbound",
            sobject=sobject,
            rox_object=rox_object,
            record_id__in=ids,
            resolved_at=None,
        ).update(resolved_at=timezone.now())


def retry(entry: OutboxEntry) -> None:
    """An admin's Retry, after a fix (in Salesforce or in Rox): try a failed row again now. When the record was
    edited since, its newer pending row takes this row's fields as well and this one goes. Its error stays open
    until the record is written."""
    with transaction.atomic():
        newer = (
            OutboxEntry.objects.select_for_update()
            .filter(
                organization_id=entry.organization_id,
                sobject=entry.sobject,
                record_id=entry.record_id,
                operation=entry.operation,
                state=OutboxEntry.State.PENDING,
            )
            .exclude(pk=entry.pk)
            .first()
        )
        if newer is None:
            entry.state = OutboxEntry.State.PENDING
            entry.not_before = None
            entry.attempts = 0
            entry.save(update_fields=["state", "not_before", "attempts", "updated_at"])
        else:
            newer.fields = {**entry.fields, **newer.fields}
            newer.not_before = None
            newer.save(update_fields=["fields", "not_before", "updated_at"])
            entry.delete()


def discard(entry: OutboxEntry) -> None:
    """An admin gives up on a row: the Rox change stays in Rox, Salesforce keeps its value, and the record's
    writeback error is closed."""
    with transaction.atomic():
        entry.state = OutboxEntry.State.DISCARDED
        entry.save(update_fields=["state", "updated_at"])
        SyncError.objects.filter(
            organization_id=entry.organization_id,
            direction="outbound",
            sobject=entry.sobject,
            rox_object=entry.rox_object,
            record_id=entry.record_id,
            resolved_at=None,
        ).update(resolved_at=timezone.now())


def resolve_review(entry: OutboxEntry, choice: str) -> None:
    """An admin's decision for a new record that matched several Salesforce records: link it to one of them
    (``choice`` is its Id), or create a new one (``choice`` is ``"new"``). ValueError for any other choice."""
    if choice == "new":
        entry.state, entry.candidates, entry.not_before = OutboxEntry.State.PENDING, [], None
        entry.error_message = "An admin chose to create a new record."
        # The create must not match again: it goes out as a plain create.
        entry.fields = {**entry.fields, "__create_new__": timezone.now().isoformat()}
        entry.save(update_fields=["state", "candidates", "not_before", "error_message", "fields", "updated_at"])
        return
    if choice not in {c["id"] for c in entry.candidates}:
        raise ValueError("Choose one of the matching records.")
    taken = SalesforceLink.objects.filter(
        organization_id=entry.organization_id, sobject=entry.sobject, sf_id=choice
    ).first()
    if taken is not None and taken.record_id != entry.record_id:
        raise ValueError(
            f"{choice} is already linked to another Rox record, so this one duplicates it: discard it, or create a "
            "new Salesforce record."
        )
    with transaction.atomic():
        SalesforceLink.objects.get_or_create(
            organization_id=entry.organization_id,
            sobject=entry.sobject,
            sf_id=choice,
            defaults={
                "rox_object": entry.rox_object,
                "record_id": entry.record_id,
                "synced_at": timezone.now(),
                "shadow": {},
            },
        )
        entry.state, entry.done_at = OutboxEntry.State.DONE, timezone.now()
        entry.error_message = f"Linked to {choice} by an admin."
        entry.save(update_fields=["state", "done_at", "error_message", "updated_at"])
