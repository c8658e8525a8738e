"""What the API does: tokens (create, revoke, authenticate, rate-limit) and reading and writing records for a token.

Every write goes through ``roxcrm.services.record_create`` / ``record_update`` with the token as the actor, so an
API edit is validated, versioned, recorded and synced exactly like a person's edit on the pages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import re
import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from activities.models import Activity
from api.models import ActivityExternalId, ApiToken
from api.resources import RESOURCES, Resource, added_object_resource, external_id_of, shown_value
from api.schemas import ActivityIn, ListFilters, RecordIn
from integrations.sync_state import records_sync_state
from roxcrm import hooks
from roxcrm.custom_fields import definitions_for
from roxcrm.models import Contact, CrmRecord, CustomField, Lead, Membership, ObjectDefinition, Organization, User
from roxcrm.objects import record_by_code, records_of
from roxcrm.services import CUSTOM_PREFIX, Actor, editable_fields, record_create, record_update

SECRET_PREFIX = "rox"
_PREFIX_RE = re.compile(r"^[0-9a-f]{12}$")
RATE_WINDOW = dt.timedelta(minutes=1)
CURSOR_SALT = "api.cursor"


class RecordNotFound(LookupError):
    """No record with that code in the token's organization (another organization's record looks the same)."""


class RecordReadOnly(Exception):
    """The record is in a state in which Rox does not change it (it belongs to Salesforce)."""


class ExternalIdConflict(Exception):
    """An activity was already posted with this ``external_id``, with different content."""


class TokenNotReissued(Exception):
    """The token cannot be re-issued (it still works, or it was revoked already); the message says which."""


# ---------------------------------------------------------------------------------------------------------------
# Tokens


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(
    *, organization: Organization, name: str, kind: str, scope: str, created_by: User
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is not stored and cannot be shown again."""
    prefix = secrets.token_hex(6)
    secret = f"{SECRET_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        organization=organization,
        name=name,
        kind=kind,
        scope=scope,
        prefix=prefix,
        secret_hash=_digest(secret),
        created_by=created_by,
    )
    return token, secret


def token_revoke(*, token: ApiToken) -> ApiToken:
    """Stop a token from working, from its next request on. Revoking twice keeps the first time."""
    ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    return token


def _creator_is_member() -> Exists:
    return Exists(
        Membership.objects.filter(organization_id=OuterRef("organization_id"), user_id=OuterRef("created_by_id"))
    )


def tokens_of(*, organization: Organization) -> QuerySet[ApiToken]:
    """The organization's tokens for its tokens page, with what ``ApiToken.stopped_reason`` needs (no query each)."""
    return (
        ApiToken.objects.filter(organization=organization)
        .select_related("created_by")
        .annotate(creator_is_member=_creator_is_member())
    )


def token_reissue(*, token: ApiToken, by: User) -> tuple[ApiToken, str]:
    """Replace a token that died with its creator by a new one with its name, kind and scope, created by ``by``
    (now the person it acts for), and revoke the dead one. Returns the new token and its secret, shown once.

    Only a dead token is re-issued: a working one is revoked or replaced on purpose, not as a side effect.
    """
    if token.revoked_at is None and not token.stopped_reason:
        raise TokenNotReissued(
            f"Token “{token.name}” still works, so it was not re-issued. To change its secret, create a new token "
            "and revoke this one."
        )
    with transaction.atomic():
        # Conditional, so that a second click, a reloaded page or two admins at once re-issue it only once.
        if not ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now()):
            raise TokenNotReissued(f"Token “{token.name}” was already revoked (or re-issued); nothing was changed.")
        return token_create(
            organization=token.organization, name=token.name, kind=token.kind, scope=token.scope, created_by=by
        )


