"""Writeback: Rox → Salesforce for one object, from the outbox.

A drain takes the object's lock, claims the pending outbox rows, pulls first (so a value Salesforce changed after the
Rox change wins and the stale Rox value is not sent), then sends, per record, only the fields whose rule writes and
that describe says are updateable (createable for new records) and whose Rox value differs from the shadow, plus the
static values. Updates go 200 a call through sObject Collections (results matched by position), or a Bulk API 2.0
ingest job above ``SALESFORCE_BULK_WRITE_THRESHOLD``. New records are first looked for in Salesforce by their match
key (one ``IN`` query per batch): one match is linked, none is created, several wait for an admin's review. On
success the shadow becomes what was written, so the echo in the next pull is recognised; each send is kept as a
``WritebackBatch`` so it can be reverted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations import outbox
from integrations.engine import values
from integrations.engine.plan import FieldPlan, ObjectPlan
from integrations.engine.runner import (
    helper_result,
    pull,
    read_records,
    refresh_children_formulas,
    schema_changed,
    schema_recheck,
)
from integrations.engine.writing import ChunkWriter, DrainResult
from integrations.models import (
    OutboxEntry,
    SalesforceConnection,
    SalesforceLink,
    SyncCursor,
    SyncRun,
    WritebackBatch,
)
from integrations.salesforce import soql
from integrations.salesforce.errors import (
    TRANSIENT_CODES,
    SalesforceError,
    TransientError,
)
from mappings.models import ObjectMapping
from roxcrm.bulk import bulk_update
from roxcrm.domains import normalize_domain

log = logging.getLogger(__name__)
CHUNK = 200
WRITE_SLICE = 1000  # outbox rows read at once on the Collections path


@dataclass
class Outgoing:
    """One record's payload and what it replaces."""

    entry: OutboxEntry
    record: Any
    link: SalesforceLink | None
    payload: dict[str, Any] = field(default_factory=dict)  # Salesforce field -> value as sent
    canonical: dict[str, Any] = field(default_factory=dict)  # Salesforce field -> canonical value (new shadow)
    before: dict[str, Any] = field(default_factory=dict)  # Salesforce field -> shadow value it replaces


