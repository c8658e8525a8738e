"""Inbound sync: Salesforce → Rox for one object, page by page.

Per page: one query for the links of its records, one per lookup target for their parents, one for the Rox records;
then each field is decided by its rule against the shadow (see ``decide``), and everything is written in batches.
Our own writes come back equal to the shadow and are not taken for Salesforce changes. A record that becomes visible
late, inside the overlap window, is read on the next run; records whose SystemModstamp is not newer than the one
already processed are skipped at once, so re-reading the overlap costs nothing but the page.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from activities.models import Activity
from integrations.engine import values
from integrations.engine.plan import ACTIVITY_OBJECTS, PREFIX_OBJECTS, ROX_OF_SOBJECT, FieldPlan, ObjectPlan
from integrations.models import Conflict, OutboxEntry, PendingReference, SalesforceLink, SyncError, SyncRun
from integrations.outbox import enqueue
from roxcrm.bulk import Builder, bulk_insert, bulk_update
from roxcrm.custom_fields import MAX_DIGITS, PHONE_RE, clean_value
from roxcrm.models import CustomField, Membership, User
from roxcrm.sync_path import (
    SyncChange,
    model_value_error,
    records_locked,
    records_mark_removed,
    records_restore,
    records_sync_create,
    records_sync_update,
)

log = logging.getLogger(__name__)
SYNC_LABEL = "Salesforce sync"


class RecordRefused(Exception):
    """A Salesforce record whose values Rox cannot store; reported and skipped."""

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


@dataclass
class Counts:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    linked_late: int = 0  # children linked to a parent that arrived earlier, at the start of the run

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Preview:
    """What a dry run found for one record (by its name, not only its Id): each field's Salesforce value, the value
    Rox holds now (None for a record not in Rox yet) and the one it would become."""

    sf_id: str
    action: str  # create, update, unchanged, delete, fail
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)  # (Salesforce field, its value, Rox's new one)
    error: str = ""
    label: str = ""
    current: dict[str, Any] = field(default_factory=dict)  # Salesforce field -> the value Rox holds now (updates)


@dataclass
class PageContext:
    """Everything a page needs, fetched with one query per kind."""

    links: dict[str, SalesforceLink]
    records: dict[int, Any]
    parents: dict[str, int]  # Salesforce Id -> Rox record id, for lookups
    parent_sf_ids: dict[tuple[str, int], str]  # (rox object, record id) -> Salesforce Id
    users_by_email: dict[str, User]
    emails_by_user: dict[int, str]


class InboundPage:
    """Apply one page of Salesforce records to Rox (or describe what would happen, in a dry run)."""

    def __init__(
        self,
        plan: ObjectPlan,
        run: SyncRun | None,
        *,
        dry_run: bool = False,
        force: bool = False,
        backfill: bool = False,
    ) -> None:
        self.plan = plan
        # A backfill (a plan of only the fields just mapped) fills existing records: it creates, adopts and matches
        # nothing (it has too few fields to).
        self.backfill = backfill
        self.read_fields = plan.read_fields  # (a property that filters the plan's fields: once a page, not a record)
        self.run = run
        self.organization = plan.object_mapping.organization
        self.dry_run = dry_run
        self.force = force
        self.counts = Counts()
        self.previews: list[Preview] = []
        self.changed_ids: list[str] = []  # Salesforce Ids of records whose Rox values changed (formula refresh)
        self.fill: dict[int, list[str]] = {}  # Rox record id -> fields whose value fills a blank in Salesforce
        # Each custom field's value conversion, prepared once for the run rather than once a record and field.
        self.cleaners = {
            fp.sf_field: custom_cleaner(fp.definition)
            for fp in plan.fields
            if fp.definition is not None and fp.kind != "reference"
        }
        # A new record's plain custom fields are read in one loop, each by its prepared reader; the other fields
        # (standard ones, Links, lookups, owners) one by one.
        self.custom_readers = [
            (fp.sf_field, fp.definition.api_name, custom_reader(fp))
            for fp in self.read_fields
            if fp.definition is not None and fp.kind != "reference"
        ]
        self.field_order = {fp.sf_field: i for i, fp in enumerate(self.read_fields)}
        self.other_read_fields = [
            fp for fp in self.read_fields if not (fp.definition is not None and fp.kind != "reference")
        ]

    # -- entry point -------------------------------------------------------------------------------------------

    def apply(self, records: list[dict[str, Any]]) -> None:
        self.counts.fetched += len(records)
        if not records:
            return
        if self.dry_run:
            self._apply(records)
            return
        # The page reads its Rox records and writes them in one transaction, their rows locked (``_context``): an
        # edit a person saves meanwhile waits for the page, or the page for it, and is never overwritten with what
        # the page read before it.
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # The page need not wait for the disk: the cursor moves later in an ordinary (synchronous) commit,
                # which flushes the WAL up to it, this page included; a crash before that re-reads the page.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            self._apply(records)

    def _apply(self, records: list[dict[str, Any]]) -> None:
        now = timezone.now()
        ctx = self._context(records)
        creates: list[tuple[dict[str, Any], dict[str, Any], str, dict[str, Any], dt.datetime]] = []
        updates: list[tuple[SyncChange, SalesforceLink]] = []
        touched_links: list[SalesforceLink] = []
        pending: list[tuple[str, str, str]] = []  # (child sf id, rox field, parent sf id)
        removed: list[tuple[int, str]] = []
        restored: list[int] = []
        conflicts: list[Conflict] = []
        errors: list[SyncError] = []
        for record in records:
            sf_id = record["Id"]
            modstamp = values.parse_salesforce_datetime(record["SystemModstamp"])
            link = ctx.links.get(sf_id)
            try:
                if record.get("IsDeleted"):
                    self._deleted(record, link, modstamp, removed, touched_links)
                    continue
                if link is None and self.backfill:
                    self.counts.unchanged += 1  # not in Rox yet: the object's own runs create it, in full
                    continue
                if link is None:
                    rox_values, custom, shadow = self._new_values(record, ctx, pending)
                    creates.append((rox_values, custom, sf_id, shadow, modstamp))
                    self._preview(sf_id, "create", record, rox_values, custom)
                    continue
                if link.deleted_at is not None:
                    restored.append(link.record_id)
                    link.deleted_at = None
                    touched_links.append(link)
                # Strictly older only: stamps have second precision, so a change in the same second as the last
                # read carries an equal stamp.
                if not self.force and link.modstamp is not None and modstamp < link.modstamp:
                    self.counts.unchanged += 1
                    continue
                rox_record = ctx.records.get(link.record_id)
                if rox_record is None:
                    continue
                change = self._decide(record, modstamp, link, rox_record, ctx, pending, conflicts)
                link.modstamp = modstamp
                link.synced_at = now
                touched_links.append(link)
                if change.values or change.custom:
                    updates.append((change, link))
                    self.changed_ids.append(sf_id)
                    self._preview(sf_id, "update", record, change.values, change.custom, change.old)
                else:
                    self.counts.unchanged += 1
                    self._preview(sf_id, "unchanged", record, {}, {})
            except RecordRefused as refused:
                self.counts.failed += 1
                errors.append(self._error(record, link, refused))
                self.previews.append(Preview(sf_id, "fail", error=refused.message, label=_record_label(record)))
        if self.dry_run:
            self.counts.created += len(creates)
            self.counts.updated += len(updates)
            return
        self._write(creates, updates, touched_links, pending, removed, restored, conflicts, errors, now)

    # -- reading what the page needs ------------------------------------------------------------------------------

    def _context(self, records: list[dict[str, Any]]) -> PageContext:
        plan = self.plan
        sf_ids = [r["Id"] for r in records]
        links = {
            link.sf_id: link
            for link in SalesforceLink.objects.filter(
                organization=self.organization, sobject=plan.sobject, sf_id__any=sf_ids
            )
        }
        if self.backfill:
            pass
        elif plan.sobject in ACTIVITY_OBJECTS:
            self._adopt_rox_activities(records, links)
        else:
            self._adopt_matches(records, links)
            self._adopt_own_creates(records, links)
        # Locked (in id order) until the page is written, unless it is a dry run.
        records_of = plan.model.objects if self.dry_run else plan.model.objects.select_for_update().order_by("pk")
        if plan.sobject not in ACTIVITY_OBJECTS:
            records_of = records_of.only(*self._record_columns)
        rox_records = {r.pk: r for r in records_of.filter(pk__any=[link.record_id for link in links.values()])}
        # Parents referred to by this page (lookups, polymorphic Who/What, lead conversion, merge targets).
        wanted: dict[str, set[str]] = defaultdict(set)
        pointing = [fp for fp in self.read_fields if fp.is_reference or (fp.kind == "managed" and fp.targets)]
        for record in records:
            for fp in pointing:
                parent = record.get(fp.sf_field)
                if parent:
                    wanted[_sobject_of(parent, fp.targets)].add(parent)
            for name in ("ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId"):
                if record.get(name):
                    wanted[_sobject_of(record[name], ())].add(record[name])
        parents: dict[str, int] = {}
        for sobject, ids in wanted.items():
            if sobject:
                parents.update(
                    SalesforceLink.objects.filter(
                        organization=self.organization, sobject=sobject, sf_id__any=ids
                    ).values_list("sf_id", "record_id")
                )
        # The Salesforce Ids of the parents the Rox records point at now (to tell whether Rox changed a lookup).
        parent_sf_ids: dict[tuple[str, int], str] = {}
        for fp in self.read_fields:
            if fp.is_reference and (fp.model_field is not None or fp.definition is not None):
                target, ids = _rox_parents(fp, rox_records.values())
                if ids:
                    for record_id, sf_id in SalesforceLink.objects.filter(
                        organization=self.organization, rox_object=target, record_id__any=ids, sobject=fp.targets[0]
                    ).values_list("record_id", "sf_id"):
                        parent_sf_ids[(target, record_id)] = sf_id
        users_by_email, emails_by_user = self._users(records, rox_records)
        return PageContext(links, rox_records, parents, parent_sf_ids, users_by_email, emails_by_user)

    @functools.cached_property
    def _record_columns(self) -> list[str]:
        """The columns of a Rox record a page reads or writes: the mapped fields, custom values, change times and
        version, and what is derived or converted; the rest (notes, history, removal) stays in the database."""
        model_fields = {f.name for f in self.plan.model._meta.concrete_fields}
        names = {fp.model_field.name for fp in self.read_fields if fp.model_field is not None}
        names |= {"organization", "custom_values", "field_times", "version", "updated_at", "website", "domain"}
        if self.plan.sobject == "Lead":
            names |= {"converted_at", "converted_account", "converted_contact", "converted_opportunity"}
        return sorted(names & model_fields)

    def _users(
        self, records: list[dict[str, Any]], rox_records: dict[int, Any]
    ) -> tuple[dict[str, User], dict[int, str]]:
        owner_fields = [fp for fp in self.read_fields if fp.kind == "owner"]
        if not owner_fields:
            return {}, {}
        emails = {fp.salesforce_value(r) for r in records for fp in owner_fields} - {None}
        by_email = {
            m.user.email.lower(): m.user
            for m in Membership.objects.filter(organization=self.organization, user__email__in=emails).select_related(
                "user"
            )
        }
        owner_ids = {getattr(r, fp.model_field.attname) for r in rox_records.values() for fp in owner_fields} - {None}  # type: ignore[union-attr]
        by_user = {u.pk: u.email.lower() for u in User.objects.filter(pk__in=owner_ids)}
        return by_email, by_user

    def _adopt_rox_activities(self, records: list[dict[str, Any]], links: dict[str, SalesforceLink]) -> None:
        """A Task or Event that Rox wrote carries RoxActivityId__c: link it to that activity, never duplicate it."""
        codes = {}
        for record in records:
            code = record.get("RoxActivityId__c")
            if code and record["Id"] not in links:
                codes[str(code)] = record["Id"]
        if not codes:
            return
        valid = {}
        for code, sf_id in codes.items():
            try:
                valid[str(uuid.UUID(code))] = sf_id
            except ValueError:
                continue  # not an id Rox wrote
        for activity in Activity.objects.filter(organization=self.organization, code__any=list(valid)):
            sf_id = valid[str(activity.code)]
            links[sf_id] = SalesforceLink(
                organization=self.organization,
                sobject=self.plan.sobject,
                sf_id=sf_id,
                rox_object="activity",
                record_id=activity.pk,
                synced_at=timezone.now(),
            )

    def _adopt_matches(self, records: list[dict[str, Any]], links: dict[str, SalesforceLink]) -> None:
        """An unlinked Rox record that is clearly the same (one account with the website's domain, one contact or
        lead with the e-mail) is linked instead of being duplicated."""
        from roxcrm.domains import normalize_domain

        key_field = {
            "Account": ("Website", "domain", normalize_domain),
            "Contact": ("Email", "email", str.lower),
            "Lead": ("Email", "email", str.lower),
        }.get(self.plan.sobject)
        if key_field is None:
            return
        sf_field, rox_field, normalize = key_field
        wanted = {}
        for record in records:
            if record["Id"] not in links and record.get(sf_field):
                key = normalize(record[sf_field])
                if key:
                    wanted.setdefault(key, []).append(record["Id"])
        if not wanted:
            return
        # Rox stores e-mails lower-cased and domains normalised, so the (organization, key) index finds them; then
        # the ones already linked are left out (by the link index), without scanning either table.
        found = list(
            self.plan.model.objects.filter(
                organization=self.organization, **{f"{rox_field}__any": list(wanted)}
            ).values_list("pk", rox_field)
        )
        if not found:
            return
        linked = set(
            SalesforceLink.objects.filter(
                organization=self.organization, rox_object=self.plan.rox_object, record_id__any=[pk for pk, _ in found]
            ).values_list("record_id", flat=True)
        )
        candidates: dict[str, list[int]] = defaultdict(list)
        for record_id, key in found:
            if record_id not in linked:
                candidates[key].append(record_id)
        for key, sf_ids in wanted.items():
            if len(sf_ids) == 1 and len(candidates.get(key, [])) == 1:
                links[sf_ids[0]] = SalesforceLink(
                    organization=self.organization,
                    sobject=self.plan.sobject,
                    sf_id=sf_ids[0],
                    rox_object=self.plan.rox_object,
                    record_id=candidates[key][0],
                    synced_at=timezone.now(),
                )

    def _adopt_own_creates(self, records: list[dict[str, Any]], links: dict[str, SalesforceLink]) -> None:
        """A record Rox itself was creating comes back before its create was recorded (the worker sent it and was
        killed before the answer was stored, say): it is linked to that Rox record, whose open create row then
        finds it linked, rather than imported as a second one. Only a record the integration user wrote last, and
        only when exactly one such record and one Rox record with an open create agree on the key the writeback
        matches creates by (an account's name and domain, an opportunity's account and name)."""
        from roxcrm.domains import normalize_domain

        sobject = self.plan.sobject
        if sobject not in ("Account", "Opportunity"):
            return  # contacts and leads are adopted by their e-mail already (``_adopt_matches``)
        unlinked = [r for r in records if r["Id"] not in links]
        if not unlinked:
            return
        creating = list(
            OutboxEntry.objects.filter(
                organization=self.organization,
                sobject=sobject,
                operation=OutboxEntry.Operation.CREATE,
                state__in=[
                    OutboxEntry.State.PENDING,
                    OutboxEntry.State.IN_FLIGHT,
                    OutboxEntry.State.FAILED,
                    OutboxEntry.State.REVIEW,
                ],
            ).values_list("record_id", flat=True)
        )
        if not creating:
            return
        integration_user = self.organization.salesforce.sf_user_id  # type: ignore[attr-defined]
        ours = [r for r in unlinked if r.get("LastModifiedById") == integration_user]
        if not ours:
            return
        rox = list(self.plan.model.objects.filter(organization=self.organization, pk__any=creating))
        already = set(
            SalesforceLink.objects.filter(
                organization=self.organization, sobject=sobject, record_id__any=[r.pk for r in rox]
            ).values_list("record_id", flat=True)
        )
        rox = [r for r in rox if r.pk not in already]
        if sobject == "Account":

            def sf_key(record: dict[str, Any]) -> tuple[str, str]:
                return (record.get("Name") or "").strip().lower(), normalize_domain(record.get("Website")) or ""

            rox_keys = {r.pk: (r.name.strip().lower(), r.domain or "") for r in rox}  # type: ignore[attr-defined]
        else:
            accounts = dict(
                SalesforceLink.objects.filter(
                    organization=self.organization,
                    sobject="Account",
                    record_id__any=[r.account_id for r in rox if r.account_id],  # type: ignore[attr-defined]
                ).values_list("record_id", "sf_id")
            )

            def sf_key(record: dict[str, Any]) -> tuple[str, str]:
                return record.get("AccountId") or "", (record.get("Name") or "").strip()

            rox_keys = {r.pk: (accounts.get(r.account_id, ""), r.name.strip()) for r in rox}  # type: ignore[attr-defined]
        by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
        for pk, key in rox_keys.items():
            by_key[key].append(pk)
        coming: dict[tuple[str, str], list[str]] = defaultdict(list)
        for record in ours:
            coming[sf_key(record)].append(record["Id"])
        for key, sf_ids in coming.items():
            if len(sf_ids) == 1 and len(by_key.get(key, [])) == 1:
                links[sf_ids[0]] = SalesforceLink(
                    organization=self.organization,
                    sobject=sobject,
                    sf_id=sf_ids[0],
                    rox_object=self.plan.rox_object,
                    record_id=by_key[key][0],
                    synced_at=timezone.now(),
                )

    # -- deciding -----------------------------------------------------------------------------------------------

    def _new_values(
        self, record: dict[str, Any], ctx: PageContext, pending: list[tuple[str, str, str]]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        rox_values: dict[str, Any] = dict(self.plan.identity)
        custom: dict[str, Any] = {}
        shadow: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        get = record.get
        for sf_field, api_name, read in self.custom_readers:
            try:
                shadow[sf_field], custom[api_name] = read(get(sf_field))
            except ValidationError as exc:
                problems.append((sf_field, f"{sf_field}: {' '.join(exc.messages)}"))
        for fp in self.other_read_fields:
            sf_value = fp.salesforce_value(record)
            shadow[fp.sf_field] = sf_value
            if fp.kind == "managed":
                continue
            try:
                self._assign(fp, sf_value, record, ctx, rox_values, custom, pending)
            except RecordRefused as refused:
                problems.append((fp.sf_field, refused.message))
        if self.plan.sobject in ACTIVITY_OBJECTS:
            self._activity_values(record, ctx, rox_values, pending, creating=True)
        self._conversion(record, ctx, rox_values, pending)
        if problems:
            problems.sort(key=lambda problem: self.field_order[problem[0]])  # as the fields are mapped
            raise RecordRefused("; ".join(m for _, m in problems), [f for f, _ in problems])
        for model_field in self._required_fields:
            if rox_values.get(model_field.attname) in (None, ""):
                what = (
                    "is not in Rox (not synced, or deleted)"
                    if model_field.is_relation
                    else "has no value in Salesforce"
                )
                raise RecordRefused(f"Rox needs its {model_field.verbose_name}, which {what}.", [])
        return rox_values, custom, shadow

    def _decide(
        self,
        record: dict[str, Any],
        modstamp: dt.datetime,
        link: SalesforceLink,
        rox_record: Any,
        ctx: PageContext,
        pending: list[tuple[str, str, str]],
        conflicts: list[Conflict],
    ) -> SyncChange:
        """Per field: Salesforce's value if Salesforce changed it since the shadow and Rox did not (or the rule says
        Salesforce wins); on a both-sides change under Read and Write the later change wins, and it is logged."""
        change = SyncChange(record=rox_record)
        shadow = dict(link.shadow or {})
        problems: list[tuple[str, str]] = []
        for fp in self.read_fields:
            sf_value = fp.salesforce_value(record)
            known = fp.sf_field in shadow
            before = shadow.get(fp.sf_field)
            if known and sf_value == before:
                continue  # Salesforce did not change it (or it is our own write coming back)
            if fp.kind == "managed":
                shadow[fp.sf_field] = sf_value
                continue
            rox_value = self._rox_canonical(fp, rox_record, ctx)
            shadow[fp.sf_field] = sf_value
            if rox_value == sf_value:
                continue  # both hold the same value already
            if not known and values.is_blank(sf_value) and not values.is_blank(rox_value):
                # A record just linked to an existing Rox record: Salesforce's blank does not clear what Rox has;
                # where the rule writes, the writeback fills Salesforce's blank instead.
                if fp.rule in ("read_write", "write_only", "prefer_salesforce"):
                    self.fill.setdefault(link.record_id, []).append(fp.rox_key)
                continue
            rox_changed = known and rox_value != before
            take_salesforce = True
            if rox_changed and fp.rule == "read_write":
                rox_at = _rox_changed_at(rox_record, fp.rox_key)
                take_salesforce = rox_at is None or modstamp >= rox_at
                conflicts.append(
                    self._conflict(record, link, fp, sf_value, rox_value, modstamp, rox_at, take_salesforce)
                )
            elif fp.rule == "prefer_salesforce" and values.is_blank(sf_value):
                take_salesforce = False  # a blank Salesforce value never clears Rox's
            elif rox_changed and fp.rule == "prefer_salesforce":
                take_salesforce = True
            if take_salesforce:
                try:
                    self._assign(fp, sf_value, record, ctx, change.values, change.custom, pending)
                except RecordRefused as refused:
                    problems.append((fp.sf_field, refused.message))
                    continue
                change.old[fp.model_field.attname if fp.model_field else f"custom.{fp.rox_key[7:]}"] = rox_value
        if self.plan.sobject in ACTIVITY_OBJECTS:
            self._activity_values(record, ctx, change.values, pending, creating=False, current=rox_record)
        self._conversion(record, ctx, change.values, pending, current=rox_record)
        if problems:
            raise RecordRefused("; ".join(m for _, m in problems), [f for f, _ in problems])
        change.values = {k: v for k, v in change.values.items() if getattr(rox_record, k, object()) != v}
        link.shadow = shadow
        return change

    def _rox_canonical(self, fp: FieldPlan, rox_record: Any, ctx: PageContext) -> Any:
        if fp.definition is not None:
            stored = (rox_record.custom_values or {}).get(fp.definition.api_name)
            if fp.kind == "reference":  # a Link: the Salesforce Id of the record it holds
                return (
                    None if stored is None else ctx.parent_sf_ids.get((fp.definition.target, stored), f"rox:{stored}")
                )
            return values.CANONICAL.get(fp.kind, values.canonical_text)(stored)
        assert fp.model_field is not None
        raw = getattr(rox_record, fp.model_field.attname)
        if fp.kind == "owner":
            return ctx.emails_by_user.get(raw) if raw else None
        if fp.kind == "reference":
            if raw is None:
                return None
            target = fp.model_field.related_model.object_type  # type: ignore[union-attr]
            return ctx.parent_sf_ids.get((target, raw), f"rox:{raw}")
        return values.CANONICAL[fp.kind](raw)

    def _assign(
        self,
        fp: FieldPlan,
        sf_value: Any,
        record: dict[str, Any],
        ctx: PageContext,
        rox_values: dict[str, Any],
        custom: dict[str, Any],
        pending: list[tuple[str, str, str]],
    ) -> None:
        """Turn a canonical Salesforce value into the Rox value of ``fp`` (validated), into ``rox_values`` or
        ``custom``. A lookup whose parent is not in Rox yet waits in ``pending``."""
        if fp.definition is not None and fp.kind == "reference":
            # A Link: the parent's Rox id when it is in Rox, else it waits like a standard lookup's parent.
            custom[fp.definition.api_name] = self._parent(fp.rox_key, sf_value, record, ctx, pending)
            return
        if fp.definition is not None:
            try:
                custom[fp.definition.api_name] = self.cleaners[fp.sf_field](sf_value)
            except ValidationError as exc:
                raise RecordRefused(f"{fp.sf_field}: {' '.join(exc.messages)}", [fp.sf_field]) from None
            return
        assert fp.model_field is not None
        name, attname = fp.model_field.name, fp.model_field.attname
        if fp.kind == "owner":
            user = ctx.users_by_email.get(sf_value) if sf_value else None
            rox_values[attname] = user.pk if user else None
            return
        if fp.kind == "reference":
            rox_values[attname] = self._parent(name, sf_value, record, ctx, pending)
            return
        value = values.python_value(fp.model_field, sf_value)
        error = model_value_error(fp.model_field, value)
        if error:
            raise RecordRefused(f"{fp.sf_field}: {error}", [fp.sf_field])
        rox_values[attname] = value

    def _parent(
        self,
        name: str,
        sf_id: str | None,
        record: dict[str, Any],
        ctx: PageContext,
        pending: list[tuple[str, str, str]],
    ) -> int | None:
        """The Rox id for a lookup (set as ``<name>_id``); a parent not linked yet is resolved when it arrives."""
        if not sf_id:
            return None
        record_id = ctx.parents.get(sf_id)
        if record_id is None:
            pending.append((record["Id"], name, sf_id))
        return record_id

    def _activity_values(
        self,
        record: dict[str, Any],
        ctx: PageContext,
        target: dict[str, Any],
        pending: list[tuple[str, str, str]],
        *,
        creating: bool,
        current: Any = None,
    ) -> None:
        """What a Task or Event becomes on Rox's timeline: type, subject, body, time, duration, direction, and the
        person and deal it is about. Activities Rox wrote keep what Rox says about them."""
        if current is not None and current.origin == Activity.Origin.ROX:
            return
        if self.plan.sobject == "Event":
            target["type"] = Activity.Type.MEETING
            start = record.get("StartDateTime")
            end = record.get("EndDateTime")
            if start:
                target["occurred_at"] = values.parse_salesforce_datetime(start)
            if start and end:
                seconds = (
                    values.parse_salesforce_datetime(end) - values.parse_salesforce_datetime(start)
                ).total_seconds()
                target["duration_seconds"] = max(int(seconds), 0)
            elif record.get("DurationInMinutes"):
                target["duration_seconds"] = int(record["DurationInMinutes"]) * 60
        else:
            subtype = (record.get("TaskSubtype") or "").lower()
            target["type"] = {
                "email": Activity.Type.EMAIL,
                "call": Activity.Type.CALL,
                "linkedin": Activity.Type.LINKEDIN_MESSAGE,
            }.get(subtype, Activity.Type.TASK)
            if record.get("ActivityDate"):
                day = dt.date.fromisoformat(record["ActivityDate"][:10])
                target["occurred_at"] = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
            if record.get("CallDurationInSeconds") is not None:
                target["duration_seconds"] = int(record["CallDurationInSeconds"])
            direction = (record.get("CallType") or "").lower()
            target["direction"] = direction if direction in ("inbound", "outbound") else ""
        target["subject"] = (record.get("Subject") or "")[:255]
        target["body"] = record.get("Description") or ""
        if creating:
            target["origin"] = Activity.Origin.SALESFORCE
            target.setdefault("occurred_at", values.parse_salesforce_datetime(record["SystemModstamp"]))
        for sf_field, kinds in (("WhoId", ("contact", "lead")), ("WhatId", ("opportunity", "account"))):
            parent = record.get(sf_field)
            for kind in kinds:
                target[kind] = None
            if parent:
                kind = ROX_OF_SOBJECT.get(PREFIX_OBJECTS.get(parent[:3], ""), "")
                if kind in kinds:
                    target[kind] = self._parent(kind, parent, record, ctx, pending)
        for key in ("contact", "lead", "opportunity", "account"):
            if key in target:
                target[f"{key}_id"] = target.pop(key)

    def _conversion(
        self,
        record: dict[str, Any],
        ctx: PageContext,
        target: dict[str, Any],
        pending: list[tuple[str, str, str]],
        current: Any = None,
    ) -> None:
        if self.plan.sobject != "Lead" or not record.get("IsConverted"):
            return
        if current is None or current.converted_at is None:
            target["converted_at"] = values.parse_salesforce_datetime(record["SystemModstamp"])
        for sf_field, name in (
            ("ConvertedAccountId", "converted_account"),
            ("ConvertedContactId", "converted_contact"),
            ("ConvertedOpportunityId", "converted_opportunity"),
        ):
            target[f"{name}_id"] = self._parent(name, record.get(sf_field), record, ctx, pending)

    @functools.cached_property
    def _required_fields(self) -> list[models.Field]:
        """Fields a Rox record cannot be without (a contact's last name, a line item's opportunity)."""
        return [
            f
            for f in self.plan.model._meta.concrete_fields
            if not f.blank
            and not f.null
            and not f.has_default()
            and not f.primary_key
            and f.name != "organization"
            and (f.editable or f.is_relation)
        ]

    def _deleted(
        self,
        record: dict[str, Any],
        link: SalesforceLink | None,
        modstamp: dt.datetime,
        removed: list[tuple[int, str]],
        touched: list[SalesforceLink],
    ) -> None:
        if link is None or link.deleted_at is not None:
            self.counts.unchanged += 1
            return
        link.deleted_at = modstamp
        link.modstamp = modstamp
        survivor = record.get("MasterRecordId") or ""
        link.merged_into = survivor
        touched.append(link)
        removed.append((link.record_id, survivor))
        self.counts.deleted += 1
        self.previews.append(Preview(record["Id"], "delete"))

    # -- writing ------------------------------------------------------------------------------------------------

    def _write(
        self,
        creates: list[tuple[dict[str, Any], dict[str, Any], str, dict[str, Any], dt.datetime]],
        updates: list[tuple[SyncChange, SalesforceLink]],
        touched_links: list[SalesforceLink],
        pending: list[tuple[str, str, str]],
        removed: list[tuple[int, str]],
        restored: list[int],
        conflicts: list[Conflict],
        errors: list[SyncError],
        now: dt.datetime,
    ) -> None:
        plan = self.plan
        created = records_sync_create(
            organization=self.organization, model=plan.model, rows=[(v, c) for v, c, *_ in creates], at=now
        )
        link = Builder(SalesforceLink, organization=self.organization).build
        new_links = [
            link(
                {
                    "organization_id": self.organization.pk,
                    "sobject": plan.sobject,
                    "sf_id": sf_id,
                    "rox_object": plan.rox_object,
                    "record_id": rox.pk,
                    "modstamp": modstamp,
                    "shadow": shadow,
                    "synced_at": now,
                }
            )
            for rox, (_, _, sf_id, shadow, modstamp) in zip(created, creates, strict=True)
        ]
        adopted = [link for link in touched_links if link.pk is None]
        bulk_insert(SalesforceLink, [*new_links, *adopted])
        self.counts.created += len(created)
        records_sync_update(model=plan.model, changes=[c for c, _ in updates], at=now, label=SYNC_LABEL)
        self.counts.updated += len(updates)
        existing = [link for link in touched_links if link.pk is not None]
        bulk_update(SalesforceLink, existing, ["shadow", "modstamp", "synced_at", "deleted_at", "merged_into"])
        if removed:
            self._remove(removed, now)
        if restored:
            records_restore(model=plan.model, record_ids=restored, at=now)
        self._pend(pending)
        self._resolve([link.sf_id for link in new_links + adopted])
        Conflict.objects.bulk_create(conflicts)
        SyncError.objects.bulk_create(errors)
        if self.fill:
            stamp = now.isoformat()
            for record in plan.model.objects.filter(pk__in=list(self.fill)):
                enqueue(record, plan.sobject, "update", dict.fromkeys(self.fill[record.pk], stamp))

    def _remove(self, removed: list[tuple[int, str]], now: dt.datetime) -> None:
        plain = [record_id for record_id, survivor in removed if not survivor]
        if plain:
            records_mark_removed(model=self.plan.model, record_ids=plain, reason="Deleted in Salesforce", at=now)
        for record_id, survivor in removed:
            if survivor:
                from integrations.engine.merge import merge_records

                merge_records(plan=self.plan, loser_id=record_id, survivor_sf_id=survivor, at=now)

    def _pend(self, pending: list[tuple[str, str, str]]) -> None:
        """Remember lookups whose parent is not in Rox yet (replacing earlier ones of the same field), then link at
        once those whose parent another worker's page linked meanwhile: under the organization's waiting-links lock
        (held until this page commits), so of a child's page and its parent's page, the later one always sees the
        other (the parent's page looks for waiting children under the same lock)."""
        if not pending:
            return
        lock_waiting_links(self.organization.pk)
        child_links = dict(
            SalesforceLink.objects.filter(
                organization=self.organization, sobject=self.plan.sobject, sf_id__any={c for c, _, _ in pending}
            ).values_list("sf_id", "pk")
        )
        rows = {
            (child_links[c], name): PendingReference(
                organization=self.organization, child_id=child_links[c], rox_field=name, parent_sf_id=parent
            )
            for c, name, parent in pending
            if c in child_links
        }
        PendingReference.objects.filter(child_id__in={k[0] for k in rows}, rox_field__in={k[1] for k in rows}).delete()
        PendingReference.objects.bulk_create(rows.values())
        resolve_waiting(self.organization.pk, parent_sf_ids={parent for _, _, parent in pending})

    def _resolve(self, new_sf_ids: list[str]) -> None:
        """Children that arrived before these records point at them now."""
        if new_sf_ids:
            lock_waiting_links(self.organization.pk)
            resolve_waiting(self.organization.pk, parent_sf_ids=new_sf_ids)

    # -- reporting ------------------------------------------------------------------------------------------------

    def _conflict(
        self,
        record: dict[str, Any],
        link: SalesforceLink,
        fp: FieldPlan,
        sf_value: Any,
        rox_value: Any,
        sf_at: dt.datetime,
        rox_at: dt.datetime | None,
        salesforce_won: bool,
    ) -> Conflict:
        return Conflict(
            organization=self.organization,
            sobject=self.plan.sobject,
            sf_id=record["Id"],
            rox_object=self.plan.rox_object,
            record_id=link.record_id,
            sf_field=fp.sf_field,
            rox_field=fp.rox_key,
            sf_value=sf_value,
            rox_value=rox_value,
            sf_changed_at=sf_at,
            rox_changed_at=rox_at,
            winner=Conflict.Winner.SALESFORCE if salesforce_won else Conflict.Winner.ROX,
        )

    def _error(self, record: dict[str, Any], link: SalesforceLink | None, refused: RecordRefused) -> SyncError:
        return SyncError(
            organization=self.organization,
            run=self.run,
            sobject=self.plan.sobject,
            sf_id=record["Id"],
            rox_object=self.plan.rox_object,
            record_id=link.record_id if link else None,
            code="ROX_VALIDATION",
            message=refused.message,
            fields=refused.fields,
        )

    def _preview(
        self,
        sf_id: str,
        action: str,
        record: dict[str, Any],
        rox_values: dict[str, Any],
        custom: dict[str, Any],
        old: dict[str, Any] | None = None,
    ) -> None:
        if not self.dry_run:
            return
        rows = []
        current = {}
        for fp in self.read_fields:
            key = fp.definition.api_name if fp.definition else (fp.model_field.name if fp.model_field else fp.rox_key)
            source = custom if fp.definition else rox_values
            if key in source or f"{key}_id" in source:
                rows.append(
                    (fp.sf_field, fp.salesforce_value(record), values.to_json(source.get(key, source.get(f"{key}_id"))))
                )
                now_key = f"custom.{key}" if fp.definition else (fp.model_field.attname if fp.model_field else key)
                if old and now_key in old:
                    current[fp.sf_field] = values.to_json(old[now_key])
        self.previews.append(Preview(sf_id, action, rows, label=_record_label(record), current=current))


def _record_label(record: dict[str, Any]) -> str:
    """What a person calls a Salesforce record: its name (or a person's, or a task's subject)."""
    person = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
    return str(record.get("Name") or person or record.get("Subject") or record.get("CaseNumber") or "")


WAITING_LINKS_LOCK = 0x526F7850  # advisory lock space of an organization's waiting links ("RoxP")


# What ``clean_value`` accepts unchanged, in the canonical forms a Salesforce value arrives in (values.py): a plain
# decimal number; a lower-case ASCII e-mail address and web address (http or https, host names only); a UTC date and
# time to the second. Strict subsets of Django's EmailValidator and URLValidator; anything else goes through
# ``clean_value`` (and its message).
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SIMPLE_EMAIL = re.compile(rf"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:{_LABEL}\.)+[a-z]{{2,63}}")
_SIMPLE_URL = re.compile(rf"https?://(?:{_LABEL}\.)+[a-z]{{2,63}}(?:/[A-Za-z0-9._~%/-]*)?")
_UTC_DATETIME = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
MAX_HOST = 253  # URLValidator's longest host name: a URL no longer than this has no longer host


def custom_cleaner(definition: CustomField) -> Callable[[Any], Any]:
    """``clean_value`` for one custom field, prepared once for a run: the same result, and the same error, for every
    value, with a shortcut for the common canonical forms of numbers, e-mail and web addresses and dates and times
    (their Django validators cost 2 to 18 µs a value, which a 30-field object pays millions of times in a first
    sync)."""
    slow = functools.partial(clean_value, definition)
    data_type = definition.data_type
    limit = definition.effective_max_length
    if data_type in ("number", "currency", "percent") and definition.min_value is None and definition.max_value is None:
        scale = definition.effective_decimal_places
        whole_digits = MAX_DIGITS - scale

        def number(value: Any) -> Any:
            if type(value) is str and _PLAIN_NUMBER.fullmatch(value):
                whole, _, fraction = value.lstrip("-").partition(".")
                if len(fraction) <= scale and len(whole) <= whole_digits:
                    return int(value) if scale == 0 else float(value)
            return slow(value)

        return number
    if data_type == "email" and limit is not None:

        def email(value: Any) -> Any:
            if type(value) is str and len(value) <= min(limit, 320) and value.isascii():
                text = value.lower()
                if _SIMPLE_EMAIL.fullmatch(text):
                    return text
            return slow(value)

        return email
    if data_type == "url" and limit is not None:

        def url(value: Any) -> Any:
            if type(value) is str and len(value) <= min(limit, MAX_HOST) and _SIMPLE_URL.fullmatch(value):
                return value
            return slow(value)

        return url
    if data_type == "datetime":

        def datetime(value: Any) -> Any:
            if type(value) is str and _UTC_DATETIME.fullmatch(value):
                try:
                    dt.datetime(
                        *map(int, (value[:4], value[5:7], value[8:10], value[11:13], value[14:16], value[17:19]))
                    )
                except ValueError:
                    return slow(value)
                return value
            return slow(value)

        return datetime
    return slow


_SF_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Salesforce's date and time (REST and Bulk): seconds, optional fractions, UTC.
_SF_DATETIME = re.compile(
    r"([1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]{1,6})?(?:Z|\+0000|\+00:00)"
)
_HAS_DIGIT = re.compile(r"[0-9]").search


def custom_reader(fp: FieldPlan) -> Callable[[Any], tuple[Any, Any]]:
    """For a plain custom field (not a Link): a Salesforce value as read → (its canonical form, for the shadow; the
    value Rox stores), prepared once for a run. The same as ``fp.salesforce_value`` then ``custom_cleaner``, errors
    included, with a shortcut for the values Salesforce sends most: already canonical and valid, which a first sync
    of a 30-field object checks millions of times."""
    definition = fp.definition
    assert definition is not None and fp.kind != "reference"
    canonical = values.CANONICAL[fp.kind]
    clean = custom_cleaner(definition)

    def slow(raw: Any) -> tuple[Any, Any]:
        value = canonical(raw)
        return value, clean(value)

    data_type, limit, required = definition.data_type, definition.effective_max_length, definition.required
    if fp.kind != data_type or required:
        return slow  # a value of one type stored as another, or a blank that must be refused: the general way
    if data_type in ("text", "long_text", "phone") and limit is not None:
        strip = data_type != "long_text"
        phone = data_type == "phone"

        def text(raw: Any) -> tuple[Any, Any]:
            if raw is None:
                return None, None
            if (
                type(raw) is str
                and raw
                and len(raw) <= limit
                and not raw[0].isspace()
                and (not strip or not raw[-1].isspace())
                and (not phone or (PHONE_RE.match(raw) is not None and _HAS_DIGIT(raw) is not None))
            ):
                return raw, raw
            return slow(raw)

        return text
    if data_type == "picklist":
        first: dict[str, str] = {}
        for option in definition.options:
            first.setdefault(option.lower(), option)
        exact = frozenset(o for o in definition.options if o and o == o.strip() and first[o.lower()] == o)

        def picklist(raw: Any) -> tuple[Any, Any]:
            if raw is None:
                return None, None
            if type(raw) is str and raw in exact:
                return raw, raw
            return slow(raw)

        return picklist
    if data_type in ("number", "currency", "percent") and definition.min_value is None and definition.max_value is None:
        scale = definition.effective_decimal_places
        whole_digits = MAX_DIGITS - scale

        def number(raw: Any) -> tuple[Any, Any]:
            if raw is None:
                return None, None
            kind = type(raw)
            if kind is float or kind is int:
                text = repr(raw)  # a float's shortest form; no exponent below 1e16 and from 1e-4
                if "e" not in text and "n" not in text:  # (nan, inf)
                    if text.endswith(".0"):
                        text = text[:-2]
                    if text == "-0":
                        text = "0"
                    whole, _, fraction = text.lstrip("-").partition(".")
                    if len(fraction) <= scale and len(whole) <= whole_digits:
                        return text, (int(text) if scale == 0 else float(text))
            return slow(raw)

        return number
    if data_type == "email" and limit is not None:

        def email(raw: Any) -> tuple[Any, Any]:
            if raw is None:
                return None, None
            if type(raw) is str and len(raw) <= min(limit, 320) and raw.isascii():
                text = raw.lower()
                if _SIMPLE_EMAIL.fullmatch(text):
                    return text, text
            return slow(raw)

        return email
    if data_type == "url" and limit is not None:

        def url(raw: Any) -> tuple[Any, Any]:
            if raw is None:
                return None, None
            if type(raw) is str and len(raw) <= min(limit, MAX_HOST) and _SIMPLE_URL.fullmatch(raw):
                return raw, raw
            return slow(raw)

        return url
    if data_type == "date":

        def date(raw: Any) -> tuple[Any, Any]:
            if raw is None:
                return None, None
            if type(raw) is str and len(raw) == 10 and _SF_DATE.fullmatch(raw):
                try:
                    dt.date(int(raw[:4]), int(raw[5:7]), int(raw[8:10]))
                except ValueError:
                    return slow(raw)
                return raw, raw
            return slow(raw)

        return date
    if data_type == "datetime":

        def datetime(raw: Any) -> tuple[Any, Any]:
            if raw is None:
                return None, None
            if type(raw) is str and (match := _SF_DATETIME.fullmatch(raw)):
                text = match[1]
                try:
                    dt.datetime(
                        int(text[:4]),
                        int(text[5:7]),
                        int(text[8:10]),
                        int(text[11:13]),
                        int(text[14:16]),
                        int(text[17:19]),
                    )
                except ValueError:
                    return slow(raw)
                text += "Z"
                return text, text
            return slow(raw)

        return datetime
    if data_type == "checkbox":

        def checkbox(raw: Any) -> tuple[Any, Any]:
            value = raw if type(raw) is bool else values.canonical_bool(raw)
            return value, value

        return checkbox
    return slow


def lock_waiting_links(organization_id: int) -> None:
    """Serialize, per organization and until the transaction ends, the pages that add waiting links and those that
    look for them (PostgreSQL; SQLite runs one writing transaction at a time anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as sql:
            sql.execute("SELECT pg_advisory_xact_lock(%s, %s)", [WAITING_LINKS_LOCK, organization_id])


def resolve_waiting(
    organization_id: int, *, parent_sf_ids: Iterable[str] | None = None, child_object: str | None = None
) -> int:
    """Point the children waiting for a parent that is in Rox now (``parent_sf_ids``: only those parents;
    ``child_object``: only children of that Rox object) at it, through the engine's write path, and forget their
    waits. Returns how many waits were resolved."""
    waiting = PendingReference.objects.filter(organization_id=organization_id)
    if parent_sf_ids is not None:
        waiting = waiting.filter(parent_sf_id__any=list(parent_sf_ids))
    if child_object is not None:
        waiting = waiting.filter(child__rox_object=child_object)
    found = list(waiting.select_related("child"))
    if not found:
        return 0
    parents = dict(
        SalesforceLink.objects.filter(
            organization_id=organization_id, sf_id__any={p.parent_sf_id for p in found}, deleted_at=None
        ).values_list("sf_id", "record_id")
    )
    ready = [ref for ref in found if ref.parent_sf_id in parents]
    if not ready:
        return 0
    by_model: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for ref in ready:
        by_model[ref.child.rox_object][ref.rox_field].append((ref.child.record_id, parents[ref.parent_sf_id]))
    from roxcrm.services import record_model

    now = timezone.now()
    with transaction.atomic():
        for rox_object, fields in by_model.items():
            model = record_model(rox_object)
            for name, pairs in fields.items():
                # Through the engine's write path: the children's versions move, so a form opened before the link
                # cannot save the lookup back to blank.
                parent_of = dict(pairs)
                changes = [
                    change
                    for child in records_locked(model, parent_of)
                    if (change := _link_change(child, name, parent_of[child.pk])) is not None
                ]
                records_sync_update(model=model, changes=changes, at=now, label=SYNC_LABEL)
        PendingReference.objects.filter(pk__in=[ref.pk for ref in ready]).delete()
    return len(ready)


def _link_change(child: Any, name: str, parent_id: int) -> SyncChange | None:
    """The change that points ``child``'s lookup ``name`` at ``parent_id`` (a model lookup, or a Link field of an
    added object, ``custom.<api name>``, held in the custom values); None when it points there already."""
    if name.startswith("custom."):
        api_name = name.removeprefix("custom.")
        current = (child.custom_values or {}).get(api_name)
        if current == parent_id:
            return None
        return SyncChange(record=child, custom={api_name: parent_id}, old={name: current})
    attname = f"{name}_id"
    current = getattr(child, attname)
    if current == parent_id:
        return None
    return SyncChange(record=child, values={attname: parent_id}, old={attname: current})


def _rox_parents(fp: FieldPlan, records: Any) -> tuple[str, set[int]]:
    """The Rox object a lookup points to and the ids its records hold now (a standard lookup's column, or a Link
    field's custom value)."""
    if fp.definition is not None:
        api_name = fp.definition.api_name
        return fp.definition.target, {(r.custom_values or {}).get(api_name) for r in records} - {None}
    assert fp.model_field is not None
    target = fp.model_field.related_model.object_type  # type: ignore[union-attr]
    return target, {getattr(r, fp.model_field.attname) for r in records} - {None}


def _sobject_of(sf_id: str, targets: tuple[str, ...]) -> str:
    return PREFIX_OBJECTS.get(sf_id[:3], targets[0] if len(targets) == 1 else "")


def _rox_changed_at(record: Any, key: str) -> dt.datetime | None:
    stamp = (record.field_times or {}).get(key)
    if not stamp or stamp.get("by") == "sync":
        return None
    return dt.datetime.fromisoformat(stamp["at"])