def token_authenticate(*, secret: str) -> ApiToken | None:
    """The live token whose secret this is, or ``None``.

    Live means not revoked and its creator still an active member of its organization: a token acts for the person
    who created it, so it dies the moment they leave or are deactivated (``ApiToken.stopped_reason`` says so on the
    tokens page). Checked in the same single query that finds the token, so it costs a request nothing more.
    """
    parts = secret.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != SECRET_PREFIX or not _PREFIX_RE.match(parts[1]):
        return None
    token = (
        ApiToken.objects.select_related("organization", "created_by")
        .filter(_creator_is_member(), prefix=parts[1], revoked_at=None, created_by__is_active=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.secret_hash, _digest(secret.strip())):
        return None
    return token


def token_use(*, token: ApiToken, limit: int, now: dt.datetime | None = None) -> int | None:
    """Count one request against the token's rate limit and stamp its last use.

    The window is fixed: it opens with the first request after the previous one closed and lasts a minute. Returns
    ``None`` when the request may go ahead, otherwise the seconds until the window closes (for ``Retry-After``).
    Conditional updates keep the count right when several processes serve the same token at once.
    """
    now = now or timezone.now()
    opened_before = now - RATE_WINDOW
    rows = ApiToken.objects.filter(pk=token.pk)
    for _ in range(2):
        if rows.filter(rate_window_start__gt=opened_before, rate_window_count__lt=limit).update(
            rate_window_count=F("rate_window_count") + 1, last_used_at=now
        ):
            return None
        # A closed (or never opened) window: open a new one. Losing this race to another request means the window
        # is open again, so the first statement decides on the next round.
        if rows.filter(Q(rate_window_start=None) | Q(rate_window_start__lte=opened_before)).update(
            rate_window_start=now, rate_window_count=1, last_used_at=now
        ):
            return None
    opened = rows.values_list("rate_window_start", flat=True).get()
    return max(1, math.ceil((opened + RATE_WINDOW - now).total_seconds()))


def token_actor(token: ApiToken) -> Actor:
    """The token as the author of its changes, in the edit path's history and the sync's field times."""
    return Actor(kind=token.kind, user=token.created_by, label=token.name)


# ---------------------------------------------------------------------------------------------------------------
# Reading


@dataclass
class Page:
    records: list[CrmRecord]
    next_cursor: str | None


def records_list(*, token: ApiToken, resource: Resource, filters: ListFilters) -> Page:
    """One page of the organization's records in a stable order, ``(updated_at, id)``, after ``filters.cursor``.

    A record changed while a client walks the list moves to its end, so a walk misses nothing that existed when it
    started and sees later changes again: what a client keeping a copy in step needs.
    """
    queryset = resource.records(token.organization)
    if not filters.include_removed:
        queryset = queryset.filter(removed_at=None)
    if filters.updated_since is not None:
        queryset = queryset.filter(updated_at__gte=filters.updated_since)
    if filters.q and filters.q.strip():
        queryset = resource.record_type.search(queryset, filters.q)
    for param, lookup in resource.filter_lookups.items():
        value = getattr(filters, param)
        if value is not None:
            queryset = queryset.filter(**{lookup: value})
    if filters.cursor:
        updated_at, last_id = _cursor_position(filters.cursor, resource)
        queryset = queryset.filter(Q(updated_at__gt=updated_at) | Q(updated_at=updated_at, id__gt=last_id))
    queryset = queryset.order_by("updated_at", "id").select_related(*_related(resource))
    records = list(queryset[: filters.limit + 1])
    if len(records) <= filters.limit:
        return Page(records=records, next_cursor=None)
    last = records[filters.limit - 1]
    cursor = signing.dumps([resource.name, last.updated_at.isoformat(), last.pk], salt=CURSOR_SALT)
    return Page(records=records[: filters.limit], next_cursor=cursor)


def _cursor_position(cursor: str, resource: Resource) -> tuple[dt.datetime, int]:
    invalid = ValidationError({"cursor": ["This cursor is not one this list gave out; start again without it."]})
    try:
        name, updated_at, last_id = signing.loads(cursor, salt=CURSOR_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise invalid from None
    moment = parse_datetime(updated_at) if isinstance(updated_at, str) else None
    if name != resource.name or moment is None or not isinstance(last_id, int):
        raise invalid
    return moment, last_id


def _related(resource: Resource) -> list[str]:
    related = list(resource.references)
    if resource.model is Activity:
        related.append("api_external_id")
    return related


def record_get(*, token: ApiToken, resource: Resource, code: UUID) -> CrmRecord:
    """The record of the token's organization with this code (also when removed in Salesforce)."""
    record = resource.records(token.organization).filter(code=code).select_related(*_related(resource)).first()
    if record is None:
        raise RecordNotFound(f"There is no {resource.record_type.singular.lower()} with code {code}.")
    return record


def visible_definitions(*, token: ApiToken, object_type: str) -> list[CustomField]:
    """The custom fields the token sees: organization-wide ones, and private ones of the person who created it."""
    return [d for d in definitions_for(token.organization, object_type) if d.visible_to(token.created_by)]


def picklists(*, token: ApiToken) -> dict[str, dict[str, dict[str, Any]]]:
    """The fields a writing rule sends to a Salesforce picklist, by resource (``opportunities``,
    ``objects/Project__c``) and field as the API names it (custom ones as ``custom_fields.<API name>``, only those
    the token sees): the Salesforce field, its active values, its default and whether it is a multi-select. From the
    cached describes; empty when Salesforce is not connected."""
    by_object = {resource.object_type: resource.name for resource in RESOURCES.values()}
    found = hooks.picklists(token.organization)
    added = {
        d.key: added_object_resource(d).name
        for d in ObjectDefinition.objects.filter(organization=token.organization, key__in=list(found), archived_at=None)
    }
    listed: dict[str, dict[str, dict[str, Any]]] = {}
    for object_type, fields in found.items():
        name = by_object.get(object_type) or added.get(object_type)
        if name is None:
            continue
        visible = {d.api_name for d in visible_definitions(token=token, object_type=object_type)}
        shown: dict[str, dict[str, Any]] = {}
        for key, picklist in fields.items():
            if key.startswith(CUSTOM_PREFIX):
                if key.removeprefix(CUSTOM_PREFIX) not in visible:
                    continue
                key = "custom_fields." + key.removeprefix(CUSTOM_PREFIX)
            shown[key] = {
                "salesforce_field": picklist.salesforce_field,
                "values": list(picklist.values),
                "default": picklist.default,
                "multiple": picklist.multiple,
            }
        if shown:
            listed[name] = shown
    return listed


def records_render(*, token: ApiToken, resource: Resource, records: list[CrmRecord]) -> list[dict[str, Any]]:
    """Records as the API shows them, with their custom fields and Salesforce sync state (one query for the sync
    state of them all)."""
    states = records_sync_state(
        organization=token.organization, object_type=resource.object_type, record_ids=[r.pk for r in records]
    )
    definitions = visible_definitions(token=token, object_type=resource.object_type)
    links = _LinkCodes(token.organization, definitions, records)
    shown = []
    for record in records:
        stored = record.custom_values or {}
        row: dict[str, Any] = {name: shown_value(record, name) for name in resource.fields}
        row.update(
            code=record.code,
            version=record.version,
            created_at=record.created_at,
            updated_at=record.updated_at,
            removed_at=record.removed_at,
            removed_reason=record.removed_reason,
            custom_fields={d.api_name: links.shown(d, stored.get(d.api_name)) for d in definitions},
            salesforce=states[record.pk].as_dict(),
        )
        if isinstance(record, Activity):
            row["external_id"] = external_id_of(record)
        shown.append(row)
    return shown


# ---------------------------------------------------------------------------------------------------------------
# Writing


def api_record_create(*, token: ApiToken, resource: Resource, payload: RecordIn) -> CrmRecord:
    """Create a record from an API request body. Raises ``ValidationError`` (nothing written) when it is invalid."""
    values, custom = _edit_values(token=token, resource=resource, data=payload.model_dump(exclude_unset=True))
    record = record_create(
        organization=token.organization,
        model=resource.model,
        values=values,
        custom_values=custom,
        actor=token_actor(token),
        object_type=resource.object_type if resource.record_type.definition is not None else None,
    )
    return record_get(token=token, resource=resource, code=record.code)


def api_record_update(
    *, token: ApiToken, resource: Resource, code: UUID, payload: RecordIn, expected_version: int | None
) -> CrmRecord:
    """Change the fields sent in a ``PATCH`` body. With ``expected_version``, raises ``StaleRecordError`` when the
    record moved on since the client read it."""
    record = record_get(token=token, resource=resource, code=code)
    _ensure_changeable(record)
    values, custom = _edit_values(token=token, resource=resource, data=payload.model_dump(exclude_unset=True))
    record_update(
        record=record, values=values, custom_values=custom, actor=token_actor(token), expected_version=expected_version
    )
    return record_get(token=token, resource=resource, code=code)


def _ensure_changeable(record: CrmRecord) -> None:
    if isinstance(record, Activity) and record.origin == Activity.Origin.SALESFORCE:
        raise RecordReadOnly("This activity was logged in Salesforce, so it is read-only in Rox.")
    if isinstance(record, Lead) and record.converted_at is not None:
        raise RecordReadOnly("This lead was converted in Salesforce; change its contact, account or opportunity.")


def activity_log(*, token: ApiToken, payload: ActivityIn) -> tuple[Activity, bool]:
    """Log an activity, linked to the Rox contact (else lead) with one of its participants' e-mail addresses and to
    its opportunity's account. Returns the activity and whether it is new: with an ``external_id`` already used, the
    activity first posted with it comes back (or ``ExternalIdConflict`` when this one says something else)."""
    resource = RESOURCES["activities"]
    external_id = payload.external_id
    fingerprint = hashlib.sha256(
        json.dumps(payload.model_dump(mode="json", exclude={"external_id"}), sort_keys=True).encode()
    ).hexdigest()
    if external_id is not None:
        earlier = _posted_before(token.organization, external_id, fingerprint)
        if earlier is not None:
            return earlier, False

    data = payload.model_dump(exclude_unset=True, exclude={"external_id"})
    values, custom = _edit_values(token=token, resource=resource, data=data)
    if "contact" not in data and "lead" not in data:
        values.update(
            _people_by_email(token.organization, values.get("participant_emails") or [], values.get("type", ""))
        )
    if values.get("opportunity") is not None and values.get("account") is None:
        values["account"] = values["opportunity"].account
    # An authenticated token's creator is an active member of its organization (token_authenticate), so an owner.
    if "owner" not in data and token.kind == ApiToken.Kind.USER:
        values["owner"] = token.created_by
    try:
        with transaction.atomic():
            activity = record_create(
                organization=token.organization,
                model=Activity,
                values=values,
                custom_values=custom,
                actor=token_actor(token),
            )
            if external_id is not None:
                ActivityExternalId.objects.create(
                    organization=token.organization, external_id=external_id, activity=activity, fingerprint=fingerprint
                )
    except IntegrityError:
        # Another request with the same external_id won the race; it is the one to return.
        earlier = _posted_before(token.organization, external_id, fingerprint) if external_id else None
        if earlier is None:
            raise
        return earlier, False
    return record_get(token=token, resource=resource, code=activity.code), True  # type: ignore[return-value]


def _posted_before(organization: Organization, external_id: str, fingerprint: str) -> Activity | None:
    known = ActivityExternalId.objects.filter(organization=organization, external_id=external_id).first()
    if known is None:
        return None
    if known.fingerprint != fingerprint:
        raise ExternalIdConflict(
            f"An activity was already posted with external_id “{external_id}”, with different content."
        )
    return Activity.objects.select_related(*_related(RESOURCES["activities"])).get(pk=known.activity_id)


def _people_by_email(organization: Organization, emails: list[str], activity_type: str) -> dict[str, CrmRecord]:
    """The contact with one of these addresses, or else, for an e-mail with Lead Resolution on (CRM Mappings →
    Activities), the lead (not converted); the most recently updated. Calls and LinkedIn touches never resolve
    leads, as the writeback does not."""
    from mappings.models import ActivitySettings

    addresses = {str(e).strip().lower() for e in emails}
    if not addresses:
        return {}
    people: list[tuple[str, Any, dict[str, Any]]] = [("contact", Contact, {})]
    if activity_type == Activity.Type.EMAIL and ActivitySettings.for_organization(organization).lead_resolution:
        people.append(("lead", Lead, {"converted_at": None}))
    for field, model, extra in people:
        match = (
            model.objects.filter(organization=organization, removed_at=None, **extra)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=addresses)
            .order_by("-updated_at", "-id")
            .first()
        )
        if match is not None:
            return {field: match}
    return {}


def _edit_values(*, token: ApiToken, resource: Resource, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a request body into model values (references turned into records and people) and custom values.
    Raises ``ValidationError`` keyed like the edit path's (``custom.<api name>`` for custom fields)."""
    organization = token.organization
    errors: dict[str, list[str]] = {}
    custom = data.pop("custom_fields", None) or {}
    definitions = {d.api_name: d for d in visible_definitions(token=token, object_type=resource.object_type)}
    for api_name, value in custom.items():
        if api_name not in definitions:
            errors[f"{CUSTOM_PREFIX}{api_name}"] = [
                f"There is no custom field “{api_name}” on this {resource.object_type}."
            ]
        elif _holds_nul(value):
            errors[f"{CUSTOM_PREFIX}{api_name}"] = ["Text may not contain NUL characters."]
        elif _holds_lone_surrogate(value):
            # JSON can escape half of a UTF-16 pair ("\ud800"); no database or Salesforce can store it.
            errors[f"{CUSTOM_PREFIX}{api_name}"] = ["Text is not valid Unicode: it holds half of a UTF-16 pair."]
        elif definitions[api_name].data_type == CustomField.DataType.LINK and value is not None:
            # A Link is given by the code of the record it links to, as references are.
            link = definitions[api_name]
            linked = record_by_code(organization, link.target, value)
            if linked is None:
                errors[f"{CUSTOM_PREFIX}{api_name}"] = [f"There is no {link.target} record with code {value}."]
            custom[api_name] = linked

    fields = editable_fields(resource.model)
    values: dict[str, Any] = {}
    for name, value in data.items():
        model_field = fields[name]
        if not model_field.is_relation or value is None:
            values[name] = value
            continue
        target = model_field.related_model
        if target is User:
            found = User.objects.filter(email__iexact=value.strip(), memberships__organization=organization).first()
            missing = f"No member of this organization has the e-mail address “{value}”."
        else:
            found = target.objects.filter(organization=organization, code=value).first()
            missing = f"There is no {target._meta.verbose_name} with code {value}."
        if found is None:
            errors[name] = [missing]
        values[name] = found
    if values.get("website") and "://" not in values["website"]:
        # As on the pages, a bare domain is taken as an https address.
        values["website"] = f"https://{values['website']}"
    if errors:
        raise ValidationError(errors)
    return values, custom


class _LinkCodes:
    """The codes of the records Link fields hold, for a page of records (one query per Link field)."""

    def __init__(self, organization: Organization, definitions: list[CustomField], records: list[CrmRecord]) -> None:
        self.codes: dict[tuple[str, int], UUID] = {}
        for definition in definitions:
            if definition.data_type != CustomField.DataType.LINK:
                continue
            ids = {(r.custom_values or {}).get(definition.api_name) for r in records} - {None}
            for pk, code in records_of(organization, definition.target).filter(pk__in=ids).values_list("pk", "code"):
                self.codes[(definition.target, pk)] = code

    def shown(self, definition: CustomField, stored: Any) -> Any:
        if definition.data_type != CustomField.DataType.LINK or stored is None:
            return stored
        return self.codes.get((definition.target, stored))


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False


def _holds_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list):
        return any(_holds_lone_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_lone_surrogate(k) or _holds_lone_surrogate(v) for k, v in value.items())
    return False
