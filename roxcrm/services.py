"""The one edit path for CRM records.

Every change a person, the API or an agent makes to a record goes through ``record_create`` or ``record_update``:
they validate everything first (so a refused change writes nothing), save, bump the record's version, and record
for each changed field when it changed and who or what changed it (``field_times`` on the record, a
``FieldChange`` row per field). The writeback engine later reads exactly this to decide what to send to Salesforce
and which side changed a field last.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from roxcrm import hooks, objects
from roxcrm.custom_fields import clean_value, definitions_for
from roxcrm.models import (
    CrmRecord,
    CustomField,
    FieldChange,
    Invitation,
    Membership,
    ObjectDefinition,
    ObjectRecord,
    Organization,
    User,
    reserved_slugs,
)

R = TypeVar("R", bound=CrmRecord)
logger = logging.getLogger(__name__)

CUSTOM_PREFIX = "custom."


@dataclass(frozen=True)
class Actor:
    """Who or what makes a change. ``kind`` is one of ``FieldChange.ActorKind``."""

    kind: str
    user: User | None = None
    label: str = ""

    @classmethod
    def person(cls, user: User) -> Actor:
        return cls(kind=FieldChange.ActorKind.USER, user=user, label=user.email)

    @classmethod
    def system(cls, label: str) -> Actor:
        return cls(kind=FieldChange.ActorKind.SYSTEM, label=label)

    @property
    def is_sync(self) -> bool:
        return self.kind == FieldChange.ActorKind.SYNC


@dataclass
class RecordChange:
    """The outcome of an edit: the saved record and the fields that actually changed (old and new values)."""

    record: CrmRecord
    created: bool
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.created or bool(self.changes)


class StaleRecordError(Exception):
    """The record changed since the version the caller saw; ``current`` is the record as it is now."""

    def __init__(self, current: CrmRecord) -> None:
        super().__init__(f"{current} changed since you opened it (now version {current.version}).")
        self.current = current


def record_create(
    *,
    organization: Organization,
    model: type[R],
    values: dict[str, Any],
    custom_values: dict[str, Any] | None = None,
    actor: Actor,
    object_type: str | None = None,
) -> R:
    """Create a record of ``model`` in ``organization`` from ``values`` (model field names) and ``custom_values``
    (API names). Raises ``ValidationError`` and writes nothing when anything is invalid. A record of an added object
    (``ObjectRecord``) names its object with ``object_type`` (the definition's key)."""
    record = model(organization=organization)
    if isinstance(record, ObjectRecord):
        definition = ObjectDefinition.objects.filter(organization=organization, key=object_type or "").first()
        if definition is None or definition.archived_at is not None:
            raise ValidationError({"__all__": [f"There is no object “{object_type}” in this organization."]})
        record.definition, record.object_type = definition, definition.key
    with transaction.atomic():
        change = _apply(record=record, values=values, custom_values=custom_values or {}, actor=actor, creating=True)
    return change.record  # type: ignore[return-value]


def record_update(
    *,
    record: R,
    values: dict[str, Any] | None = None,
    custom_values: dict[str, Any] | None = None,
    actor: Actor,
    expected_version: int | None = None,
) -> RecordChange:
    """Change some fields of ``record``. Only fields whose value differs are saved and recorded.

    With ``expected_version``, raises ``StaleRecordError`` when the record moved on since that version, so a
    person or an agent never overwrites a change they did not see.
    """
    with transaction.atomic():
        # The organization comes with the record (the edit needs it), and only the record's row is locked.
        current = type(record).objects.select_for_update(of=("self",)).select_related("organization").get(pk=record.pk)
        if expected_version is not None and current.version != expected_version:
            raise StaleRecordError(current)
        reason = current.read_only_reason()
        if reason and actor.kind not in (FieldChange.ActorKind.SYNC, FieldChange.ActorKind.SYSTEM):
            raise ValidationError({"__all__": [reason]})
        change = _apply(
            record=current,
            values=values or {},
            custom_values=custom_values or {},
            actor=actor,
            creating=False,
        )
    return change


def _apply(
    *, record: CrmRecord, values: dict[str, Any], custom_values: dict[str, Any], actor: Actor, creating: bool
) -> RecordChange:
    organization = record.organization
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    changes: dict[str, tuple[Any, Any]] = {}

    editable = editable_fields(type(record))
    for name, value in values.items():
        if name not in editable:
            errors.setdefault(name, []).append(
                f"“{name}” is not a field of {type(record)._meta.verbose_name} that can be set."
            )
            continue
        model_field = editable[name]
        if isinstance(model_field, models.ForeignKey) and value is not None:
            error = foreign_key_error(model_field, value, organization)
            if error:
                errors.setdefault(name, []).append(error)
                continue
        old = _plain(model_field.value_from_object(record))
        setattr(record, name, value)
        new = _plain(model_field.value_from_object(record))
        if (creating and new not in (None, "")) or (not creating and old != new):
            changes[name] = (None if creating else old, new)

    # The definitions are needed for custom values given, and for a new record's required ones.
    definitions = (
        {d.api_name: d for d in definitions_for(organization, record.object_type)} if custom_values or creating else {}
    )
    new_custom = dict(record.custom_values or {})
    for api_name, value in custom_values.items():
        key = f"{CUSTOM_PREFIX}{api_name}"
        definition = definitions.get(api_name)
        if definition is None or not _may_see(definition, actor):
            errors.setdefault(key, []).append(f"There is no custom field “{api_name}” on this {record.object_type}.")
            continue
        old = new_custom.get(api_name)
        try:
            new = clean_value(definition, value)
        except ValidationError as exc:
            errors.setdefault(key, []).extend(exc.messages)
            continue
        if old == new:
            continue
        if not definition.editable_in_rox and not actor.is_sync:
            errors.setdefault(key, []).append(
                f"{definition.label} is read-only in Rox: only the Salesforce sync sets it."
            )
            continue
        if new is None:
            new_custom.pop(api_name, None)
        else:
            new_custom[api_name] = new
        changes[key] = (old, new)
    if creating:
        for definition in definitions.values():
            if (
                definition.required
                and definition.api_name not in new_custom
                and (definition.editable_in_rox or actor.is_sync)
                and _may_see(definition, actor)
            ):
                errors.setdefault(f"{CUSTOM_PREFIX}{definition.api_name}", []).append(
                    f"{definition.label} is required."
                )
    record.custom_values = new_custom

    try:
        if creating:
            record.full_clean()
        else:
            # Only what changed is validated again (unchanged foreign keys and unique values cost a query each).
            touched = {name for name in changes if not name.startswith(CUSTOM_PREFIX)}
            if len(touched) < len(changes):
                touched.add("custom_values")
            record.full_clean(exclude=[f.name for f in record._meta.concrete_fields if f.name not in touched])
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(m for m in messages if m not in errors.get(name, []))
    if changes and not actor.is_sync:
        for name, messages in hooks.change_errors(
            record, {k: new for k, (_, new) in changes.items()}, actor, creating
        ).items():
            errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)

    if not creating and not changes:
        return RecordChange(record=record, created=False)

    stamp = {"at": now.isoformat(), "by": actor.kind}
    record.field_times = {**(record.field_times or {}), **{name: stamp for name in changes}}
    record.updated_at = now
    if creating:
        record.created_at = now
        record.save()
    else:
        record.version += 1
        record.save()
    FieldChange.objects.bulk_create(
        FieldChange(
            organization=organization,
            object_type=record.object_type,
            record_id=record.pk,
            record_version=record.version,
            field=name,
            old_value=old,
            new_value=new,
            changed_at=now,
            actor_kind=actor.kind,
            actor_user=actor.user,
            actor_label=actor.label[:150],
        )
        for name, (old, new) in changes.items()
    )
    used = [name.removeprefix(CUSTOM_PREFIX) for name in changes if name.startswith(CUSTOM_PREFIX)]
    if used:
        CustomField.objects.filter(
            organization=organization, object_type=record.object_type, api_name__in=used, first_used_at=None
        ).update(first_used_at=now)
    result = RecordChange(record=record, created=creating, changes=changes)
    hooks.record_changed(result, actor)
    return result


