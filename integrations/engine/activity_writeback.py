"""Activity writeback: e-mails, calls and LinkedIn touches as Salesforce Tasks, meetings as Events, exactly once.

Every Task/Event carries ``RoxActivityId__c`` = the activity's stable Rox id and is written with an upsert on that
field (``PATCH /composite/sobjects/Task/RoxActivityId__c``, 200 a call), so a retry, a crash, a restarted worker or
two workers at once never make a second one; edits update the same Task. Per chunk of 200 activities there is at
most one query each for contacts and leads by e-mail (users: once per drain). The Activities tab's switches are
checked when writing: a type switched off is not written (its earlier Tasks stay).

A drain is a pipeline: while this thread builds a chunk and records the one before it (all the database work), a
helper thread looks up the next chunks' people and another sends the current chunk, so the API's latency and the
database's overlap instead of adding up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from activities.models import Activity
from integrations import outbox
from integrations.engine import values
from integrations.engine.runner import helper_result
from integrations.engine.writing import ChunkWriter
from integrations.models import (
    OutboxEntry,
    SalesforceLink,
    WritebackBatch,
)
from integrations.salesforce import soql
from integrations.salesforce.errors import (
    TRANSIENT_CODES,
    SalesforceError,
    TransientError,
)
from mappings.models import ActivitySettings
from roxcrm.bulk import bulk_insert
from roxcrm.models import Lead, User

CHUNK = 200
ADDRESSES_PER_QUERY = 300  # e-mail addresses in one look-up's IN list
EXTERNAL_ID = "RoxActivityId__c"
TRUNCATED = "\n… [cut by Rox to fit Salesforce's length]"
SUBJECTS = {
    "email": "Email: {subject}",
    "call": "Call: {subject}",
    "linkedin_message": "LinkedIn message",
    "linkedin_connection": "LinkedIn connection request",
}
SUBTYPES = {"email": "Email", "call": "Call", "linkedin_message": "Task", "linkedin_connection": "Task"}
TYPES = {"email": "Email", "call": "Call", "linkedin_message": "Other", "linkedin_connection": "Other"}
CREATE_ONLY = ("TaskSubtype",)  # Salesforce sets it on create only
LEAD_PREFIX = "00Q"  # the key prefix of Lead Ids


@dataclass
class Who:
    sf_id: str | None
    choice: str  # how it was chosen, recorded with the write


@dataclass
class Prepared:
    entry: OutboxEntry
    activity: Activity
    record: dict[str, Any] = field(default_factory=dict)
    who: Who | None = None
    linked_to: str | None = None  # the Task/Event the activity was already linked to


class ActivityWriter(ChunkWriter):
    """The drain's target for activities: Tasks and Events upserted on ``RoxActivityId__c``."""

    sync_required = False  # the Activities tab's switches say what is written

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.switches = ActivitySettings.for_organization(self.organization)
        self.describe = self.plan.describe.fields
        self._user_ids: dict[str, str] = {}  # Salesforce user Id by e-mail
        self._owner_emails: dict[int, str] = {}  # Rox user e-mail (lower case) by id
        self._looked_up: set[str] = set()
        self._open_errors = outbox.open_error_ids(self.organization, rox_object="activity")

    def write(self, entries: list[OutboxEntry]) -> None:
        # Per-field change times and the removal columns are never written to Salesforce: not loaded.
        activities = {
            a.pk: a
            for a in Activity.objects.defer("field_times", "removed_at", "removed_reason").filter(
                pk__any=[e.record_id for e in entries]
            )
        }
        owner_ids = {a.owner_id for a in activities.values() if a.owner_id}
        self._owner_emails.update(
            (pk, email.lower())
            for pk, email in User.objects.filter(pk__in=owner_ids - set(self._owner_emails)).values_list("pk", "email")
        )
        ready: list[Prepared] = []
        for entry in entries:
            activity = activities.get(entry.record_id)
            if activity is None or activity.origin != Activity.Origin.ROX:
                outbox.dropped(entry, "The activity is gone or was logged in Salesforce.")
                continue
            if not self.switches.writes(activity.type):
                outbox.dropped(entry, f"{ActivitySettings.switch_label(activity.type)} is off on the Activities tab.")
                continue
            ready.append(Prepared(entry, activity))
        if not ready:
            return
        self._owners([p.activity for p in ready])
        chunks = [ready[start : start + CHUNK] for start in range(0, len(ready), CHUNK)]
        # A pipeline over three threads: this one does the database work (building a chunk, recording the one sent
        # before it), one looks up the next chunks' people by e-mail, one sends the current chunk. Only this thread
        # touches the database; the others make API calls.
        with (
            ThreadPoolExecutor(1, thread_name_prefix="rox-activity-lookup") as lookups,
            ThreadPoolExecutor(1, thread_name_prefix="rox-activity-send") as sends,
        ):
            found = [lookups.submit(self._resolve_who, [p.activity for p in chunk]) for chunk in chunks]
            in_flight: list[tuple[list[Prepared], Future[list[dict[str, Any]]]]] = []
            try:
                for chunk, who_future in zip(chunks, found, strict=True):
                    whos = helper_result(who_future, lambda c=chunk: self._resolve_who([p.activity for p in c]))
                    self._prepare(chunk, whos)
                    in_flight.append((chunk, sends.submit(self._send, chunk)))
                    if len(in_flight) > 1:
                        self._record(*in_flight.pop(0))
                while in_flight:
                    self._record(*in_flight.pop(0))
            finally:
                for future in found:
                    future.cancel()
                # The drain stops (the budget, the connection); a chunk already sent is still recorded, so that
                # what Salesforce took is known. Its failure leaves its rows in flight, which the drain puts back.
                for chunk, future in in_flight:
                    with contextlib.suppress(SalesforceError):
                        self._record(chunk, future)

    # -- building the Tasks and Events ---------------------------------------------------------------------------

    def _prepare(self, prepared: list[Prepared], whos: dict[int, Who]) -> None:
        whats = self._whats([p.activity for p in prepared])
        whos = {**whos, **self._chosen_whos([p.activity for p in prepared])}
        linked = dict(
            SalesforceLink.objects.filter(
                organization=self.organization,
                rox_object="activity",
                sobject=self.plan.sobject,
                record_id__any=[p.activity.pk for p in prepared],
            ).values_list("record_id", "sf_id")
        )
        for item in prepared:
            activity = item.activity
            item.linked_to = linked.get(activity.pk)
            item.who = whos.get(activity.pk, Who(None, "no contact or lead has these addresses"))
            item.record = self._build(activity, item.who, self._user_ids, whats, creating=item.linked_to is None)

    def _build(
        self, activity: Activity, who: Who, owners: dict[str, str], whats: dict[int, str | None], *, creating: bool
    ) -> dict[str, Any]:
        owner_email = self._owner_emails.get(activity.owner_id, "") if activity.owner_id else ""
        record: dict[str, Any] = {
            EXTERNAL_ID: str(activity.code),
            "Description": self._fit("Description", activity.body) or None,
            "OwnerId": owners.get(owner_email, self.connection.sf_user_id),
            "WhoId": who.sf_id,
            # Salesforce relates an activity on a lead to nothing else (FIELD_INTEGRITY_EXCEPTION otherwise).
            "WhatId": None if (who.sf_id or "").startswith(LEAD_PREFIX) else whats.get(activity.pk),
        }
        if self.plan.sobject == "Event":
            start = activity.occurred_at
            end = start + dt.timedelta(seconds=activity.duration_seconds or 30 * 60)
            record.update(
                Subject=self._fit("Subject", activity.subject or "Meeting"),
                StartDateTime=values.canonical_datetime(start),
                EndDateTime=values.canonical_datetime(end),
            )
        else:
            subject = SUBJECTS[activity.type].format(subject=activity.subject or _call_label(activity))
            record.update(
                Subject=self._fit("Subject", subject),
                ActivityDate=timezone.localdate(activity.occurred_at).isoformat(),
                Status="Completed",
                Type=TYPES[activity.type],
            )
            if creating:
                record["TaskSubtype"] = SUBTYPES[activity.type]
            if activity.type == Activity.Type.CALL:
                record["CallDurationInSeconds"] = activity.duration_seconds
                record["CallType"] = {"inbound": "Inbound", "outbound": "Outbound"}.get(activity.direction)
        # The Activities tab's own field mappings and static values apply last.
        for fp in self.plan.fields:
            if fp.kind == "managed" or fp.rule not in ("read_write", "write_only", "prefer_salesforce"):
                continue
            sf = self.describe.get(fp.sf_field)
            if sf is None or sf.calculated or not sf.updateable:
                continue
            if fp.definition is not None:
                raw = (activity.custom_values or {}).get(fp.definition.api_name)
                record[fp.sf_field] = values.to_salesforce(fp.kind, values.CANONICAL[fp.kind](raw))
            elif fp.model_field is not None and fp.kind not in ("reference", "owner"):
                raw = getattr(activity, fp.model_field.attname)
                record[fp.sf_field] = values.to_salesforce(fp.kind, values.CANONICAL[fp.kind](raw))
        record.update(values.static_payload(self.statics, self.plan.sobject, self.describe, creating=creating))
        return {k: v for k, v in record.items() if k in self.describe or k == EXTERNAL_ID}

    def _fit(self, sf_field: str, text: str) -> str:
        """Cut text to the field's length with a visible marker, so Salesforce never refuses it for length."""
        limit = self.describe[sf_field].length if sf_field in self.describe else 0
        if not text or not limit or len(text) <= limit:
            return text
        return text[: limit - len(TRUNCATED)] + TRUNCATED

    def _resolve_who(self, activities: list[Activity]) -> dict[int, Who]:
        """The Contact whose e-mail matches a participant (one query); for e-mail activities with Lead Resolution
        on and no Contact, the Lead (one query). Several matches: the most recently modified active record."""
        emails = sorted({e.lower() for a in activities for e in (a.participant_emails or [])})
        if not emails:
            return {}
        contacts = self._by_email("Contact", emails, "")
        lead_emails = sorted(
            {e.lower() for a in activities if a.type == Activity.Type.EMAIL for e in a.participant_emails or []}
            - set(contacts)
        )
        leads = (
            self._by_email("Lead", lead_emails, "IsConverted = false")
            if self.switches.lead_resolution and lead_emails
            else {}
        )
        result = {}
        for activity in activities:
            for email in activity.participant_emails or []:
                email = email.lower()
                found, kind = contacts.get(email), "Contact"
                if not found and activity.type == Activity.Type.EMAIL and self.switches.lead_resolution:
                    found, kind = leads.get(email), "Lead"
                if found:
                    note = f"{kind} with {email}"
                    if len(found) > 1:
                        note += f"; {len(found)} matched, the most recently modified was chosen"
                    result[activity.pk] = Who(found[0]["Id"], note)
                    break
        return result

    def _by_email(self, sobject: str, emails: list[str], condition: str) -> dict[str, list[dict[str, Any]]]:
        """Records by e-mail, most recently modified first: one query per 300 addresses (one per chunk, unless its
        activities have many participants), keeping the query's URL well inside Salesforce's limit."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for start in range(0, len(emails), ADDRESSES_PER_QUERY):
            batch = emails[start : start + ADDRESSES_PER_QUERY]
            where = f"Email IN {soql.literal_list(batch)}" + (f" AND {condition}" if condition else "")
            rows = self.client.query_all(
                soql.select(["Id", "Email", "LastModifiedDate"], sobject, where=where, order_by="LastModifiedDate DESC")
            )
            for row in rows:
                found[(row.get("Email") or "").lower()].append(row)
        return found

    def _owners(self, activities: list[Activity]) -> dict[str, str]:
        """Salesforce users by the e-mail of the activities' Rox owners, looked up once per drain (one query per 300
        addresses, usually one in all)."""
        emails = {self._owner_emails.get(a.owner_id, "") for a in activities if a.owner_id}
        emails = sorted(emails - {""} - self._looked_up)
        for start in range(0, len(emails), ADDRESSES_PER_QUERY):
            batch = emails[start : start + ADDRESSES_PER_QUERY]
            rows = self.client.query_all(
                soql.select(["Id", "Email"], "User", where=f"Email IN {soql.literal_list(batch)} AND IsActive = true")
            )
            self._user_ids.update((row["Email"].lower(), row["Id"]) for row in rows)
            self._looked_up.update(batch)
        return self._user_ids

    def _chosen_whos(self, activities: list[Activity]) -> dict[int, Who]:
        """The contact (else the lead) a person chose on the activity itself, when it is in Salesforce: it comes
        before any match by e-mail (one query for the links; a converted lead is left to the e-mail match)."""
        chosen = {
            a.pk: ("contact", a.contact_id) if a.contact_id else ("lead", a.lead_id)
            for a in activities
            if a.contact_id or a.lead_id
        }
        if not chosen:
            return {}
        lead_ids = [i for kind, i in chosen.values() if kind == "lead"]
        converted = (
            set(Lead.objects.filter(pk__any=lead_ids).exclude(converted_at=None).values_list("pk", flat=True))
            if lead_ids
            else set()
        )
        links = {
            (rox_object, record_id): sf_id
            for rox_object, record_id, sf_id in SalesforceLink.objects.filter(
                organization=self.organization,
                rox_object__in=("contact", "lead"),
                record_id__any=sorted({i for _, i in chosen.values()}),
                deleted_at=None,
            ).values_list("rox_object", "record_id", "sf_id")
        }
        return {
            pk: Who(links[key], f"the activity's {key[0]}")
            for pk, key in chosen.items()
            if key in links and not (key[0] == "lead" and key[1] in converted)
        }

    def _whats(self, activities: list[Activity]) -> dict[int, str | None]:
        """The related opportunity's Salesforce Id, else the account's (from the links, no API call)."""
        wanted = {("opportunity", a.opportunity_id) for a in activities if a.opportunity_id}
        wanted |= {("account", a.account_id) for a in activities if a.account_id}
        found: dict[tuple[str, int], str] = {}
        for rox_object in ("opportunity", "account"):
            ids = [i for kind, i in wanted if kind == rox_object]
            if ids:
                found.update(
                    ((rox_object, record_id), sf_id)
                    for record_id, sf_id in SalesforceLink.objects.filter(
                        organization=self.organization, rox_object=rox_object, record_id__any=ids, deleted_at=None
                    ).values_list("record_id", "sf_id")
                )
        return {
            a.pk: found.get(("opportunity", a.opportunity_id)) or found.get(("account", a.account_id))
            for a in activities
        }

    # -- writing ----------------------------------------------------------------------------------------------

    def _send(self, prepared: list[Prepared]) -> list[dict[str, Any]]:
        """One upsert call for the chunk (API only: it may run on the send thread)."""
        records = [{"attributes": {"type": self.plan.sobject}, **p.record} for p in prepared]
        return self.client.request(
            "PATCH",
            f"composite/sobjects/{self.plan.sobject}/{EXTERNAL_ID}/",
            json={"allOrNone": False, "records": records},
        )

    def _record(
        self, prepared: list[Prepared], sent: Future[list[dict[str, Any]]] | None = None, *, retrying: bool = False
    ) -> None:
        """Record the outcome of a chunk's upsert (sent on the send thread, or now when ``sent`` is None)."""
        try:
            results = helper_result(sent, lambda: self._send(prepared)) if sent else self._send(prepared)
        except TransientError as exc:
            self._retry_all([item.entry for item in prepared], exc)
            return
        done, again = [], []
        for item, outcome in zip(prepared, results, strict=True):
            if outcome.get("success"):
                done.append((item, outcome))
                continue
            error = (outcome.get("errors") or [{}])[0]
            code, message, fields = (
                error.get("statusCode", "UNKNOWN"),
                error.get("message", ""),
                error.get("fields", []),
            )
            if not retrying and any(f in CREATE_ONLY for f in fields) and any(f in item.record for f in CREATE_ONLY):
                # It exists already (written before a crash, say): update it without the create-only fields.
                item.record = {k: v for k, v in item.record.items() if k not in CREATE_ONLY}
                again.append(item)
            elif code in TRANSIENT_CODES:
                self._retry(item.entry, code, message)
            else:
                self._error(item.entry, code, message, fields)
        self._succeeded(done)
        if again:
            self._record(again, retrying=True)
        self._report()

    def _succeeded(self, done: list[tuple[Prepared, dict[str, Any]]]) -> None:
        if not done:
            return
        now = timezone.now()
        batch = WritebackBatch.objects.create(
            connection=self.connection,
            sobject=self.plan.sobject,
            records=[
                {
                    "sf_id": o["id"],
                    "rox_object": "activity",
                    "record_id": p.activity.pk,
                    "created": bool(o.get("created")),
                    "before": {},
                    "after": {},
                    "who": p.who.choice if p.who else "",
                }
                for p, o in done
            ],
        )
        # A created Task is new, and an updated one usually the activity's linked Task; only the rest (written before
        # a crash, say) are looked up.
        unsure = [o["id"] for p, o in done if not o.get("created") and o["id"] != p.linked_to]
        existing = {o["id"] for p, o in done if not o.get("created") and o["id"] == p.linked_to}
        if unsure:
            existing.update(
                SalesforceLink.objects.filter(
                    organization=self.organization, sobject=self.plan.sobject, sf_id__any=unsure
                ).values_list("sf_id", flat=True)
            )
        bulk_insert(
            SalesforceLink,
            [
                SalesforceLink(
                    organization=self.organization,
                    sobject=self.plan.sobject,
                    sf_id=o["id"],
                    rox_object="activity",
                    record_id=p.activity.pk,
                    synced_at=now,
                    shadow={EXTERNAL_ID: str(p.activity.code)},
                )
                for p, o in done
                if o["id"] not in existing
            ],
        )
        outbox.done([p.entry for p, _ in done], batch=batch)
        outbox.resolve_errors(
            self.organization,
            self.plan.sobject,
            "activity",
            [p.activity.pk for p, _ in done if p.activity.pk in self._open_errors],
        )
        self.result.created += sum(1 for _, o in done if o.get("created"))
        self.result.written += sum(1 for _, o in done if not o.get("created"))


def _call_label(activity: Activity) -> str:
    """A call's subject when it has none: whom it was with."""
    return activity.participant_emails[0] if activity.participant_emails else "phone call"
