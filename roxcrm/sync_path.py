"""The sync engine's way of saving records: in batches (one statement per batch, not per row), validated field by
field with the same model rules as the edit path, stamping field change times as "sync", and never writing the
outbox — so a value pulled from Salesforce is not pushed back to it.

Every change the engine makes to a record goes through here (inbound pages, late parent links, merges, formula
refreshes, deletions and restorations seen from Salesforce): the rows are locked (``SELECT ... FOR UPDATE``), and
``version``, ``updated_at``, the field change times and the history move, so a form opened before the change and
saved after it is refused as stale instead of undoing it, and ``updated_since`` shows it.

People, the API and agents use ``roxcrm.services`` instead.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core import validators
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from roxcrm.bulk import Builder, bulk_insert, bulk_update
from roxcrm.models import CrmRecord, FieldChange, Organization
from roxcrm.services import CUSTOM_PREFIX

SYNC = FieldChange.ActorKind.SYNC


@dataclass
class SyncChange:
    """New values for one record: model fields by name and custom values by API name (``None`` clears)."""

    record: CrmRecord
    values: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    old: dict[str, Any] = field(default_factory=dict)


def model_value_error(model_field: models.Field, value: Any) -> str | None:
    """Why ``value`` cannot be stored in ``model_field`` (the model's own validation), or None."""
    if isinstance(model_field, models.ForeignKey):
        return None
    if value is None or value == "":
        if _blank_allowed(model_field, value):
            return None  # what full validation concludes for an allowed blank (validators never see blanks)
    else:
        limit, choices = _plain_text_limit(model_field)
        if (
            limit is not None
            and isinstance(value, str)
            and len(value) <= limit
            and "\x00" not in value
            and (choices is None or value in choices)
        ):
            return None  # what full validation would conclude, for the most common case, without its machinery
    try:
        model_field.clean(value, None)
    except ValidationError as exc:
        return f"{model_field.verbose_name}: {' '.join(exc.messages)}"
    return None


@functools.cache
def _plain_text_limit(model_field: models.Field) -> tuple[int | None, frozenset[str] | None]:
    """For a text field whose only validation is its length and its choices (no format): the maximum length and
    the choices' values (None: any text). Other fields: (None, None)."""
    if type(model_field) not in (models.CharField, models.TextField):
        return None, None
    allowed = (validators.MaxLengthValidator, validators.ProhibitNullCharactersValidator)
    if any(not isinstance(v, allowed) for v in model_field.validators):
        return None, None
    choices = frozenset(str(key) for key, _ in model_field.flatchoices) if model_field.choices else None
    return model_field.max_length or 10**9, choices


def _blank_allowed(model_field: models.Field, value: str | None) -> bool:
    """Whether full validation accepts a blank (``None`` or ``""``) in this field: no validator runs on blanks,
    only the field's ``blank`` and ``null``; ``""`` is a blank only for text fields."""
    if value == "" and not isinstance(model_field, models.CharField | models.TextField):
        return False
    return model_field.blank and (value is not None or model_field.null)


def _field_name(model: type[CrmRecord], key: str) -> str:
    """``account_id`` → ``account``: change times and history use field names, as the edit path does."""
    if key.endswith("_id"):
        for model_field in model._meta.concrete_fields:
            if model_field.is_relation and model_field.attname == key:
                return model_field.name
    return key


def records_sync_create(
    *,
    organization: Organization,
    model: type[CrmRecord],
    rows: Iterable[tuple[dict[str, Any], dict[str, Any]]],
    at: dt.datetime,
) -> list[CrmRecord]:
    """Create records from (values by attname, custom values) pairs already validated by the caller; returns them
    saved, in order. Derived fields (an account's domain) are computed as the edit path computes them."""
    records = []
    builder = Builder(model, organization=organization)
    for values, custom in rows:
        # No field change times: nothing in Rox changed these values (only people's and agents' changes count).
        record = builder.build(
            {
                **values,
                "organization_id": organization.pk,
                "custom_values": {k: v for k, v in custom.items() if v is not None},
                "created_at": at,
                "updated_at": at,
            }
        )
        _derive(record)
        records.append(record)
    return bulk_insert(model, records)


def records_sync_update(*, model: type[CrmRecord], changes: list[SyncChange], at: dt.datetime, label: str) -> None:
    """Apply changes in bulk: bump versions, stamp change times, and record each field's history. The caller holds
    the rows' locks and read them under it (``records_locked``), in the transaction that calls this."""
    if not changes:
        return
    stamp = {"at": at.isoformat(), "by": SYNC}
    fields: set[str] = {"version", "updated_at", "field_times"}
    history = []
    for change in changes:
        record = change.record
        for name, value in change.values.items():
            setattr(record, name, value)
            fields.add(name)
        if change.custom:
            custom = dict(record.custom_values or {})
            for name, value in change.custom.items():
                if value is None:
                    custom.pop(name, None)
                else:
                    custom[name] = value
            record.custom_values = custom
            fields.add("custom_values")
        changed_names = [*change.values, *(CUSTOM_PREFIX + k for k in change.custom)]
        named = [_field_name(model, name) for name in changed_names]
        record.field_times = {**(record.field_times or {}), **dict.fromkeys(named, stamp)}
        record.version += 1
        record.updated_at = at
        if _derive(record):
            fields.add("domain")
        history.extend(
            _history(
                record,
                label_name,
                change.old.get(name),
                _json(change.values[name] if name in change.values else change.custom[name[len(CUSTOM_PREFIX) :]]),
                at,
                label,
            )
            for name, label_name in zip(changed_names, named, strict=True)
        )
    bulk_update(model, [c.record for c in changes], sorted(fields))
    bulk_insert(FieldChange, history)


def records_locked(model: type[CrmRecord], record_ids: Iterable[int]) -> list[CrmRecord]:
    """These records, read under their row locks (in id order, so two jobs never wait for each other in a cycle).
    Call inside a transaction; the locks last until it ends."""
    return list(model.objects.select_for_update().filter(pk__in=list(record_ids)).order_by("pk"))


def records_sync_set(
    *, model: type[CrmRecord], record_ids: Iterable[int], values: dict[str, Any], at: dt.datetime, label: str
) -> int:
    """Set the same model values (by attname) on these records, where they differ, through the one engine write
    path. Returns how many records changed."""
    with transaction.atomic():
        changes = []
        for record in records_locked(model, record_ids):
            differing = {name: value for name, value in values.items() if getattr(record, name) != value}
            if differing:
                old = {name: _json(getattr(record, name)) for name in differing}
                changes.append(SyncChange(record=record, values=differing, old=old))
        records_sync_update(model=model, changes=changes, at=at, label=label)
    return len(changes)


def records_sync_add_custom(
    *, model: type[CrmRecord], record_id: int, custom: dict[str, Any], at: dt.datetime, label: str
) -> bool:
    """Give a record the custom values it lacks (a merge's survivor keeps its own); True when it gained any."""
    with transaction.atomic():
        locked = records_locked(model, [record_id])
        if not locked:
            return False
        missing = {k: v for k, v in custom.items() if k not in (locked[0].custom_values or {})}
        if missing:
            records_sync_update(model=model, changes=[SyncChange(record=locked[0], custom=missing)], at=at, label=label)
    return bool(missing)


def records_mark_removed(*, model: type[CrmRecord], record_ids: list[int], reason: str, at: dt.datetime) -> int:
    """Hide records Salesforce deleted or merged away (never deleted in Rox), as a change of the record."""
    return _set_removed(model, record_ids, at, reason)


def records_restore(*, model: type[CrmRecord], record_ids: list[int], at: dt.datetime | None = None) -> int:
    """Show again records Salesforce restored from its recycle bin."""
    return _set_removed(model, record_ids, at or timezone.now(), None)


def _set_removed(model: type[CrmRecord], record_ids: list[int], at: dt.datetime, reason: str | None) -> int:
    with transaction.atomic():
        records = [r for r in records_locked(model, record_ids) if (r.removed_at is None) == (reason is not None)]
        history = []
        for record in records:
            old = _json(record.removed_at)
            record.removed_at, record.removed_reason = (at, reason) if reason is not None else (None, "")
            record.version += 1
            record.updated_at = at
            history.append(
                _history(record, "removed_at", old, _json(record.removed_at), at, reason or "Restored in Salesforce")
            )
        bulk_update(model, records, ["removed_at", "removed_reason", "version", "updated_at"])
        bulk_insert(FieldChange, history)
    return len(records)


def _history(record: CrmRecord, name: str, old: Any, new: Any, at: dt.datetime, label: str) -> FieldChange:
    """One row of the record's history for a change the sync made (after its version moved)."""
    return FieldChange(
        organization_id=record.organization_id,
        object_type=record.object_type,
        record_id=record.pk,
        record_version=record.version,
        field=name,
        old_value=old,
        new_value=new,
        changed_at=at,
        actor_kind=SYNC,
        actor_label=label,
    )


def _derive(record: CrmRecord) -> bool:
    """Fields Rox derives from others, kept in step on the sync path too. Returns whether one changed."""
    if hasattr(record, "domain"):
        from roxcrm.domains import normalize_domain

        domain = normalize_domain(record.website)  # type: ignore[attr-defined]
        if domain != record.domain:  # type: ignore[attr-defined]
            record.domain = domain  # type: ignore[attr-defined]
            return True
    return False


def _json(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "as_tuple"):
        return format(value.normalize(), "f")
    return value