def _may_see(definition: CustomField, actor: Actor) -> bool:
    """Private custom fields exist only for their creator (and for Rox's own processes, which act for everyone)."""
    if actor.kind in (FieldChange.ActorKind.SYNC, FieldChange.ActorKind.SYSTEM):
        return True
    return definition.visible_to(actor.user)


def editable_fields(model: type[CrmRecord]) -> dict[str, models.Field]:
    """The fields of ``model`` that the edit path accepts, by name."""
    return {
        f.name: f
        for f in model._meta.get_fields()
        if isinstance(f, models.Field) and f.editable and not f.primary_key and f.name != "organization"
    }


def foreign_key_error(model_field: models.ForeignKey, value: Any, organization: Organization) -> str | None:
    """Why ``value`` cannot be linked from a record of ``organization``, or ``None`` when it can."""
    target = model_field.related_model
    if not isinstance(value, target):
        return f"Expected a {target._meta.verbose_name}."
    if isinstance(value, CrmRecord) and value.organization_id != organization.pk:
        return f"That {target._meta.verbose_name} belongs to another organization."
    if isinstance(value, User) and not value.memberships.filter(organization=organization).exists():
        return "That person is not a member of this organization."
    return None


def _plain(value: Any) -> Any:
    """A value as JSON for the change history (and for comparing old with new)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


# ---------------------------------------------------------------------------------------------------------------
# Organizations, memberships, invitations, custom field definitions


class MembershipError(Exception):
    """A membership change that would leave the organization in a bad state (e.g. without an admin)."""


def organization_create(*, name: str, slug: str, user: User) -> Organization:
    """Create an organization with ``user`` as its first Organization Admin."""
    with transaction.atomic():
        organization = Organization.objects.create(name=name, slug=slug)
        Membership.objects.create(organization=organization, user=user, role=Membership.Role.ADMIN)
    return organization


def organization_create_allowed(*, user: User) -> bool:
    """Whether ``user`` may create organizations: anyone signed in, or only staff (``ORGANIZATION_CREATION``)."""
    return settings.ORGANIZATION_CREATION == "anyone" or user.is_staff


def unique_slug(name: str) -> str:
    """A slug for a new organization named ``name`` that no organization uses yet, in any case, and that is not
    reserved (``roxcrm.models.reserved_slugs``)."""
    base = slugify(name)[:50] or "organization"
    slug, n = base, 1
    reserved = reserved_slugs()
    while slug in reserved or Organization.objects.filter(slug__iexact=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def invitation_create(
    *, organization: Organization, email: str, role: str, invited_by: User, site_url: str | None = None
) -> Invitation:
    """Invite ``email`` to join ``organization`` with ``role`` and e-mail them the link once the invitation is
    saved. When the mail server cannot be reached the invitation stands (its link works) and
    ``invitation.mail_failed`` is set, so the inviting admin can pass ``invitation.link`` on. The link starts with
    ``site_url`` when given (the page's own address, in development), else ``SITE_URL``."""
    email = email.strip().lower()
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise MembershipError(f"{email} is already a member of {organization}.")
    with transaction.atomic():
        Invitation.objects.filter(organization=organization, email=email, accepted_at=None).delete()
        invitation = Invitation.objects.create(organization=organization, email=email, role=role, invited_by=invited_by)
    link = (site_url or settings.SITE_URL).rstrip("/") + reverse("invitation_accept", args=[invitation.token])
    # Sent after the commit, so the link in the e-mail always works, and before returning, so the admin is told.
    try:
        send_mail(
            subject=f"You are invited to {organization} on Rox",
            message=(
                f"{invited_by} invited you to join {organization} on Rox as "
                f"{invitation.get_role_display()}.\n\nAccept the invitation: {link}\n\n"
                f"The link works until {invitation.expires_at:%Y-%m-%d}."
            ),
            from_email=None,
            recipient_list=[email],
        )
        failed = False
    except OSError:  # smtplib's errors are OSErrors: refused, timed out, authentication, unknown host
        logger.exception("Could not send the invitation e-mail to %s", email)
        failed = True
    invitation.link, invitation.mail_failed = link, failed  # type: ignore[attr-defined]
    return invitation


def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Make ``user`` a member as the invitation says. The invitation must be open and addressed to them."""
    if not invitation.is_open:
        raise MembershipError("This invitation has expired or was already used.")
    if invitation.email.lower() != user.email.lower():
        raise MembershipError(f"This invitation was sent to {invitation.email}; you are signed in as {user.email}.")
    with transaction.atomic():
        membership, _ = Membership.objects.get_or_create(
            organization=invitation.organization, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def membership_set_role(*, membership: Membership, role: str) -> Membership:
    """Change a member's role; an organization always keeps at least one admin."""
    with transaction.atomic():
        if membership.role == Membership.Role.ADMIN and role != Membership.Role.ADMIN:
            _ensure_another_admin(membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def membership_remove(*, membership: Membership) -> None:
    """Remove a member from the organization (their user account stays); never the last admin."""
    with transaction.atomic():
        if membership.role == Membership.Role.ADMIN:
            _ensure_another_admin(membership)
        membership.delete()


def _ensure_another_admin(membership: Membership) -> None:
    admins = Membership.objects.select_for_update().filter(
        organization_id=membership.organization_id, role=Membership.Role.ADMIN
    )
    if not admins.exclude(pk=membership.pk).exists():
        raise MembershipError("An organization needs at least one admin: make someone else an admin first.")


def custom_field_save(*, field: CustomField, user: User) -> CustomField:
    """Save a validated custom field definition (``full_clean`` already ran in its form or the admin)."""
    if field.pk is None:
        field.created_by = user
        last = CustomField.objects.filter(organization=field.organization, object_type=field.object_type)
        field.position = (last.aggregate(models.Max("position"))["position__max"] or 0) + 1
    elif field.first_used_at:
        stored = CustomField.objects.values_list("api_name", flat=True).get(pk=field.pk)
        if stored != field.api_name:
            raise ValidationError({"api_name": "The API name cannot change once records hold values under it."})
    field.save()
    return field


def custom_field_delete(*, field: CustomField) -> int:
    """Delete a definition and remove its values from every record of its object type, in one statement.
    Returns how many records held a value."""
    table = record_model(field.object_type)._meta.db_table
    # Added objects share one table: only this object's records lose the value (another may use the same name).
    same_object, object_args = "", []
    if not objects.is_standard(field.object_type):
        same_object, object_args = " AND object_type = %s", [field.object_type]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET custom_values = custom_values - %s "
                f"WHERE organization_id = %s AND custom_values ? %s{same_object}",
                [field.api_name, field.organization_id, field.api_name, *object_args],
            )
        else:
            path = f'$."{field.api_name}"'
            cursor.execute(
                f"UPDATE {table} SET custom_values = json_remove(custom_values, %s) "
                f"WHERE organization_id = %s AND json_type(custom_values, %s) IS NOT NULL{same_object}",
                [path, field.organization_id, path, *object_args],
            )
        cleared = cursor.rowcount
        field.delete()
    return cleared


def record_model(object_type: str) -> type[CrmRecord]:
    """The model of an object's records (``roxcrm.objects.record_model``: an added object's is ``ObjectRecord``)."""
    return objects.record_model(object_type)