class RecordWriter(ChunkWriter):
    """The drain's target for records: updates, then creates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_ids: dict[str, str] = {}  # Salesforce user Id by e-mail
        self._owner_emails: dict[int, str] = {}  # Rox user e-mail by id
        self._parents: dict[tuple[str, int], str | None] = {}
        self._looked_up: set[str] = set()  # e-mails already looked up among Salesforce users
        self._sends: ThreadPoolExecutor | None = None
        self._in_flight: list[tuple[list[Outgoing], Future[list[dict[str, Any]]]]] = []
        self._open_errors = outbox.open_error_ids(self.organization, sobject=self.plan.sobject)

    @classmethod
    def read_first(
        cls,
        connection: SalesforceConnection,
        object_mapping: ObjectMapping,
        plan: ObjectPlan,
        cursor: SyncCursor,
        record_ids: list[int] | None,
        result: DrainResult,
    ) -> tuple[ObjectPlan, SyncRun | None]:
        """Read Salesforce's changes first (newer values win over the claimed Rox changes), as close to the write as
        can be: no overlap window, and the children's formula refresh waits until after the write (``after``).
        Salesforce has no conditional update, so a Salesforce edit landing between this read and the write is the
        one case left (a window of a few tens of milliseconds for a few records). A person's save (``record_ids``)
        reads only those records, so its time does not grow with the object's backlog."""
        if record_ids is not None:
            linked = list(
                SalesforceLink.objects.filter(
                    organization=connection.organization,
                    sobject=plan.sobject,
                    rox_object=plan.rox_object,
                    record_id__in=record_ids,
                    deleted_at=None,
                ).values_list("sf_id", flat=True)
            )
            return plan, read_records(connection, plan, linked) if linked else None
        read = pull(connection, plan, cursor, overlap=dt.timedelta(0), formulas_later=result.read_ids)
        if schema_changed(read) and (fresh := schema_recheck(connection, object_mapping)) is not None:
            plan = fresh  # the writes leave out the fields Salesforce no longer has, too
            read = pull(connection, plan, cursor, overlap=dt.timedelta(0), formulas_later=result.read_ids)
        return plan, read

    def after(self) -> None:
        # Children's formulas may follow a parent changed on either side: by the read first, or by this write.
        refresh_children_formulas(self.connection, self.plan, [*self.result.read_ids, *self.result.written_ids])

    def write(self, entries: list[OutboxEntry]) -> None:
        """Write the claimed rows: updates first, then creates. A drain small enough for sObject Collections is
        read and sent slice by slice, so that sending the first chunks overlaps reading the next slice."""
        step = len(entries) if len(entries) > settings.SALESFORCE_BULK_WRITE_THRESHOLD else WRITE_SLICE
        creates: list[Outgoing] = []
        updates: list[Outgoing] = []
        with ThreadPoolExecutor(1, thread_name_prefix="rox-writeback-send") as sends:
            self._sends = sends
            try:
                for start in range(0, len(entries), step):
                    more, new = self._prepare(entries[start : start + step])
                    updates += more
                    creates += new
                    if start + step < len(entries):
                        # Full chunks go now; the rest waits for the next slice (no call carries fewer than it could).
                        cut = len(updates) - len(updates) % CHUNK
                        if cut:
                            self._send_updates(updates[:cut])
                            updates = updates[cut:]
                if updates:
                    self._send_updates(updates)
                while self._in_flight:
                    self._record_updates(*self._in_flight.pop(0))
            finally:
                # The drain stops (the budget, the connection): a chunk already sent is still recorded.
                while self._in_flight:
                    with contextlib.suppress(SalesforceError):
                        self._record_updates(*self._in_flight.pop(0))
        if creates:
            self._send_creates(creates)

    @functools.cached_property
    def _record_columns(self) -> list[str]:
        """The columns of a record a write reads (the mapped fields, custom values, and the match keys of a create);
        the rest (per-field change times, history, notes) stays in the database."""
        model_fields = {f.name for f in self.plan.model._meta.concrete_fields}
        names = {fp.model_field.name for fp in self.plan.fields if fp.model_field is not None}
        names |= {"organization", "custom_values"} | (model_fields & {"owner", "name", "email", "domain", "account"})
        return sorted(names & model_fields)

    def _prepare(self, entries: list[OutboxEntry]) -> tuple[list[Outgoing], list[Outgoing]]:
        """The rows' records and links, read at once: what to update, what to create (rows with nothing left to
        send are done here)."""
        ids = [e.record_id for e in entries]
        records = {r.pk: r for r in self.plan.model.objects.only(*self._record_columns).filter(pk__any=ids)}
        links = {
            link.record_id: link
            for link in SalesforceLink.objects.filter(
                organization=self.organization,
                rox_object=self.plan.rox_object,
                sobject=self.plan.sobject,
                record_id__any=ids,
            ).only("record_id", "sf_id", "shadow", "deleted_at")
        }
        self._owners(entries, records, links)
        updates: list[Outgoing] = []
        creates: list[Outgoing] = []
        nothing: list[OutboxEntry] = []
        for entry in entries:
            record = records.get(entry.record_id)
            link = links.get(entry.record_id)
            if record is None or (link is not None and link.deleted_at is not None):
                self._error(entry, "ENTITY_IS_DELETED", "The record was deleted (in Rox or in Salesforce).", [])
                continue
            if link is None:
                creates.append(self._outgoing(entry, record, None, creating=True))
                continue
            outgoing = self._outgoing(entry, record, link, creating=False)
            if outgoing.payload:
                updates.append(outgoing)
            else:
                nothing.append(entry)
        outbox.done(nothing)
        return updates, creates

    # -- payloads ---------------------------------------------------------------------------------------------

    def _writing_fields(self, creating: bool) -> list[FieldPlan]:
        describe = self.plan.describe.fields
        result = []
        for fp in self.plan.fields:
            if fp.rule not in ("read_write", "write_only", "prefer_salesforce") or fp.kind == "managed":
                continue
            sf = describe.get(fp.sf_field)
            if sf is None or sf.calculated or not (sf.createable if creating else sf.updateable):
                continue
            result.append(fp)
        return result

    def _outgoing(self, entry: OutboxEntry, record: Any, link: SalesforceLink | None, *, creating: bool) -> Outgoing:
        outgoing = Outgoing(entry, record, link)
        shadow = link.shadow if link else {}
        for fp in self._writing_fields(creating):
            if not creating and fp.rox_key not in entry.fields:
                continue
            rox_value = self._rox_canonical(fp, record)
            known = fp.sf_field in shadow
            before = shadow.get(fp.sf_field)
            if creating:
                if values.is_blank(rox_value):
                    continue
            elif known and rox_value == before:
                continue  # nothing to send: Salesforce already holds it (or the pull took Salesforce's newer value)
            if fp.rule == "prefer_salesforce" and not values.is_blank(before):
                continue  # Salesforce wins unless blank: Rox only fills a blank Salesforce field
            if fp.rule == "prefer_salesforce" and values.is_blank(rox_value):
                continue  # and a blank Rox value never clears Salesforce's
            sent = self._to_salesforce(fp, rox_value)
            if sent is _UNRESOLVED:
                continue
            outgoing.payload[fp.sf_field] = sent
            outgoing.canonical[fp.sf_field] = rox_value
            outgoing.before[fp.sf_field] = before
        if outgoing.payload or creating:
            statics = values.static_payload(
                self.statics, self.plan.sobject, self.plan.describe.fields, creating=creating
            )
            for sf_field, value in statics.items():
                outgoing.payload[sf_field] = value
                outgoing.before.setdefault(sf_field, shadow.get(sf_field))
        return outgoing

    def _rox_canonical(self, fp: FieldPlan, record: Any) -> Any:
        if fp.definition is not None:
            stored = (record.custom_values or {}).get(fp.definition.api_name)
            if fp.kind == "reference":  # a Link: the Salesforce Id of the record it holds
                return None if stored is None else self._parent_sf_id(fp.definition.target, fp.targets[0], stored)
            return values.CANONICAL[fp.kind](stored)
        assert fp.model_field is not None
        raw = getattr(record, fp.model_field.attname)
        if fp.kind == "owner":
            return self._owner_emails.get(raw) if raw else None
        if fp.kind == "reference":
            if raw is None:
                return None
            target = fp.model_field.related_model.object_type  # type: ignore[union-attr]
            return self._parent_sf_id(target, fp.targets[0], raw)
        return values.CANONICAL[fp.kind](raw)

    def _to_salesforce(self, fp: FieldPlan, canonical: Any) -> Any:
        if fp.kind == "owner":
            if canonical is None:
                return _UNRESOLVED  # Salesforce requires an owner: never clear it
            return self.user_ids.get(canonical, _UNRESOLVED)
        if fp.kind == "reference":
            if canonical is not None and canonical.startswith("rox:"):
                return _UNRESOLVED  # the parent is not in Salesforce yet
            return canonical
        return values.to_salesforce(fp.kind, canonical)

    def _owners(self, entries: list[OutboxEntry], records: dict[int, Any], links: dict[int, SalesforceLink]) -> None:
        """Rox owners by e-mail, and the Salesforce users with the e-mails that are about to be sent (one query, and
        none when no owner changed)."""
        from roxcrm.models import User

        owner_ids = {getattr(r, "owner_id", None) for r in records.values()} - {None}
        self._owner_emails = {u.pk: u.email.lower() for u in User.objects.filter(pk__in=owner_ids)}
        owner_fields = [fp for fp in self.plan.fields if fp.kind == "owner" and fp.model_field is not None]
        needed: set[str] = set()
        for entry in entries:
            record, link = records.get(entry.record_id), links.get(entry.record_id)
            if record is None:
                continue
            for fp in owner_fields:
                email = self._owner_emails.get(getattr(record, fp.model_field.attname))  # type: ignore[union-attr]
                if email is None:
                    continue
                if link is None or (fp.rox_key in entry.fields and link.shadow.get(fp.sf_field) != email):
                    needed.add(email)
        needed -= self._looked_up
        if not needed:
            return
        self._looked_up |= needed
        emails = sorted(needed)
        for start in range(0, len(emails), CHUNK):
            where = f"Email IN {soql.literal_list(emails[start : start + CHUNK])} AND IsActive = true"
            for row in self.client.query_all(soql.select(["Id", "Email"], "User", where=where)):
                self.user_ids.setdefault(row["Email"].lower(), row["Id"])

    def _parent_sf_id(self, rox_object: str, sobject: str, record_id: int) -> str:
        cache = self._parents
        key = (rox_object, record_id)
        if key not in cache:
            cache[key] = (
                SalesforceLink.objects.filter(
                    organization=self.organization, rox_object=rox_object, sobject=sobject, record_id=record_id
                )
                .values_list("sf_id", flat=True)
                .first()
            )
        return cache[key] or f"rox:{record_id}"

    # -- updates ------------------------------------------------------------------------------------------------

    def _send_updates(self, updates: list[Outgoing]) -> None:
        if len(updates) > settings.SALESFORCE_BULK_WRITE_THRESHOLD:
            self._send_bulk_updates(updates)
            return
        # After failures of a whole call, retry in smaller chunks.
        size = max(CHUNK >> (max(u.entry.attempts for u in updates) - 1), 10)
        chunks = [updates[start : start + size] for start in range(0, len(updates), size)]
        # Each chunk is sent on the send thread while this one records the chunk before it (the database work) or
        # reads the next slice, so the API's latency and the database's overlap; at most three chunks are out at once.
        for chunk in chunks:
            self._in_flight.append((chunk, self._sends.submit(self._patch, chunk)))  # type: ignore[union-attr]
            if len(self._in_flight) > 2:
                self._record_updates(*self._in_flight.pop(0))

    def _patch(self, chunk: list[Outgoing]) -> list[dict[str, Any]]:
        """One sObject Collections update (API only: it may run on the send thread)."""
        return self.client.collections(
            "PATCH",
            [{"attributes": {"type": self.plan.sobject}, "Id": u.link.sf_id, **u.payload} for u in chunk],  # type: ignore[union-attr]
        )

    def _record_updates(self, chunk: list[Outgoing], sent: Future[list[dict[str, Any]]]) -> None:
        try:
            results = helper_result(sent, lambda: self._patch(chunk))
        except TransientError as exc:
            self._retry_all([o.entry for o in chunk], exc)
            return
        self._results(chunk, results, created=False)
        self._report()

    def _send_bulk_updates(self, updates: list[Outgoing]) -> None:
        by_id = {u.link.sf_id: u for u in updates}  # type: ignore[union-attr]
        columns = sorted({k for u in updates for k in u.payload})
        rows = [{"Id": sf_id, **{c: u.payload.get(c) for c in columns}} for sf_id, u in by_id.items()]
        failed = {
            row.get("sf__Id") or row.get("Id"): row.get("sf__Error", "")
            for row in self.client.bulk_ingest(self.plan.sobject, "update", rows)
        }
        ok, bad = [], []
        for sf_id, outgoing in by_id.items():
            (bad if sf_id in failed else ok).append(outgoing)
        self._succeeded(ok, created=False)
        for outgoing in bad:
            code, _, message = failed[outgoing.link.sf_id].partition(":")  # type: ignore[union-attr]
            self._error(
                outgoing.entry, code.strip() or "BULK_ERROR", message.strip() or failed[outgoing.link.sf_id], []
            )  # type: ignore[union-attr]
        self._report()

    def _results(self, chunk: list[Outgoing], results: list[dict[str, Any]], *, created: bool) -> None:
        ok = []
        for outgoing, result in zip(chunk, results, strict=True):
            if result.get("success"):
                if created:
                    outgoing.link = self._new_link(outgoing, result["id"])
                ok.append(outgoing)
                continue
            error = (result.get("errors") or [{}])[0]
            code = error.get("statusCode", "UNKNOWN")
            message, fields = error.get("message", ""), error.get("fields", [])
            if code in TRANSIENT_CODES:
                self._retry(outgoing.entry, code, message)
            else:
                self._error(outgoing.entry, code, message, fields)
        self._succeeded(ok, created=created)

    def _succeeded(self, done: list[Outgoing], *, created: bool) -> None:
        """The shadow becomes what was written; the batch keeps what it replaced."""
        if not done:
            return
        now = timezone.now()
        with transaction.atomic():
            batch = WritebackBatch.objects.create(
                connection=self.connection,
                sobject=self.plan.sobject,
                records=[
                    {
                        "sf_id": o.link.sf_id,  # type: ignore[union-attr]
                        "rox_object": self.plan.rox_object,
                        "record_id": o.record.pk,
                        "created": created,
                        "before": o.before,
                        "after": o.canonical,
                    }
                    for o in done
                ],
            )
            links = []
            for outgoing in done:
                link = outgoing.link
                assert link is not None
                link.shadow = {**(link.shadow or {}), **outgoing.canonical}
                link.synced_at = now
                links.append(link)
                outgoing.entry.batch = batch
            bulk_update(SalesforceLink, links, ["shadow", "synced_at"])
            outbox.done([o.entry for o in done], batch=batch)
            outbox.resolve_errors(
                self.organization,
                self.plan.sobject,
                self.plan.rox_object,
                [o.record.pk for o in done if o.record.pk in self._open_errors],
            )
        if created:
            self.result.created += len(done)
        else:
            self.result.written += len(done)
        self.result.written_ids += [o.link.sf_id for o in done if o.link is not None]

    # -- new records ----------------------------------------------------------------------------------------------

    def _send_creates(self, creates: list[Outgoing]) -> None:
        """Look each new record up by its match key first (one query per chunk): link one match, create none,
        hold several for review. A create retried after a timeout finds the record it made and links it."""
        for start in range(0, len(creates), CHUNK):
            chunk = creates[start : start + CHUNK]
            matches = self._matches([o for o in chunk if "__create_new__" not in o.entry.fields])
            to_create = []
            for outgoing in chunk:
                found = matches.get(outgoing.entry.pk, [])
                if len(found) == 1 and self._linked_elsewhere(found[0]["Id"], outgoing):
                    self._error(
                        outgoing.entry,
                        "DUPLICATE_IN_ROX",
                        f"Salesforce's {self.plan.sobject} {found[0]['Id']} is already linked to another Rox record: "
                        "this one looks like a duplicate of it.",
                        [],
                    )
                elif len(found) == 1:
                    # Linked, not overwritten: the next pull takes Salesforce's values and keeps the Rox values
                    # Salesforce lacks (which are then written to fill its blanks).
                    outgoing.link = self._new_link(outgoing, found[0]["Id"])
                    self.result.linked += 1
                    outbox.done([outgoing.entry])
                elif len(found) > 1:
                    self.result.review += 1
                    outbox.review(
                        outgoing.entry,
                        [{"id": r["Id"], "name": r.get("Name") or r.get("LastName") or ""} for r in found],
                    )
                elif any(v is _UNRESOLVED for v in outgoing.payload.values()) or self._waiting_for_parent(outgoing):
                    self._retry(outgoing.entry, "PARENT_PENDING", "Waiting for a parent record to reach Salesforce.")
                else:
                    to_create.append(outgoing)
            if not to_create:
                continue
            try:
                results = self.client.collections(
                    "POST", [{"attributes": {"type": self.plan.sobject}, **o.payload} for o in to_create]
                )
            except TransientError as exc:
                self._retry_all([o.entry for o in to_create], exc)
                continue
            self._results(to_create, results, created=True)
            self._report()

    def _waiting_for_parent(self, outgoing: Outgoing) -> bool:
        """A lookup to a parent that is itself still waiting to be created in Salesforce."""
        for fp in self._writing_fields(creating=True):
            if fp.kind != "reference":
                continue
            if fp.definition is not None:
                parent_id = (outgoing.record.custom_values or {}).get(fp.definition.api_name)
            elif fp.model_field is not None:
                parent_id = getattr(outgoing.record, fp.model_field.attname)
            else:
                continue
            if parent_id and fp.sf_field not in outgoing.payload:
                return True
        return False

    def _matches(self, chunk: list[Outgoing]) -> dict[int, list[dict[str, Any]]]:
        sobject = self.plan.sobject
        found: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if sobject == "Account":
            domains = {o.entry.pk: getattr(o.record, "domain", "") for o in chunk}
            names = {o.entry.pk: o.record.name for o in chunk}
            conditions = [f"Name IN {soql.literal_list(sorted(set(names.values())))}"]
            conditions += [f"Website LIKE {soql.literal('%' + d + '%')}" for d in sorted(set(domains.values()) - {""})]
            rows = list(
                self.client.query_all(soql.select(["Id", "Name", "Website"], "Account", where=" OR ".join(conditions)))
            )
            for outgoing in chunk:
                key = outgoing.entry.pk
                by_domain = [r for r in rows if domains[key] and normalize_domain(r.get("Website")) == domains[key]]
                found[key] = by_domain or [r for r in rows if (r.get("Name") or "").strip() == names[key].strip()]
        elif sobject in ("Contact", "Lead"):
            emails = {o.entry.pk: (o.record.email or "").lower() for o in chunk}
            wanted = sorted(set(emails.values()) - {""})
            if wanted:
                rows = list(
                    self.client.query_all(
                        soql.select(["Id", "LastName", "Email"], sobject, where=f"Email IN {soql.literal_list(wanted)}")
                    )
                )
                for outgoing in chunk:
                    found[outgoing.entry.pk] = [
                        r for r in rows if (r.get("Email") or "").lower() == emails[outgoing.entry.pk] != ""
                    ]
        elif self.plan.added and self._name_matches:
            # An added object: by its name (an auto-numbered name is Salesforce's own, so nothing to match by), and
            # a detail by its name under its master (every project has its own "Kickoff" milestone).
            names = {o.entry.pk: (o.record.name or "").strip() for o in chunk}
            wanted = sorted(set(names.values()) - {""})
            masters = self._master_fields
            if wanted:
                where = f"Name IN {soql.literal_list(wanted)}"
                rows = list(self.client.query_all(soql.select(["Id", "Name", *masters], sobject, where=where)))
                for outgoing in chunk:
                    name = names[outgoing.entry.pk]
                    found[outgoing.entry.pk] = [
                        r
                        for r in rows
                        if name
                        and (r.get("Name") or "").strip() == name
                        and all(r.get(f) == outgoing.payload.get(f) for f in masters)
                    ]
        elif sobject == "Opportunity":
            pairs = {o.entry.pk: (o.payload.get("AccountId"), o.record.name) for o in chunk}
            accounts = sorted({a for a, _ in pairs.values() if a and a is not _UNRESOLVED})
            if accounts:
                names = sorted({n for _, n in pairs.values()})
                where = f"AccountId IN {soql.literal_list(accounts)} AND Name IN {soql.literal_list(names)}"
                rows = list(self.client.query_all(soql.select(["Id", "Name", "AccountId"], "Opportunity", where=where)))
                for outgoing in chunk:
                    account, name = pairs[outgoing.entry.pk]
                    found[outgoing.entry.pk] = [r for r in rows if r["AccountId"] == account and r["Name"] == name]
        return found

    @functools.cached_property
    def _master_fields(self) -> list[str]:
        """The master-detail fields a create writes: a detail is the same record only under the same master."""
        describe = self.plan.describe.fields
        return sorted(
            fp.sf_field
            for fp in self._writing_fields(creating=True)
            if fp.sf_field in describe and describe[fp.sf_field].master_detail
        )

    @functools.cached_property
    def _name_matches(self) -> bool:
        name = self.plan.describe.fields.get("Name")
        return name is not None and not name.auto_number and not name.calculated

    def _linked_elsewhere(self, sf_id: str, outgoing: Outgoing) -> bool:
        return (
            SalesforceLink.objects.filter(organization=self.organization, sobject=self.plan.sobject, sf_id=sf_id)
            .exclude(record_id=outgoing.record.pk)
            .exists()
        )

    def _new_link(self, outgoing: Outgoing, sf_id: str) -> SalesforceLink:
        link, _ = SalesforceLink.objects.get_or_create(
            organization=self.organization,
            sobject=self.plan.sobject,
            sf_id=sf_id,
            defaults={
                "rox_object": self.plan.rox_object,
                "record_id": outgoing.record.pk,
                "synced_at": timezone.now(),
                "shadow": {},
            },
        )
        return link


class _Unresolved:
    """A value that cannot be sent yet (a parent not in Salesforce, an owner without a Salesforce user)."""

    def __repr__(self) -> str:
        return "<unresolved>"


_UNRESOLVED: Any = _Unresolved()
