"""Reliability soak test of the two-way Salesforce sync: the real product, a real sfsim over HTTPS, a real PostgreSQL
database and a real django-q2 worker that is killed with SIGKILL at random moments.

    python bench/soak.py [--minutes 10] [--seed 1]          # make soak SOAK_ARGS="--minutes 2"

What it does:

1. Set-up: a fresh PostgreSQL database, an sfsim org seeded with ``demo`` (scenario ``ready``, control API on), an
   organization connected headlessly (client credentials), prerequisite checks, submit (which creates the django-q2
   schedules), and the first sync of every object. New entity writeback is switched on for Account and Contact.
2. Load, for ``--minutes``: people edit Read and Write fields in Rox through the one edit path
   (``roxcrm.services.record_update`` as ``Actor.person``), Salesforce users edit the same fields through sfsim's
   control API, and both sides create accounts and contacts. sfsim answers ~10% of API calls with a transient fault
   (``unavailable``, ``lock``, ``drop``), and every 20-60 s all access tokens expire (``POST
   /_sfsim/sessions/expire``). The worker (``manage.py qcluster``, its own process group) is killed with SIGKILL
   every 30-90 s and restarted after a short pause. Some edits are aimed at a change the other side has not seen
   yet (a Salesforce edit not read by Rox yet, a Rox change still in the outbox), so conflicts are decided both
   ways. Beside these, each through the path a person or Salesforce uses:

   - **Merges**: a Salesforce user merges two accounts, or two contacts, that Salesforce users created during the
     soak and Rox already has (sfsim's ``POST /_sfsim/merge``: the loser's children move to the survivor, the loser
     is deleted with ``MasterRecordId``).
   - **Lead conversions**: a Salesforce user creates a lead, and once Rox has it converts it (``POST
     /_sfsim/convert-lead``: a new account, contact and opportunity).
   - **Late parents**: a Salesforce user creates an account that becomes visible late (a back-dated
     ``SystemModstamp``) and a contact under it at once, and the contact's sync is enqueued alone, so Rox usually
     reads the child before its parent.
   - **Stale page saves**: a person opens a record's edit page (Django's test client, as a browser would: every
     field of the form and its version are posted back); a Salesforce user changes the phone and the engine applies
     it; the person then saves another field from the old form.
   - **Static values**: set up before the first sync through the mappings' services (``Description`` on accounts
     and contacts); static values on match keys and external ids (``Website``, ``Name``, ``External_Key__c``,
     ``Email``) are tried and must be refused.
   - **Refused writes**: a person sets an account's tier (a Rox field mapped Read and Write to
     ``Customer_Tier__c``) to a value the Salesforce admin removed when restricting the picklist just after Rox's
     daily checks re-read the describe (the first time when the worker starts), so only Salesforce can refuse it.
   - **Worker kills during creates**: half the kills follow a burst of Rox account (and contact) creates and land
     as soon as a drain has their create rows in flight.
   - **Activities**: with the Activities tab's e-mail and call writeback on, people log e-mails and calls with
     contacts through the edit path.
   - **Reconciliation**: every cycle also enqueues a reconciliation of every object (``reconcile_task`` below,
     the product's ``reconcile`` under the object's lock).
3. Convergence: faults off, the worker running and no longer killed, then at most two sync cycles. A cycle is the
   sync of every enabled object (parents first) and a writeback sweep, enqueued to the worker; the next cycle starts
   when every task of this one has finished.
4. Checks: every written field holds the last value written (by this script's own log of who wrote what when) in
   Rox and in Salesforce; nothing is duplicated on either side; every created record exists on both sides, linked,
   with its parent; every record that could not be written is listed with its reason (failed or review outbox rows,
   open sync errors); no outbox row is left pending or in flight. And for the actions above: a merge's loser is
   hidden in Rox with its link marked merged into the survivor, the survivor stays live and linked, and the loser's
   children are under the survivor on both sides (its fields' last writes are checked as every record's are);
   a converted lead is converted in Rox and points at the account, contact and opportunity the conversion made,
   each in Rox once, the contact and opportunity under the account; a late parent's contact is linked under its
   account (counted: how many Rox read before their account); a stale page save was refused with a conflict or at
   least did not undo the engine's change; every record Rox created or wrote in Salesforce holds the static
   values, and none of the refused ones was saved; every refused write is still pending, or failed with its
   error open on Sync health, and Salesforce never got the value; every burst's record exists once on each side,
   linked (the creation checks); no reconciliation marked a record Salesforce still has as deleted (no link is
   deleted while its Salesforce record lives); every activity is exactly one Task with its ``RoxActivityId__c``,
   its contact's ``WhoId`` and its subject, and Rox did not read any back as a second activity. Prints a summary
   with a count of each action and the verdict (mismatches, duplicates, silent losses), appends it to
   ``bench/RESULTS.md`` and exits 1 when there is any mismatch.

Time is compressed, because the product's periods are made for hours, not a 10-minute run (each is said in the
summary):

- The schedules stay what the product makes them (every object's sync at the minimum frequency, 5 minutes; the
  writeback sweep every minute) and this script also enqueues a sync of every object plus a sweep through
  ``django_q.tasks.async_task`` every ``--tick`` seconds (15 by default), as the schedules would if they ran that
  often. Edits still reach the worker the product's own way (a task enqueued when the edit commits).
- ``SALESFORCE_RUN_TIMEOUT`` stays the product's (``--run-timeout``, 30 minutes): on PostgreSQL a SIGKILLed run's
  object lock goes with its database session and the object's next run releases the rows it left in flight, so
  convergence starts right after the faults stop. (On SQLite a dead run's lock waits for that timeout; the soak runs
  on PostgreSQL.)

Rules the load keeps so that "the last write wins" has one meaning (the checks rely on them):

- The two sides never write the same field of the same record less than ``--gap`` seconds apart (2.5 s): Salesforce
  stamps have one-second precision, so closer writes are ties nobody can order.
- A Salesforce user does not edit a record while Rox has changes of *other* fields of it waiting to be written:
  the product compares Rox's per-field change time with the record's ``SystemModstamp`` (Salesforce keeps no
  per-field time), so if Salesforce had also changed the waiting field before the Rox change, a later Salesforce
  edit of another field makes that older Salesforce value win, as the product's rule says but not as "the last
  write of the field" would. Salesforce edits of the *same* field as a waiting Rox change are allowed (the newer
  Salesforce value must win). The same holds for the Salesforce changes a merge makes (the survivor and the
  loser's children) and a conversion (the lead): they wait until Rox has nothing of those records waiting.
- A record in a merge, a conversion, a refused write or an open stale form is reserved: the random editors leave
  it alone from then on (a merged or converted record cannot be edited in Salesforce; a refused write makes every
  later write of its record fail with it, as it should, which would only hide the other checks).

Artifacts (the write log, the worker's and sfsim's output, sfsim's data) stay in ``bench/out/soak-<time>/``; the
PostgreSQL database ``roxcrm_soak`` is kept until the next run, for post-mortems.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = "roxcrm_soak"
OBJECTS = ("Account", "Contact", "Opportunity", "Lead")
INDUSTRIES = (
    "Agriculture",
    "Banking",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Finance",
    "Healthcare",
    "Insurance",
    "Retail",
)
OPEN_STATES = ("pending", "in_flight")
# A value of Account.Customer_Tier__c that Salesforce refuses once its admin restricted the picklist (after Rox read
# the describe, so Rox's edit-time check cannot know): the soak's refused writes.
REFUSED_TIER = "Platinum"
# Static values configured at set-up: written by Rox on every record it creates or updates.
STATIC_VALUES = {"Account": ("Description", "Written by Rox (soak)"), "Contact": ("Description", "Written by Rox")}
# Static values the product must refuse (match keys, external ids): tried at set-up, each must be refused.
REFUSED_STATICS = (("Account", "Website"), ("Account", "Name"), ("Account", "External_Key__c"), ("Contact", "Email"))


@dataclass(frozen=True)
class FieldSpec:
    rox: str  # Rox model field
    sf: str  # Salesforce field
    kind: str  # phone, text, industry, money, int


# Fields whose rule is Read and Write in the default mappings, edited on both sides.
FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "Account": (
        FieldSpec("phone", "Phone", "phone"),
        FieldSpec("industry", "Industry", "industry"),
        FieldSpec("billing_city", "BillingCity", "text"),
        FieldSpec("employee_count", "NumberOfEmployees", "int"),
    ),
    "Contact": (FieldSpec("phone", "Phone", "phone"), FieldSpec("title", "Title", "text")),
    "Opportunity": (FieldSpec("amount", "Amount", "money"), FieldSpec("next_step", "NextStep", "text")),
    "Lead": (FieldSpec("phone", "Phone", "phone"), FieldSpec("title", "Title", "text")),
}
SPEC = {(sobject, spec.rox): spec for sobject, specs in FIELDS.items() for spec in specs}


def norm(kind: str, value: Any) -> str | None:
    """One comparable form of a value from either side (Rox model values, Salesforce JSON)."""
    if value is None or value == "":
        return None
    if kind == "money":
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    if kind == "int":
        return str(int(value))
    return str(value).strip() or None


@dataclass
class Write:
    """One write this script made (the log every check is made against)."""

    side: str  # "rox" or "salesforce"
    sobject: str
    rox_id: int | None
    sf_id: str | None
    field: str  # Rox field name
    value: str | None  # normalized
    started: float
    at: float  # when the write returned
    by: str
    created: bool = False


@dataclass
class Created:
    side: str
    sobject: str
    rox_id: int | None
    sf_id: str | None
    key: str  # name (accounts) or e-mail (contacts)
    website: str = ""
    parent_rox_id: int | None = None
    parent_sf_id: str | None = None
    merged_into: str | None = None  # merged away in Salesforce (the merge checks cover it)
    late_parent: bool = False  # its account was made visible to Rox's sync only after it


@dataclass
class Merge:
    sobject: str
    master_sf: str
    loser_sf: str
    master_rox: int
    loser_rox: int
    at: float
    children: list[str] = field(default_factory=list)  # the loser's children in Salesforce (moved to the master)


@dataclass
class Conversion:
    lead_sf: str
    lead_rox: int
    account_sf: str
    contact_sf: str
    opportunity_sf: str
    at: float


@dataclass
class StaleSave:
    sobject: str
    rox_id: int
    sf_id: str
    engine_field: str  # the field a Salesforce user changed and the engine applied while the form was open
    engine_value: str | None
    saved_field: str  # the unrelated field the person saved with the old version
    outcome: str  # "refused" (a conflict shown), "saved" (accepted), "undone" (the engine's change was lost)
    status: int


@dataclass
class RefusedWrite:
    rox_id: int
    sf_id: str | None
    at: float


@dataclass
class LoggedActivity:
    rox_id: int
    code: str
    type: str
    contact_rox_id: int
    subject: str  # the Salesforce Task's expected Subject


@dataclass
class Mismatch:
    kind: str
    detail: str
    diagnosis: list[str] = field(default_factory=list)


class Worker:
    """``manage.py qcluster`` in its own process group, so a kill takes the cluster and its workers at once."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.starts = 0

    def start(self) -> None:
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                return
            log = self.log_path.open("ab")
            log.write(f"\n===== worker start {time.strftime('%H:%M:%S')} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.starts += 1

    def kill(self) -> bool:
        """SIGKILL the whole process group; True when something was running."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                return False
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return True

    def stop(self) -> None:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Soak:
    def __init__(self, args: argparse.Namespace, server: Any, out_dir: Path, env: dict[str, str]) -> None:
        self.args = args
        self.server = server
        self.out_dir = out_dir
        self.tag = f"soak{time.strftime('%H%M%S')}"
        self.stop = threading.Event()
        self.edit_lock = threading.Lock()  # one write at a time, so a check and its write are atomic
        self.log: list[Write] = []
        self.created: list[Created] = []
        self.registry: dict[tuple[str, str, Any, str], tuple[str, float]] = {}
        self.counter = itertools.count(1000)
        self.worker = Worker(env, out_dir / "worker.log")
        self.kills = 0
        self.expirations = 0
        self.last_kill = 0.0
        self.skipped: Counter = Counter()
        self.refused: Counter = Counter()
        self.targeted: Counter = Counter()
        self.harness_errors: list[str] = []
        self.ticks = 0
        self.hot: dict[str, list[int]] = {}
        self.sf_users: list[str] = []
        self.phases: dict[str, float] = {}
        self.cycle_results: list[list[str]] = []
        # The new actions: merges, conversions, stale page saves, refused writes, activities, kills during creates.
        self.reserved: set[tuple[str, str, Any]] = set()  # (sobject, "rox"|"sf", id): no random edits any more
        self.merges: list[Merge] = []
        self.conversions: list[Conversion] = []
        self.stale_saves: list[StaleSave] = []
        self.refused_writes: list[RefusedWrite] = []
        self.refused_at_edit = 0
        self.activities: list[LoggedActivity] = []
        self.kills_during_creates = 0
        self.burst_creates = 0
        self.actions: Counter = Counter()
        self.static_refusals: dict[str, str] = {}
        self.stale_outcomes: Counter = Counter()
        self.reconciles_enqueued = 0
        self.tier_restricted = False

    # -- set-up ---------------------------------------------------------------------------------------------------

    def setup(self) -> None:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from integrations.services import connection_connect_client_credentials, connection_submit, preflight_run
        from integrations.tasks import first_sync_task
        from mappings.models import ObjectMapping
        from roxcrm.models import User
        from roxcrm.services import organization_create

        started = time.monotonic()
        server = self.server
        # Customer_Tier__c is unrestricted when Rox reads the describe; its admin restricts it after the first sync.
        server.control("PATCH", "fields/Account/Customer_Tier__c", {"restrictedPicklist": False})
        self.user = User.objects.create_user(email="soak@rox.example", password="soak-password-123")
        self.org = organization_create(name="Soak", slug="soak", user=self.user)
        connection = connection_connect_client_credentials(
            organization=self.org,
            login_url=server.login_url,
            client_id=server.client_id,
            client_secret=server.client_secret,
        )
        preflight = preflight_run(connection=connection)
        assert preflight.outcome in ("succeeded", "warnings"), preflight.error
        self.connection = connection_submit(connection=connection, user=self.user)
        assert self.connection.status == "connected", self.connection.action_reason
        from integrations.schedules import schedules_sync

        # The shortest frequency the product offers; the ticks below stand in for a shorter one.
        ObjectMapping.objects.filter(organization=self.org).update(sync_frequency=min(ObjectMapping.FREQUENCIES))
        ObjectMapping.objects.filter(organization=self.org, sobject__in=["Account", "Contact"]).update(
            new_entity_writeback=True
        )
        schedules_sync(self.connection)
        self.configure()
        outcome = first_sync_task(self.connection.pk)
        assert all(part.endswith(("Succeeded", "Succeeded with warnings")) for part in outcome.split("; ")), outcome
        self.first_sync = outcome
        from integrations.models import SyncRun

        self.first_sync_rows = sum(
            run.counts.get("fetched", 0) for run in SyncRun.objects.filter(connection=self.connection, kind="inbound")
        )
        self.phases["setup"] = time.monotonic() - started
        users = server.control(
            "POST", "query", {"q": "SELECT Id, Username FROM User WHERE IsActive = true ORDER BY Username"}
        )["records"]
        self.sf_users = [u["Username"] for u in users if u["Username"] != server.username][:4]
        assert self.sf_users, "the demo seed has Salesforce users besides the admin"
        rng = random.Random(self.args.seed)
        for sobject in OBJECTS:
            linked = sorted(self.sf_of_rox_all(sobject))
            self.hot[sobject] = rng.sample(linked, min(8, len(linked)))
        from roxcrm.models import Contact

        # Contacts that e-mails and calls are logged with (present before the soak, so never merged by it).
        linked_contacts = self.sf_of_rox_all("Contact")
        with_email = Contact.objects.filter(
            organization=self.org, pk__in=list(linked_contacts), removed_at=None
        ).exclude(email="")
        self.activity_contacts = sorted(with_email.values_list("pk", flat=True))[:40]
        assert self.activity_contacts, "the demo seed has contacts with e-mail addresses"

    def configure(self) -> None:
        """What an admin sets up before the first sync, through the product's own services: a Rox field mapped Read
        and Write to Customer_Tier__c, static values (and the ones the product must refuse), and the Activities
        tab's e-mail and call writeback switches."""
        from django.core.exceptions import ValidationError

        from mappings.models import ActivitySettings, ObjectMapping, StaticValue
        from mappings.services import activity_settings_save, custom_field_create_and_map, static_value_save
        from roxcrm.models import CustomField

        mappings = {m.sobject: m for m in ObjectMapping.objects.filter(organization=self.org)}
        tier = CustomField(
            organization=self.org, object_type="account", label="Tier", api_name="tier", data_type="text"
        )
        custom_field_create_and_map(
            object_mapping=mappings["Account"],
            field=tier,
            sf_field="Customer_Tier__c",
            rule="read_write",
            user=self.user,
        )
        for sobject, (sf_field, value) in STATIC_VALUES.items():
            static_value_save(
                static=StaticValue(object_mapping=mappings[sobject], sf_field=sf_field, value=value), user=self.user
            )
        for sobject, sf_field in REFUSED_STATICS:
            try:
                static_value_save(
                    static=StaticValue(object_mapping=mappings[sobject], sf_field=sf_field, value="soak"),
                    user=self.user,
                )
            except ValidationError as exc:
                self.static_refusals[f"{sobject}.{sf_field}"] = "; ".join(exc.messages)[:100]
        settings_row = ActivitySettings.for_organization(self.org)
        settings_row.email_writeback = settings_row.call_writeback = True
        activity_settings_save(settings_row=settings_row, user=self.user)

    # -- identities -----------------------------------------------------------------------------------------------

    def model(self, sobject: str) -> Any:
        from roxcrm.models import Account, Contact, Lead, Opportunity

        return {"Account": Account, "Contact": Contact, "Opportunity": Opportunity, "Lead": Lead}[sobject]

    def sf_of_rox_all(self, sobject: str) -> dict[int, str]:
        from integrations.models import SalesforceLink

        return dict(
            SalesforceLink.objects.filter(organization=self.org, sobject=sobject, deleted_at=None).values_list(
                "record_id", "sf_id"
            )
        )

    def link_of(self, sobject: str, *, rox_id: int | None = None, sf_id: str | None = None) -> tuple[Any, Any]:
        from integrations.models import SalesforceLink

        links = SalesforceLink.objects.filter(organization=self.org, sobject=sobject, deleted_at=None)
        if rox_id is not None:
            return rox_id, links.filter(record_id=rox_id).values_list("sf_id", flat=True).first()
        return links.filter(sf_id=sf_id).values_list("record_id", flat=True).first(), sf_id

    def editable_rox_ids(self, sobject: str) -> list[int]:
        records = self.model(sobject).objects.filter(organization=self.org, removed_at=None)
        if sobject == "Lead":
            records = records.filter(converted_at=None)
        return list(records.values_list("pk", flat=True))

    def reserve(self, sobject: str, rox_id: int | None, sf_id: str | None) -> None:
        """Keep the random editors off a record (merged, converted, refused, or on a form being saved)."""
        self.reserved |= {(sobject, "rox", rox_id), (sobject, "sf", sf_id)} - {
            (sobject, "rox", None),
            (sobject, "sf", None),
        }

    def release(self, sobject: str, rox_id: int | None, sf_id: str | None) -> None:
        self.reserved -= {(sobject, "rox", rox_id), (sobject, "sf", sf_id)}

    def is_reserved(self, sobject: str, rox_id: int | None = None, sf_id: str | None = None) -> bool:
        return (sobject, "rox", rox_id) in self.reserved or (sobject, "sf", sf_id) in self.reserved

    def waiting_rows(self, sobject: str, rox_ids: list[int]) -> bool:
        """Whether Rox has changes of any of these records waiting to be written."""
        from integrations.models import OutboxEntry

        return OutboxEntry.objects.filter(
            organization=self.org, sobject=sobject, record_id__in=rox_ids, state__in=OPEN_STATES
        ).exists()

    # -- the write log and its rules ------------------------------------------------------------------------------

    def may_write(self, side: str, sobject: str, rox_id: int | None, sf_id: str | None, name: str) -> bool:
        """No write closer than ``--gap`` seconds after the other side's last write of the same field."""
        now = time.time()
        for key in (("rox", rox_id), ("sf", sf_id)):
            if key[1] is None:
                continue
            last = self.registry.get((sobject, key[0], key[1], name))
            if last and last[0] != side and now - last[1] < self.args.gap:
                return False
        return True

    def record(self, write: Write) -> None:
        self.log.append(write)
        for key in (("rox", write.rox_id), ("sf", write.sf_id)):
            if key[1] is not None:
                self.registry[(write.sobject, key[0], key[1], write.field)] = (write.side, write.at)

    def new_value(self, spec: FieldSpec, rng: random.Random, current: str | None) -> Any:
        n = next(self.counter)
        if spec.kind == "phone":
            return f"+1 555 {n:07d}"
        if spec.kind == "industry":
            return rng.choice([i for i in INDUSTRIES if i != current])
        if spec.kind == "money":
            return Decimal(n) + Decimal(rng.randint(0, 99)) / 100
        if spec.kind == "int":
            return n
        return f"Soak {spec.rox.replace('_', ' ')} {n}"

    # -- load: Rox ------------------------------------------------------------------------------------------------

    def rox_loop(self) -> None:
        from django.db import connection

        from roxcrm.services import Actor

        rng = random.Random(self.args.seed * 7 + 1)
        actor = Actor.person(self.user)
        pools: dict[str, list[int]] = {}
        refreshed = 0.0
        try:
            while not self.stop.wait(rng.expovariate(self.args.rox_rate)):
                if time.monotonic() - refreshed > 5:
                    pools = {sobject: self.editable_rox_ids(sobject) for sobject in OBJECTS}
                    refreshed = time.monotonic()
                draw = rng.random()
                if draw < self.args.create_share:
                    self.rox_create(rng, actor, pools)
                elif draw < self.args.create_share + self.args.activity_share:
                    self.rox_activity(rng, actor)
                elif draw < self.args.create_share + self.args.activity_share + self.args.refused_share:
                    self.rox_refused(rng, actor, pools)
                else:
                    self.rox_edit(rng, actor, pools)
        except Exception:
            self.harness_errors.append(f"Rox editor: {traceback.format_exc()}")
        finally:
            connection.close()

    def pick(self, rng: random.Random, pool: list[Any], hot: list[Any]) -> Any:
        """A record of ``pool``, from the few hot ones 40% of the time (so both sides meet on the same fields)."""
        hot = [h for h in hot if h in pool] if hot else []
        if hot and rng.random() < 0.4:
            return rng.choice(hot)
        return rng.choice(pool) if pool else None

    def rox_edit(self, rng: random.Random, actor: Any, pools: dict[str, list[int]]) -> None:
        from django.core.exceptions import ValidationError

        from roxcrm.services import record_update

        target = self.unpulled_salesforce_write(rng) if rng.random() < self.args.conflict_share else None
        if target is not None:
            sobject, rox_id, spec = target
            self.targeted["rox after an unread Salesforce edit"] += 1
        else:
            sobject = rng.choice(OBJECTS)
            rox_id = self.pick(rng, pools[sobject], self.hot[sobject])
            if rox_id is None:
                return
            spec = rng.choice(FIELDS[sobject])
        model = self.model(sobject)
        with self.edit_lock:
            _, sf_id = self.link_of(sobject, rox_id=rox_id)
            if self.is_reserved(sobject, rox_id, sf_id):
                self.skipped["rox: record reserved by another action"] += 1
                return
            if not self.may_write("rox", sobject, rox_id, sf_id, spec.rox):
                self.skipped["rox: too close to a Salesforce write of the field"] += 1
                return
            current = model.objects.filter(pk=rox_id).values_list(spec.rox, flat=True).first()
            value = self.new_value(spec, rng, current)
            started = time.time()
            try:
                record_update(record=model(pk=rox_id), values={spec.rox: value}, actor=actor)
            except ValidationError as exc:
                self.refused[f"Rox refused {sobject}.{spec.rox}: {'; '.join(exc.messages)[:80]}"] += 1
                return
            self.record(
                Write(
                    "rox", sobject, rox_id, sf_id, spec.rox, norm(spec.kind, value), started, time.time(), actor.label
                )
            )

    def unpulled_salesforce_write(self, rng: random.Random) -> tuple[str, int, FieldSpec] | None:
        """A field a Salesforce user changed that Rox has not read yet: editing it in Rox now is a conflict the
        pull must decide for Rox (the newer change)."""
        from integrations.models import SalesforceLink

        now = time.time()
        recent = [
            w for w in self.log[-400:] if w.side == "salesforce" and now - 60 < w.at < now - self.args.gap and w.sf_id
        ]
        for write in rng.sample(recent, min(len(recent), 10)):
            link = SalesforceLink.objects.filter(
                organization=self.org, sobject=write.sobject, sf_id=write.sf_id, deleted_at=None
            ).first()
            if link is not None and (link.modstamp is None or link.modstamp.timestamp() < write.started - 1):
                return write.sobject, link.record_id, SPEC[(write.sobject, write.field)]
        return None

    def waiting_rox_change(self, rng: random.Random) -> tuple[str, str, FieldSpec] | None:
        """A Rox change of one field still waiting in the outbox: a Salesforce user editing the same field now
        makes a conflict the writeback must decide for Salesforce (the newer change)."""
        from integrations.models import OutboxEntry

        rows = list(
            OutboxEntry.objects.filter(
                organization=self.org, sobject__in=OBJECTS, operation="update", state__in=OPEN_STATES
            ).values_list("sobject", "record_id", "fields")[:200]
        )
        rng.shuffle(rows)
        for sobject, rox_id, fields in rows:
            if len(fields) == 1 and (sobject, next(iter(fields))) in SPEC:
                _, sf_id = self.link_of(sobject, rox_id=rox_id)
                if sf_id:
                    return sobject, sf_id, SPEC[(sobject, next(iter(fields)))]
        return None

    def rox_create(self, rng: random.Random, actor: Any, pools: dict[str, list[int]]) -> None:
        n = next(self.counter)
        with self.edit_lock:
            started = time.time()
            accounts = [pk for pk in pools["Account"] if not self.is_reserved("Account", pk)]
            if rng.random() < 0.45 or not accounts:
                self.rox_new_account(rng, actor, n, "", started)
            else:
                # Half the time under an account created in Rox during the soak (parent before child).
                mine = [
                    c.rox_id
                    for c in self.created
                    if c.side == "rox" and c.sobject == "Account" and not self.is_reserved("Account", c.rox_id)
                ]
                parent_id = rng.choice(mine) if mine and rng.random() < 0.5 else rng.choice(accounts)
                self.rox_new_contact(actor, n, "", parent_id, started)

    def rox_new_account(self, rng: random.Random, actor: Any, n: int, suffix: str, started: float) -> int:
        """A person creates an account (a unique name and website); logged as created with its fields' writes."""
        from roxcrm.models import Account
        from roxcrm.services import record_create

        website = f"https://{self.tag}-rox-a{n}{suffix.replace(' ', '-')}.example.com"
        values: dict[str, Any] = {
            "name": f"Soak {self.tag} Rox A{n}{suffix}",
            "website": website,
            "phone": f"+1 555 {n:07d}",
            "industry": rng.choice(INDUSTRIES),
        }
        record = record_create(organization=self.org, model=Account, values=values, actor=actor)
        self.created.append(Created("rox", "Account", record.pk, None, values["name"], website=website))
        self.record_created("rox", "Account", record.pk, values, started, actor.label)
        return record.pk

    def rox_new_contact(self, actor: Any, n: int, suffix: str, parent_id: int, started: float) -> int:
        from roxcrm.models import Account, Contact
        from roxcrm.services import record_create

        values = {
            "last_name": f"Soak {self.tag} Rox C{n}{suffix}",
            "email": f"{self.tag}.rox.c{n}{suffix.replace(' ', '.')}@example.org",
            "phone": f"+1 555 {n:07d}",
            "title": f"Soak title {n}",
            "account": Account.objects.get(pk=parent_id),
        }
        record = record_create(organization=self.org, model=Contact, values=values, actor=actor)
        self.created.append(Created("rox", "Contact", record.pk, None, values["email"], parent_rox_id=parent_id))
        self.record_created("rox", "Contact", record.pk, values, started, actor.label)
        return record.pk

    def record_created(
        self, side: str, sobject: str, key: Any, values: dict[str, Any], started: float, by: str
    ) -> None:
        """Log the written fields of a record just created (Rox field names for Rox, Salesforce ones for
        Salesforce); ``key`` is the Rox id or the Salesforce Id."""
        at = time.time()
        rox_id, sf_id = (key, None) if side == "rox" else (None, key)
        for spec in FIELDS[sobject]:
            name = spec.rox if side == "rox" else spec.sf
            if name in values:
                value = norm(spec.kind, values[name])
                self.record(Write(side, sobject, rox_id, sf_id, spec.rox, value, started, at, by, created=True))

    def rox_activity(self, rng: random.Random, actor: Any) -> None:
        """A person logs an e-mail or a call with a contact (the Activities tab writes both as Tasks)."""
        from activities.models import Activity
        from integrations.engine.activity_writeback import SUBJECTS
        from roxcrm.models import Contact
        from roxcrm.services import record_create

        n = next(self.counter)
        contact = Contact.objects.get(pk=rng.choice(self.activity_contacts))
        kind = rng.choice([Activity.Type.EMAIL, Activity.Type.CALL])
        subject = f"Soak {self.tag} {'e-mail' if kind == Activity.Type.EMAIL else 'call'} {n}"
        with self.edit_lock:
            activity = record_create(
                organization=self.org,
                model=Activity,
                values={
                    "type": kind,
                    "subject": subject,
                    "body": f"Logged by the soak ({n})",
                    "occurred_at": dt.datetime.now(dt.UTC),
                    "direction": Activity.Direction.OUTBOUND,
                    "duration_seconds": 60 + n % 600 if kind == Activity.Type.CALL else None,
                    "participant_emails": [contact.email],
                    "contact": contact,
                    "owner": self.user,
                },
                actor=actor,
            )
        self.activities.append(
            LoggedActivity(
                activity.pk, str(activity.code), str(kind), contact.pk, SUBJECTS[kind].format(subject=subject)
            )
        )

    def rox_refused(self, rng: random.Random, actor: Any, pools: dict[str, list[int]]) -> None:
        """A person sets an account's tier to a value Salesforce refuses (its admin restricted the picklist after Rox
        read the describe): the change must wait, failed and shown, never be dropped."""
        from django.core.exceptions import ValidationError

        from roxcrm.models import Account
        from roxcrm.services import record_update

        if not self.tier_restricted:
            return
        candidates = [pk for pk in pools["Account"] if pk not in self.hot["Account"]]
        rox_id = rng.choice(candidates) if candidates else None
        if rox_id is None:
            return
        with self.edit_lock:
            _, sf_id = self.link_of("Account", rox_id=rox_id)
            if sf_id is None or self.is_reserved("Account", rox_id, sf_id):
                return
            self.reserve("Account", rox_id, sf_id)
            try:
                record_update(record=Account(pk=rox_id), custom_values={"tier": REFUSED_TIER}, actor=actor)
            except ValidationError as exc:
                self.refused_at_edit += 1
                self.refused[f"Rox refused Account.tier: {'; '.join(exc.messages)[:80]}"] += 1
                self.release("Account", rox_id, sf_id)
                return
            self.refused_writes.append(RefusedWrite(rox_id, sf_id, time.time()))

    # -- load: Salesforce -----------------------------------------------------------------------------------------

    def sf_loop(self) -> None:
        from django.db import connection

        rng = random.Random(self.args.seed * 7 + 2)
        pools: dict[str, list[str]] = {}
        hot: dict[str, list[str]] = {}
        refreshed = 0.0
        try:
            while not self.stop.wait(rng.expovariate(self.args.sf_rate)):
                if time.monotonic() - refreshed > 5:
                    pools, hot = self.sf_pools()
                    refreshed = time.monotonic()
                if rng.random() < self.args.create_share:
                    self.sf_create(rng, pools)
                else:
                    self.sf_edit(rng, pools, hot)
        except Exception:
            self.harness_errors.append(f"Salesforce editor: {traceback.format_exc()}")
        finally:
            connection.close()

    def sf_pools(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Salesforce Ids a Salesforce user may edit: the linked records Rox may edit too, and those created in
        Salesforce during the soak (linked or not yet)."""
        pools, hot = {}, {}
        for sobject in OBJECTS:
            sf_of_rox = self.sf_of_rox_all(sobject)
            ids = {sf_of_rox[pk] for pk in self.editable_rox_ids(sobject) if pk in sf_of_rox}
            ids |= {c.sf_id for c in self.created if c.side == "salesforce" and c.sobject == sobject}
            pools[sobject] = sorted(ids)
            hot[sobject] = [sf_of_rox[pk] for pk in self.hot[sobject] if pk in sf_of_rox]
        return pools, hot

    def sf_edit(self, rng: random.Random, pools: dict[str, list[str]], hot: dict[str, list[str]]) -> None:
        from integrations.models import OutboxEntry

        target = self.waiting_rox_change(rng) if rng.random() < self.args.conflict_share else None
        if target is not None:
            sobject, sf_id, spec = target
            self.targeted["Salesforce after a waiting Rox change"] += 1
        else:
            sobject = rng.choice(OBJECTS)
            sf_id = self.pick(rng, pools[sobject], hot[sobject])
            if sf_id is None:
                return
            spec = rng.choice(FIELDS[sobject])
        user = rng.choice(self.sf_users)
        with self.edit_lock:
            rox_id, _ = self.link_of(sobject, sf_id=sf_id)
            if self.is_reserved(sobject, rox_id, sf_id):
                self.skipped["salesforce: record reserved by another action"] += 1
                return
            if rox_id is not None:
                waiting = OutboxEntry.objects.filter(
                    organization=self.org, sobject=sobject, record_id=rox_id, state__in=OPEN_STATES
                ).values_list("operation", "fields")
                if any(op == "create" or set(fields) - {spec.rox} for op, fields in waiting):
                    self.skipped["salesforce: Rox changes of other fields are waiting"] += 1
                    return
            if not self.may_write("salesforce", sobject, rox_id, sf_id, spec.rox):
                self.skipped["salesforce: too close to a Rox write of the field"] += 1
                return
            current = None
            if spec.kind == "industry":
                current = self.server.control("GET", f"records/{sobject}/{sf_id}").get(spec.sf)
            value = self.new_value(spec, rng, current)
            started = time.time()
            self.server.control(
                "PATCH", f"records/{sobject}/{sf_id}", {"as": user, "fields": {spec.sf: sf_json(value)}}
            )
            self.record(
                Write(
                    "salesforce", sobject, rox_id, sf_id, spec.rox, norm(spec.kind, value), started, time.time(), user
                )
            )

    def sf_create(self, rng: random.Random, pools: dict[str, list[str]]) -> None:
        n = next(self.counter)
        user = rng.choice(self.sf_users)
        with self.edit_lock:
            started = time.time()
            accounts = [sf_id for sf_id in pools["Account"] if not self.is_reserved("Account", sf_id=sf_id)]
            if rng.random() < 0.45 or not accounts:
                sobject = "Account"
                website = f"https://{self.tag}-sf-a{n}.example.net"
                fields: dict[str, Any] = {
                    "Name": f"Soak {self.tag} SF A{n}",
                    "Website": website,
                    "Phone": f"+1 555 {n:07d}",
                    "Industry": rng.choice(INDUSTRIES),
                }
                sf_id = self.server.control("POST", "records/Account", {"as": user, "fields": fields})["id"]
                self.created.append(Created("salesforce", "Account", None, sf_id, fields["Name"], website=website))
            else:
                sobject = "Contact"
                mine = [
                    c.sf_id
                    for c in self.created
                    if c.side == "salesforce"
                    and c.sobject == "Account"
                    and not self.is_reserved("Account", sf_id=c.sf_id)
                ]
                parent = rng.choice(mine) if mine and rng.random() < 0.5 else rng.choice(accounts)
                fields = {
                    "LastName": f"Soak {self.tag} SF C{n}",
                    "Email": f"{self.tag}.sf.c{n}@example.net",
                    "Phone": f"+1 555 {n:07d}",
                    "Title": f"Soak title {n}",
                    "AccountId": parent,
                }
                sf_id = self.server.control("POST", "records/Contact", {"as": user, "fields": fields})["id"]
                self.created.append(Created("salesforce", "Contact", None, sf_id, fields["Email"], parent_sf_id=parent))
            self.record_created("salesforce", sobject, sf_id, fields, started, user)

    # -- load: Salesforce users' merges, lead conversions and late parents -----------------------------------------

    def sf_actions_loop(self) -> None:
        from django.db import connection

        rng = random.Random(self.args.seed * 7 + 5)
        actions = ("merge Account", "merge Contact", "convert", "late parent")
        try:
            while not self.stop.wait(rng.uniform(0.5, 1.5) * self.args.action_every):
                action = rng.choice(actions)
                if action.startswith("merge"):
                    self.sf_merge(rng, action.split()[1])
                elif action == "convert":
                    self.sf_convert(rng)
                else:
                    self.sf_late_parent(rng)
        except Exception:
            self.harness_errors.append(f"Salesforce actions: {traceback.format_exc()}")
        finally:
            connection.close()

    def sf_merge(self, rng: random.Random, sobject: str) -> None:
        """A Salesforce user merges two records created in Salesforce during the soak (and already in Rox): the
        loser's children move to the survivor, the loser is deleted with MasterRecordId."""
        from roxcrm.models import Contact

        with self.edit_lock:
            candidates = []
            for created in self.created:
                if created.side != "salesforce" or created.sobject != sobject or created.merged_into:
                    continue
                if created.key.startswith("converted from"):
                    continue  # the conversion checks follow these
                rox_id, _ = self.link_of(sobject, sf_id=created.sf_id)
                if rox_id is not None and not self.is_reserved(sobject, rox_id, created.sf_id):
                    candidates.append((created, rox_id))
            if len(candidates) < 2:
                self.skipped[f"merge {sobject}: fewer than two candidates in Rox yet"] += 1
                return
            (master, master_rox), (loser, loser_rox) = rng.sample(candidates, 2)
            children_rox = (
                list(Contact.objects.filter(organization=self.org, account_id=loser_rox).values_list("pk", flat=True))
                if sobject == "Account"
                else []
            )
            # The rule the load keeps: Salesforce changes no record (the merge moves the children) while Rox has
            # changes of it waiting.
            if self.waiting_rows(sobject, [master_rox, loser_rox]) or self.waiting_rows("Contact", children_rox):
                self.skipped[f"merge {sobject}: Rox changes of the records are waiting"] += 1
                return
            children: list[str] = []
            if sobject == "Account":
                children = list(self.sf_rows("Contact", ["AccountId"], f"AccountId = '{loser.sf_id}'"))
                for child in children:
                    child_rox, _ = self.link_of("Contact", sf_id=child)
                    if self.is_reserved("Contact", child_rox, child):
                        self.skipped["merge Account: a child is reserved by another action"] += 1
                        return
            self.reserve(sobject, master_rox, master.sf_id)
            self.reserve(sobject, loser_rox, loser.sf_id)
            user = rng.choice(self.sf_users)
            self.server.control(
                "POST", "merge", {"object": sobject, "master": master.sf_id, "losers": [loser.sf_id], "as": user}
            )
            loser.merged_into = master.sf_id
            for created in self.created:  # the loser's children now belong to the survivor
                if created.parent_sf_id == loser.sf_id:
                    created.parent_sf_id = master.sf_id
                if created.parent_rox_id == loser_rox and sobject == "Account":
                    created.parent_rox_id = master_rox
            self.merges.append(Merge(sobject, master.sf_id, loser.sf_id, master_rox, loser_rox, time.time(), children))
            self.actions[f"merge {sobject}"] += 1

    def sf_convert(self, rng: random.Random) -> None:
        """A Salesforce user creates a lead, and once Rox has it converts it (account, contact and opportunity)."""
        from roxcrm.models import Lead

        n = next(self.counter)
        user = rng.choice(self.sf_users)
        with self.edit_lock:
            converted = {c.lead_sf for c in self.conversions}
            waiting = [
                c for c in self.created if c.side == "salesforce" and c.sobject == "Lead" and c.sf_id not in converted
            ]
            ready = []
            for created in waiting:
                rox_id, _ = self.link_of("Lead", sf_id=created.sf_id)
                if rox_id is not None and not self.waiting_rows("Lead", [rox_id]):
                    ready.append((created, rox_id))
            if not ready:
                if len(waiting) < 3:
                    self.sf_create_lead(n, user)
                return
            created, rox_id = rng.choice(ready)
            if Lead.objects.filter(pk=rox_id).values_list("converted_at", flat=True).first() is not None:
                return
            self.reserve("Lead", rox_id, created.sf_id)
            result = self.server.control(
                "POST",
                "convert-lead",
                {"lead": created.sf_id, "as": user, "opportunity_name": f"Soak {self.tag} Conv O{n}"},
            )
            conversion = Conversion(
                created.sf_id, rox_id, result["accountId"], result["contactId"], result["opportunityId"], time.time()
            )
            self.conversions.append(conversion)
            self.created.append(
                Created("salesforce", "Account", None, conversion.account_sf, f"converted from {created.key}")
            )
            self.created.append(
                Created(
                    "salesforce",
                    "Contact",
                    None,
                    conversion.contact_sf,
                    f"converted from {created.key}",
                    parent_sf_id=conversion.account_sf,
                )
            )
            self.actions["lead conversion"] += 1

    def sf_create_lead(self, n: int, user: str) -> None:
        fields = {
            "LastName": f"Soak {self.tag} SF L{n}",
            "Company": f"Soak {self.tag} Conv A{n}",
            "Website": f"https://{self.tag}-conv{n}.example.net",
            "Email": f"{self.tag}.conv{n}@example.net",
            "Phone": f"+1 555 {n:07d}",
            "Title": f"Soak title {n}",
            "Status": "Open - Not Contacted",
        }
        started = time.time()
        sf_id = self.server.control("POST", "records/Lead", {"as": user, "fields": fields})["id"]
        self.created.append(Created("salesforce", "Lead", None, sf_id, fields["Email"]))
        self.record_created("salesforce", "Lead", sf_id, fields, started, user)

    def sf_late_parent(self, rng: random.Random) -> None:
        """A Salesforce user's account becomes visible late (created with a back-dated SystemModstamp, as a record
        committed by a long transaction or restored by a data load is), its new contact at once; the contact's sync
        runs first, so Rox reads the child before its parent and must link them when the parent arrives."""
        from django_q.tasks import async_task

        n = next(self.counter)
        user = rng.choice(self.sf_users)
        with self.edit_lock:
            started = time.time()
            early = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            account = {
                "Name": f"Soak {self.tag} SF A{n} late",
                "Website": f"https://{self.tag}-sf-a{n}-late.example.net",
                "Phone": f"+1 555 {n:07d}",
                "Industry": rng.choice(INDUSTRIES),
            }
            account_id = self.server.control(
                "POST", "records/Account", {"as": user, "fields": account, "system_modstamp": early}
            )["id"]
            contact = {
                "LastName": f"Soak {self.tag} SF C{n} late",
                "Email": f"{self.tag}.sf.c{n}.late@example.net",
                "Phone": f"+1 555 {n + 1:07d}",
                "Title": f"Soak title {n}",
                "AccountId": account_id,
            }
            contact_id = self.server.control("POST", "records/Contact", {"as": user, "fields": contact})["id"]
            self.created.append(
                Created(
                    "salesforce",
                    "Account",
                    None,
                    account_id,
                    account["Name"],
                    website=account["Website"],
                    late_parent=True,
                )
            )
            self.created.append(
                Created(
                    "salesforce",
                    "Contact",
                    None,
                    contact_id,
                    contact["Email"],
                    parent_sf_id=account_id,
                    late_parent=True,
                )
            )
            self.record_created("salesforce", "Account", account_id, account, started, user)
            self.record_created("salesforce", "Contact", contact_id, contact, started, user)
        async_task("integrations.tasks.sync_object_task", self.connection.pk, "Contact", task_name="soak sync Contact")
        self.actions["late parent"] += 1

    # -- load: stale page saves -------------------------------------------------------------------------------------

    def page_loop(self) -> None:
        from django.db import connection
        from django.test import Client

        rng = random.Random(self.args.seed * 7 + 6)
        client = Client(HTTP_HOST="localhost")
        client.force_login(self.user)
        try:
            while not self.stop.wait(rng.uniform(2, 6)):
                self.stale_save(rng, client)
        except Exception:
            self.harness_errors.append(f"record pages: {traceback.format_exc()}")
        finally:
            connection.close()

    def stale_save(self, rng: random.Random, client: Any) -> None:
        """A person opens a record's edit page; a Salesforce user changes one field, and the engine applies it while
        the form is open; the person then saves another field from the old form (every field as it was, the old
        version). The save must be refused with a conflict, or at least must not undo the engine's change."""
        sobject = rng.choice(("Account", "Contact"))
        engine_spec, saved_spec = (
            SPEC[(sobject, "phone")],
            SPEC[(sobject, "billing_city" if sobject == "Account" else "title")],
        )
        pool = [pk for pk in self.editable_rox_ids(sobject) if pk not in self.hot[sobject]]
        if not pool:
            return
        rox_id = rng.choice(pool)
        with self.edit_lock:
            _, sf_id = self.link_of(sobject, rox_id=rox_id)
            if sf_id is None or self.is_reserved(sobject, rox_id, sf_id) or self.waiting_rows(sobject, [rox_id]):
                return
            self.reserve(sobject, rox_id, sf_id)
        try:
            record = self.model(sobject).objects.get(pk=rox_id)
            url = record.get_absolute_url() + "edit/"
            page = client.get(url, secure=True)
            if page.status_code != 200:
                self.stale_outcomes[f"form not shown ({page.status_code})"] += 1
                return
            data = form_data(page.content.decode(), "version")
            # Salesforce changes the phone while the form is open.
            user = rng.choice(self.sf_users)
            with self.edit_lock:
                if self.waiting_rows(sobject, [rox_id]) or not self.may_write(
                    "salesforce", sobject, rox_id, sf_id, engine_spec.rox
                ):
                    self.stale_outcomes["skipped: Rox changes waiting"] += 1
                    return
                value = self.new_value(engine_spec, rng, None)
                started = time.time()
                self.server.control(
                    "PATCH", f"records/{sobject}/{sf_id}", {"as": user, "fields": {engine_spec.sf: sf_json(value)}}
                )
                wanted = norm(engine_spec.kind, value)
                self.record(
                    Write("salesforce", sobject, rox_id, sf_id, engine_spec.rox, wanted, started, time.time(), user)
                )
            # The engine applies it (a sync or a drain's pull) while the person still has the old form.
            deadline = time.monotonic() + 120
            while norm(engine_spec.kind, self.rox_value(sobject, rox_id, engine_spec.rox)) != wanted:
                if time.monotonic() > deadline or self.stop.is_set():
                    self.stale_outcomes["skipped: the engine did not apply the change in time"] += 1
                    return
                time.sleep(0.5)
            # Keep the gap between the two sides' writes of the field the person saves.
            time.sleep(self.args.gap)
            saved = self.new_value(saved_spec, rng, None)
            data[saved_spec.rox] = [str(saved)]
            with self.edit_lock:
                started = time.time()
                answer = client.post(url, data, secure=True)
                after = norm(engine_spec.kind, self.rox_value(sobject, rox_id, engine_spec.rox))
                held = self.rox_value(sobject, rox_id, saved_spec.rox)
                accepted = norm(saved_spec.kind, held) == norm(saved_spec.kind, saved)
                if accepted:
                    self.record(
                        Write(
                            "rox",
                            sobject,
                            rox_id,
                            sf_id,
                            saved_spec.rox,
                            norm(saved_spec.kind, saved),
                            started,
                            time.time(),
                            "a person on a stale page",
                        )
                    )
            outcome = "undone" if after != wanted else "saved" if accepted else "refused"
            self.stale_saves.append(
                StaleSave(sobject, rox_id, sf_id, engine_spec.rox, wanted, saved_spec.rox, outcome, answer.status_code)
            )
            self.stale_outcomes[outcome] += 1
        finally:
            self.release(sobject, rox_id, sf_id)

    def rox_value(self, sobject: str, rox_id: int, name: str) -> Any:
        return self.model(sobject).objects.filter(pk=rox_id).values_list(name, flat=True).first()

    # -- the worker: ticks and kills ------------------------------------------------------------------------------

    def enqueue_cycle(self) -> list[str]:
        """What the schedules would enqueue if they ran this often: every enabled object's sync, parents first,
        then a writeback sweep; and a reconciliation of every object (the product's is weekly, checked hourly)."""
        from django_q.tasks import async_task

        from integrations.engine.plan import object_plans

        plans = object_plans(self.org)
        ids = [
            async_task(
                "integrations.tasks.sync_object_task",
                self.connection.pk,
                plan.sobject,
                task_name=f"soak sync {plan.sobject}",
            )
            for plan in plans
        ]
        ids.append(
            async_task("integrations.tasks.writeback_sweep_task", self.connection.pk, task_name="soak writeback sweep")
        )
        ids += [
            async_task(
                "bench.soak.reconcile_task",
                self.connection.pk,
                plan.sobject,
                task_name=f"soak reconcile {plan.sobject}",
            )
            for plan in plans
        ]
        self.reconciles_enqueued += len(plans)
        return ids

    def tick_loop(self) -> None:
        from django.db import connection
        from django_q.models import OrmQ

        try:
            while not self.stop.wait(self.args.tick):
                # A dead worker lets the queue grow; no need to pile more of the same on it.
                if OrmQ.objects.count() < 60:
                    self.enqueue_cycle()
                    self.ticks += 1
        except Exception:
            self.harness_errors.append(f"ticker: {traceback.format_exc()}")
        finally:
            connection.close()

    def kill_loop(self) -> None:
        from django.db import connection

        from roxcrm.services import Actor

        rng = random.Random(self.args.seed * 7 + 3)
        actor = Actor.person(self.user)
        try:
            while not self.stop.wait(rng.uniform(self.args.kill_min, self.args.kill_max)):
                # Half the kills aim at a drain creating records: a burst of Rox creates, then the kill as soon as
                # the worker has their create rows in flight.
                during_creates = rng.random() < 0.5 and self.create_burst(rng, actor)
                if self.worker.kill():
                    self.kills += 1
                    self.kills_during_creates += during_creates
                    self.last_kill = time.time()
                self.stop.wait(rng.uniform(1, 5))
                self.worker.start()
        except Exception:
            self.harness_errors.append(f"killer: {traceback.format_exc()}")
        finally:
            connection.close()

    def create_burst(self, rng: random.Random, actor: Any) -> bool:
        """Create accounts (and contacts under them) in Rox, then wait until a drain has claimed their creates;
        True when the kill that follows lands while create rows are in flight."""
        from integrations.models import OutboxEntry

        for _ in range(rng.randint(4, 12)):
            n = next(self.counter)
            with self.edit_lock:
                started = time.time()
                account = self.rox_new_account(rng, actor, n, " burst", started)
                self.burst_creates += 1
                if rng.random() < 0.5:
                    self.rox_new_contact(actor, n, " burst", account, started)
                    self.burst_creates += 1
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not self.stop.is_set():
            if OutboxEntry.objects.filter(
                organization=self.org, operation="create", state="in_flight", sobject__in=["Account", "Contact"]
            ).exists():
                time.sleep(rng.uniform(0, 0.3))
                return True
            time.sleep(0.05)
        return False

    # -- the run --------------------------------------------------------------------------------------------------

    def session_loop(self) -> None:
        """Every access token expires now and then (discrete events, as a session timeout or a security change
        would do; a per-request probability would also expire a token between its refresh and the retry)."""
        rng = random.Random(self.args.seed * 7 + 4)
        try:
            while not self.stop.wait(rng.uniform(20, 60)):
                self.server.control("POST", "sessions/expire")
                self.expirations += 1
        except Exception:
            self.harness_errors.append(f"sessions: {traceback.format_exc()}")

    def restrict_tier(self) -> None:
        """The Salesforce admin restricts Customer_Tier__c once Rox's daily checks (which re-read the describes, the
        first time when the worker starts) have run: Rox's describe then predates the restriction until tomorrow."""
        from django.db import connection

        from integrations.models import SyncRun

        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not self.stop.wait(0.5):
                if SyncRun.objects.filter(
                    connection=self.connection,
                    kind=SyncRun.Kind.PREFLIGHT,
                    started_at__gte=dt_of(self.load_started),
                    finished_at__isnull=False,
                ).exists():
                    break
            self.server.control("PATCH", "fields/Account/Customer_Tier__c", {"restrictedPicklist": True})
            self.tier_restricted = True
        except Exception:
            self.harness_errors.append(f"Salesforce admin: {traceback.format_exc()}")
        finally:
            connection.close()

    def faults_on(self) -> None:
        seed = self.args.seed
        self.server.control(
            "POST",
            "faults",
            {
                "faults": [
                    {"kind": "unavailable", "probability": 0.05, "seed": seed},
                    {"kind": "lock", "probability": 0.035},
                    {"kind": "drop", "probability": 0.015},
                ]
            },
        )

    def run(self) -> int:
        self.setup()
        self.stats_before = self.server.control("GET", "stats")
        self.faults_on()
        self.worker.start()
        self.load_started = time.time()
        threads = [
            threading.Thread(target=target, name=name, daemon=True)
            for name, target in (
                ("rox", self.rox_loop),
                ("salesforce", self.sf_loop),
                ("ticks", self.tick_loop),
                ("kills", self.kill_loop),
                ("sessions", self.session_loop),
                ("salesforce actions", self.sf_actions_loop),
                ("record pages", self.page_loop),
                ("Salesforce admin", self.restrict_tier),
            )
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self.args.minutes * 60
        while time.monotonic() < deadline and not self.harness_errors:
            time.sleep(min(10, max(deadline - time.monotonic(), 0)))
            print(
                f"  {time.strftime('%H:%M:%S')} writes {len(self.log)}, created {len(self.created)}, "
                f"kills {self.kills}, ticks {self.ticks}",
                flush=True,
            )
        self.stop.set()
        for thread in threads:
            thread.join(60)
        self.load_seconds = time.time() - self.load_started
        self.server.control("DELETE", "faults")
        self.stats_load = self.server.control("GET", "stats")
        self.worker.start()
        if self.harness_errors:
            return 2
        self.converge()
        return 0

    def converge(self) -> None:
        from django.db import connection
        from django_q.tasks import fetch

        from integrations.models import OutboxEntry

        started = time.monotonic()
        # On PostgreSQL a killed run's lock went with its session; elsewhere it is taken over after the run timeout.
        wait = 0.0 if connection.vendor == "postgresql" else self.last_kill + self.args.run_timeout + 2 - time.time()
        self.lock_wait = max(wait, 0)
        if wait > 0:
            print(f"  waiting {wait:.0f} s for the run locks of the last killed worker to expire", flush=True)
            time.sleep(wait)
        self.backoff_wait = 0.0
        for cycle in (1, 2):
            # Rows retried with backoff are due at their not_before; a cycle starts when they are.
            due = (
                OutboxEntry.objects.filter(organization=self.org, state="pending", not_before__isnull=False)
                .order_by("-not_before")
                .values_list("not_before", flat=True)
                .first()
            )
            if due is not None:
                wait = min((due - dt.datetime.now(dt.UTC)).total_seconds() + 1, 300)
                if wait > 0:
                    print(f"  cycle {cycle}: waiting {wait:.0f} s for retried outbox rows to be due", flush=True)
                    self.backoff_wait += wait
                    time.sleep(wait)
            ids = self.enqueue_cycle()
            deadline = time.monotonic() + 600
            results: dict[str, Any] = {}
            while len(results) < len(ids) and time.monotonic() < deadline:
                for task_id in ids:
                    if task_id not in results and (task := fetch(task_id)) is not None:
                        results[task_id] = f"{task.name.removeprefix('soak ')}: {task.result}"
                time.sleep(0.5)
            missing = len(ids) - len(results)
            self.cycle_results.append([results.get(i, "did not finish within 10 minutes") for i in ids])
            print(f"  cycle {cycle} done ({missing} unfinished)", flush=True)
        self.converge_seconds = time.monotonic() - started

    # -- checks ---------------------------------------------------------------------------------------------------

    def sf_rows(self, sobject: str, names: list[str], where: str = "") -> dict[str, dict[str, Any]]:
        """Every row of ``sobject`` (not deleted), through the control API (no API calls, no faults)."""
        rows: dict[str, dict[str, Any]] = {}
        last = ""
        while True:
            conditions = [f"Id > '{last}'"] if last else []
            conditions += [f"({where})"] if where else []
            clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            page = self.server.control(
                "POST", "query", {"q": f"SELECT Id, {', '.join(names)} FROM {sobject}{clause} ORDER BY Id LIMIT 2000"}
            )["records"]
            for row in page:
                rows[row["Id"]] = row
            if len(page) < 2000:
                return rows
            last = page[-1]["Id"]

    def check(self) -> dict[str, Any]:
        from integrations.models import Conflict, OutboxEntry, SalesforceLink, SyncError

        mismatches: list[Mismatch] = []
        listed: list[str] = []
        links = list(SalesforceLink.objects.filter(organization=self.org, sobject__in=OBJECTS))
        sf_of_rox = {(link.sobject, link.record_id): link.sf_id for link in links if link.deleted_at is None}
        rox_of_sf = {(link.sobject, link.sf_id): link.record_id for link in links if link.deleted_at is None}
        sf_state = {
            sobject: self.sf_rows(sobject, [s.sf for s in FIELDS[sobject]] + (["AccountId"] * (sobject == "Contact")))
            for sobject in OBJECTS
        }
        rox_state = {
            sobject: {
                r["pk"]: r
                for r in self.model(sobject)
                .objects.filter(organization=self.org)
                .values(
                    "pk", "removed_at", *[s.rox for s in FIELDS[sobject]], *(["account_id"] * (sobject == "Contact"))
                )
            }
            for sobject in OBJECTS
        }
        open_errors = list(SyncError.objects.filter(organization=self.org, resolved_at=None))
        errors_by_sf = defaultdict(list)
        errors_by_rox = defaultdict(list)
        for error in open_errors:
            if error.sf_id:
                errors_by_sf[(error.sobject, error.sf_id)].append(error)
            if error.record_id:
                errors_by_rox[(error.sobject, error.record_id)].append(error)
        not_written = {
            (e.sobject, e.record_id): e
            for e in OutboxEntry.objects.filter(organization=self.org, state__in=["failed", "review"])
        }

        # 1 and 3: the last write of every field, on both sides.
        groups: dict[tuple[str, Any, Any, str], list[Write]] = defaultdict(list)
        for write in self.log:
            rox_id = write.rox_id if write.rox_id is not None else rox_of_sf.get((write.sobject, write.sf_id))
            sf_id = write.sf_id or sf_of_rox.get((write.sobject, write.rox_id))
            groups[(write.sobject, rox_id, sf_id, write.field)].append(write)
        checked_fields = 0
        ties = 0
        written_keys = set()
        merged_away = {(m.sobject, m.loser_sf) for m in self.merges} | {(m.sobject, m.loser_rox) for m in self.merges}
        for (sobject, rox_id, sf_id, name), writes in groups.items():
            if rox_id is None or sf_id is None:
                continue  # a record on one side only: the creation checks below say why
            if (sobject, sf_id) in merged_away or (sobject, rox_id) in merged_away:
                continue  # merged away in Salesforce: the merge checks below
            written_keys.add((sobject, rox_id, name))
            spec = SPEC[(sobject, name)]
            writes.sort(key=lambda w: w.at)
            last = writes[-1]
            others = [w for w in writes[:-1] if w.side != last.side and abs(w.at - last.started) < 1.0]
            if others:
                ties += 1  # cannot happen while the load keeps its gap; counted to prove it
                continue
            checked_fields += 1
            rox_row = rox_state[sobject].get(rox_id)
            sf_row = sf_state[sobject].get(sf_id)
            rox_value = norm(spec.kind, rox_row[name]) if rox_row else "<missing in Rox>"
            sf_value = norm(spec.kind, sf_row[spec.sf]) if sf_row else "<missing in Salesforce>"
            if rox_row and rox_row["removed_at"]:
                rox_value = f"<removed in Rox> {rox_value}"
            if rox_value == sf_value == last.value:
                continue
            if (sobject, rox_id) in not_written or errors_by_sf.get((sobject, sf_id)):
                listed.append(f"{sobject} {sf_id}/#{rox_id}.{name}: not in step, listed with its reason")
                continue
            # Both sides hold another value: the edit is lost; one side has it: they did not converge.
            kind = "sides differ" if rox_value != sf_value and last.value in (rox_value, sf_value) else "lost edit"
            detail = (
                f"{sobject} {sf_id} / Rox #{rox_id} .{name}: last write {last.side} {last.value!r} by {last.by} at "
                f"{stamp(last.at)}; Rox holds {rox_value!r}, Salesforce holds {sf_value!r}"
            )
            diagnosis = self.diagnose(sobject, rox_id, sf_id, name, writes)
            race = self.drain_race(sobject, rox_id, spec, last)
            if race:
                kind, diagnosis = "lost edit: pull-then-push race", [race, *diagnosis]
            mismatches.append(Mismatch(kind, detail, diagnosis))

        # Every other linked record: the edited fields agree on both sides (nothing drifted).
        drift = 0
        for (sobject, rox_id), sf_id in sf_of_rox.items():
            rox_row, sf_row = rox_state[sobject].get(rox_id), sf_state[sobject].get(sf_id)
            if rox_row is None or sf_row is None or rox_row["removed_at"]:
                continue
            for spec in FIELDS[sobject]:
                if (sobject, rox_id, spec.rox) in written_keys:
                    continue
                rox_value, sf_value = norm(spec.kind, rox_row[spec.rox]), norm(spec.kind, sf_row[spec.sf])
                if rox_value != sf_value:
                    if errors_by_sf.get((sobject, sf_id)) or (sobject, rox_id) in not_written:
                        listed.append(f"{sobject} {sf_id}/#{rox_id}.{spec.rox}: differs, listed with its reason")
                        continue
                    drift += 1
                    mismatches.append(
                        Mismatch(
                            "sides differ (unwritten field)",
                            f"{sobject} {sf_id} / Rox #{rox_id} .{spec.rox}: Rox {rox_value!r}, "
                            f"Salesforce {sf_value!r}",
                            self.diagnose(sobject, rox_id, sf_id, spec.rox, []),
                        )
                    )

        # 2: created records exist once on each side, linked, with their parent.
        duplicates = self.duplicates()
        mismatches += [Mismatch("duplicate", d) for d in duplicates]
        for created in self.created:
            if created.merged_into:
                continue  # merged away in Salesforce: the merge checks below
            rox_id = created.rox_id if created.rox_id is not None else rox_of_sf.get((created.sobject, created.sf_id))
            sf_id = created.sf_id or sf_of_rox.get((created.sobject, created.rox_id))
            what = f"{created.sobject} {created.key} (created in {created.side})"
            if rox_id is None or sf_id is None:
                entry = not_written.get((created.sobject, created.rox_id)) if created.rox_id else None
                errors = errors_by_sf.get((created.sobject, created.sf_id), []) if created.sf_id else []
                errors += errors_by_rox.get((created.sobject, created.rox_id), []) if created.rox_id else []
                if entry is not None:
                    listed.append(
                        f"{what}: not created, outbox {entry.state}: {entry.error_code} {entry.error_message}"
                    )
                elif errors:
                    listed.append(f"{what}: not synced: {errors[0].code} {errors[0].message}")
                else:
                    mismatches.append(
                        Mismatch(
                            "lost record",
                            f"{what} is on one side only, with no reason listed",
                            self.diagnose(created.sobject, created.rox_id, created.sf_id, "", []),
                        )
                    )
                continue
            if created.sobject == "Contact":
                rox_parent = rox_state["Contact"][rox_id]["account_id"] if rox_id in rox_state["Contact"] else None
                sf_parent = (sf_state["Contact"].get(sf_id) or {}).get("AccountId")
                wanted_sf = created.parent_sf_id or sf_of_rox.get(("Account", created.parent_rox_id))
                wanted_rox = created.parent_rox_id or rox_of_sf.get(("Account", created.parent_sf_id))
                if (rox_parent, sf_parent) != (wanted_rox, wanted_sf):
                    mismatches.append(
                        Mismatch(
                            "parent",
                            f"{what}: account in Rox #{rox_parent}, in Salesforce {sf_parent}; expected "
                            f"#{wanted_rox} / {wanted_sf}",
                        )
                    )

        # 5-13: the merges, conversions, late parents, stale saves, static values, refused writes, activities and
        # reconciliations.
        new_checks = self.check_actions(links, rox_state, sf_state, errors_by_rox, listed)
        mismatches += new_checks.pop("mismatches")

        # 4: what could not be written, with its reason; nothing left waiting.
        outbox = Counter(OutboxEntry.objects.filter(organization=self.org).values_list("state", flat=True))
        for entry in OutboxEntry.objects.filter(organization=self.org, state__in=OPEN_STATES):
            mismatches.append(
                Mismatch(
                    "stuck outbox row",
                    f"{entry}: attempts {entry.attempts}, not before {entry.not_before}, "
                    f"in flight since {entry.in_flight_since}, fields {sorted(entry.fields)}, last error "
                    f"{entry.error_code} {entry.error_message[:120]}",
                )
            )
        failed_rows = [
            f"{e.get_state_display()}: {e.sobject} for {e.rox_object} #{e.record_id}: {e.error_code} "
            f"{e.error_message}".strip()
            for e in OutboxEntry.objects.filter(organization=self.org, state__in=["failed", "review"])
        ]
        soak_errors = [e for e in open_errors if e.created_at.timestamp() >= self.load_started]
        conflicts = Counter(
            Conflict.objects.filter(organization=self.org, decided_at__gte=dt_of(self.load_started)).values_list(
                "winner", flat=True
            )
        )
        return {
            "mismatches": mismatches,
            "listed": listed,
            "checked_fields": checked_fields,
            "drift": drift,
            "ties": ties,
            "duplicates": duplicates,
            "outbox": dict(outbox),
            "failed_rows": failed_rows,
            "open_errors": Counter(f"{e.direction} {e.sobject} {e.code}" for e in open_errors),
            "soak_errors": [
                f"{e.direction} {e.sobject} {e.sf_id} #{e.record_id}: {e.code} {e.message}" for e in soak_errors
            ],
            "conflicts": dict(conflicts),
            **new_checks,
        }

    def check_actions(
        self,
        links: list[Any],
        rox_state: dict[str, dict[int, dict[str, Any]]],
        sf_state: dict[str, dict[str, dict[str, Any]]],
        errors_by_rox: dict[tuple[str, int], list[Any]],
        listed: list[str],
    ) -> dict[str, Any]:
        """The checks of the actions beyond edits and creates; returns their mismatches and figures."""
        from activities.models import Activity
        from integrations.models import OutboxEntry, SyncRun, WritebackBatch
        from roxcrm.models import Contact, Lead, Opportunity

        mismatches: list[Mismatch] = []
        live = {(link.sobject, link.sf_id): link for link in links if link.deleted_at is None}
        by_sf = {(link.sobject, link.sf_id): link for link in links}

        def rox_of(sobject: str, sf_id: str | None) -> int | None:
            link = live.get((sobject, sf_id))
            return None if link is None else link.record_id

        sf_of = {(link.sobject, link.record_id): link.sf_id for link in live.values()}

        # Merges: the loser is hidden in Rox (its link says into which survivor), the survivor is live and linked,
        # and the loser's children follow the survivor on both sides.
        for merge in self.merges:
            what = f"merge of {merge.sobject} {merge.loser_sf} (Rox #{merge.loser_rox}) into {merge.master_sf}"
            loser_link = by_sf.get((merge.sobject, merge.loser_sf))
            loser_row = rox_state[merge.sobject].get(merge.loser_rox)
            master_row = rox_state[merge.sobject].get(merge.master_rox)
            problems = []
            if loser_link is None or loser_link.deleted_at is None or loser_link.merged_into != merge.master_sf:
                problems.append(f"the loser's link is {loser_link and (loser_link.deleted_at, loser_link.merged_into)}")
            if loser_row is None or loser_row["removed_at"] is None:
                problems.append("the loser is still shown in Rox")
            if rox_of(merge.sobject, merge.master_sf) != merge.master_rox or not master_row or master_row["removed_at"]:
                problems.append(
                    f"the survivor is not live and linked in Rox (#{rox_of(merge.sobject, merge.master_sf)})"
                )
            if merge.sobject == "Account":
                stray = Contact.objects.filter(organization=self.org, account_id=merge.loser_rox, removed_at=None)
                problems += [f"Rox contact #{pk} still under the loser" for pk in stray.values_list("pk", flat=True)]
                for child in merge.children:
                    if any(m.sobject == "Contact" and m.loser_sf == child for m in self.merges):
                        continue  # merged away itself later (its own merge is checked)
                    child_rox = rox_of("Contact", child)
                    sf_parent = (sf_state["Contact"].get(child) or {}).get("AccountId")
                    rox_parent = (rox_state["Contact"].get(child_rox) or {}).get("account_id")
                    if sf_parent != merge.master_sf or rox_parent != merge.master_rox:
                        problems.append(
                            f"child {child} / #{child_rox}: account {sf_parent} in Salesforce, #{rox_parent} in Rox"
                        )
            if problems:
                mismatches.append(Mismatch("merge", f"{what}: {'; '.join(problems)}"))

        # Lead conversions: the lead is converted in Rox and points at the account, contact and opportunity the
        # conversion made, each linked once, the contact and the opportunity under the account.
        for conversion in self.conversions:
            lead = Lead.objects.filter(pk=conversion.lead_rox).first()
            account, contact, opportunity = (
                rox_of("Account", conversion.account_sf),
                rox_of("Contact", conversion.contact_sf),
                rox_of("Opportunity", conversion.opportunity_sf),
            )
            problems = []
            if lead is None or lead.converted_at is None:
                problems.append("the lead is not converted in Rox")
            elif (lead.converted_account_id, lead.converted_contact_id, lead.converted_opportunity_id) != (
                account,
                contact,
                opportunity,
            ):
                problems.append(
                    f"the lead points at #{lead.converted_account_id}, #{lead.converted_contact_id}, "
                    f"#{lead.converted_opportunity_id}; expected #{account}, #{contact}, #{opportunity}"
                )
            if None in (account, contact, opportunity):
                problems.append(f"not all in Rox: account #{account}, contact #{contact}, opportunity #{opportunity}")
            else:
                contact_account = Contact.objects.filter(pk=contact).values_list("account_id", flat=True).first()
                opportunity_account = (
                    Opportunity.objects.filter(pk=opportunity).values_list("account_id", flat=True).first()
                )
                if (contact_account, opportunity_account) != (account, account):
                    problems.append(
                        f"contact under #{contact_account}, opportunity under #{opportunity_account}; "
                        f"expected #{account}"
                    )
            if problems:
                mismatches.append(Mismatch("conversion", f"lead {conversion.lead_sf}: {'; '.join(problems)}"))

        # Late parents (the creation checks above say each is linked under its account): how many Rox did read
        # before their account.
        late_child_first = 0
        for created in self.created:
            if created.late_parent and created.sobject == "Contact":
                child = self.model("Contact").objects.filter(pk=rox_of("Contact", created.sf_id)).first()
                parent = self.model("Account").objects.filter(pk=rox_of("Account", created.parent_sf_id)).first()
                if child is not None and parent is not None and child.created_at < parent.created_at:
                    late_child_first += 1

        # Stale page saves: the engine's change was not undone by the save (the last-write checks above also cover
        # its field at the end).
        for save in self.stale_saves:
            if save.outcome == "undone":
                held = rox_state[save.sobject].get(save.rox_id, {}).get(save.engine_field)
                mismatches.append(
                    Mismatch(
                        "stale save undid the engine",
                        f"{save.sobject} #{save.rox_id} / {save.sf_id}: the engine set {save.engine_field} to "
                        f"{save.engine_value!r}; a save of {save.saved_field} from an older form (answer "
                        f"{save.status}) left {held!r}",
                        self.diagnose(save.sobject, save.rox_id, save.sf_id, save.engine_field, []),
                    )
                )

        # Static values: every record Rox created or wrote in Salesforce carries them; the match keys and external
        # ids were refused as static values.
        missing_statics = [f"{key} was accepted as a static value" for key in self.static_key_accepted()]
        written: dict[str, set[str]] = defaultdict(set)
        for batch in WritebackBatch.objects.filter(
            connection=self.connection, sobject__in=list(STATIC_VALUES), created_at__gte=dt_of(self.load_started)
        ):
            for row in batch.records:
                sf_id = row.get("sf_id") or sf_of.get((batch.sobject, row.get("record_id")))
                if sf_id:
                    written[batch.sobject].add(sf_id)
        for created in self.created:
            if created.side == "rox" and (sf_id := sf_of.get((created.sobject, created.rox_id))):
                written[created.sobject].add(sf_id)
        static_checked = 0
        for sobject, (sf_field, value) in STATIC_VALUES.items():
            rows = self.sf_rows(sobject, [sf_field], f"{sf_field} != null")
            for sf_id in sorted(written[sobject]):
                static_checked += 1
                held = (rows.get(sf_id) or {}).get(sf_field)
                if held != value and (sobject, sf_id) in live:
                    missing_statics.append(f"{sobject} {sf_id}.{sf_field} holds {held!r}, not {value!r}")
        mismatches += [Mismatch("static value", m) for m in missing_statics]

        # Refused writes: each still waits (pending) or failed with its error shown; never done, never dropped.
        refused_shown = 0
        for refused in self.refused_writes:
            rows = [
                e
                for e in OutboxEntry.objects.filter(organization=self.org, sobject="Account", record_id=refused.rox_id)
                if "custom.tier" in (e.fields or {})
            ]
            waiting = [e for e in rows if e.state in ("pending", "in_flight", "failed", "review")]
            shown = [e for e in waiting if e.state in ("pending", "in_flight")] or (
                [e for e in waiting if e.state in ("failed", "review")]
                and errors_by_rox.get(("Account", refused.rox_id))
            )
            sf_tier = self.server.control("GET", f"records/Account/{refused.sf_id}").get("Customer_Tier__c")
            if shown and sf_tier != REFUSED_TIER:
                refused_shown += 1
                listed.append(
                    f"Account {refused.sf_id}/#{refused.rox_id}.tier {REFUSED_TIER!r}: refused by Salesforce, "
                    f"{waiting[-1].state}: {waiting[-1].error_code}"
                )
                continue
            mismatches.append(
                Mismatch(
                    "silent loss of a refused write",
                    f"Account {refused.sf_id} / Rox #{refused.rox_id}: tier {REFUSED_TIER!r} refused by Salesforce "
                    f"(which holds {sf_tier!r}); outbox rows {[(e.pk, e.state, e.error_code) for e in rows]}, open "
                    f"errors {[(e.code, e.message[:60]) for e in errors_by_rox.get(('Account', refused.rox_id), [])]}",
                )
            )

        # Activities: each is exactly one Task with its RoxActivityId__c, the contact's WhoId and the subject; Rox
        # did not read any back as a second activity.
        tasks = self.sf_rows("Task", ["RoxActivityId__c", "WhoId", "Subject"], "RoxActivityId__c != null")
        by_code: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for task in tasks.values():
            by_code[task["RoxActivityId__c"]].append(task)
        activities_written = 0
        for logged in self.activities:
            found = by_code.get(logged.code, [])
            contact_sf = sf_of.get(("Contact", logged.contact_rox_id))
            if len(found) == 1 and (found[0]["WhoId"], found[0]["Subject"]) == (contact_sf, logged.subject):
                activities_written += 1
                continue
            entry = OutboxEntry.objects.filter(
                organization=self.org, sobject="Task", record_id=logged.rox_id, state__in=["failed", "review"]
            ).first()
            if not found and entry is not None:
                listed.append(f"activity #{logged.rox_id}: not written, {entry.state}: {entry.error_code}")
                continue
            kind = "duplicate" if len(found) > 1 else "lost activity" if not found else "activity"
            mismatches.append(
                Mismatch(
                    kind,
                    f"{logged.type} #{logged.rox_id} ({logged.code}): {len(found)} Task(s) "
                    f"{[(t['Id'], t['WhoId'], t['Subject']) for t in found]}; expected WhoId {contact_sf}, "
                    f"subject {logged.subject!r}",
                )
            )
        rox_copies = Counter(
            Activity.objects.filter(organization=self.org, subject__startswith=f"Soak {self.tag} ").values_list(
                "subject", flat=True
            )
        )
        mismatches += [
            Mismatch("duplicate", f"Rox activity {subject!r} {n} times") for subject, n in rox_copies.items() if n > 1
        ]

        # Reconciliations: none marked a record that Salesforce still has as deleted.
        reconciles = SyncRun.objects.filter(
            connection=self.connection, kind=SyncRun.Kind.RECONCILE, started_at__gte=dt_of(self.load_started)
        )
        reconcile_outcomes = Counter(reconciles.values_list("outcome", flat=True))
        for link in links:
            if link.deleted_at is None or link.sobject not in sf_state:
                continue
            if link.sf_id in sf_state[link.sobject]:
                mismatches.append(
                    Mismatch(
                        "live record marked deleted",
                        f"{link.sobject} {link.sf_id} / Rox #{link.record_id}: marked deleted at {link.deleted_at} "
                        f"(merged into {link.merged_into or '-'}) but Salesforce has it",
                    )
                )
        return {
            "mismatches": mismatches,
            "late_child_first": late_child_first,
            "static_checked": static_checked,
            "refused_shown": refused_shown,
            "activities_written": activities_written,
            "reconciles": dict(reconcile_outcomes),
            "reconciled_gone": sum(run.counts.get("deleted", 0) for run in reconciles),
        }

    def static_key_accepted(self) -> list[str]:
        """The refused static values (match keys, external ids) that were saved after all."""
        from mappings.models import StaticValue

        saved = set(
            StaticValue.objects.filter(object_mapping__organization=self.org).values_list(
                "object_mapping__sobject", "sf_field"
            )
        )
        return [f"{sobject}.{sf_field}" for sobject, sf_field in REFUSED_STATICS if (sobject, sf_field) in saved]

    def drain_race(self, sobject: str, rox_id: int, spec: FieldSpec, last: Write) -> str | None:
        """Whether a Salesforce edit was overwritten by a drain that had pulled before it and wrote after it: the
        window between the writeback's pull and its write, where Salesforce offers no compare-and-set."""
        from integrations.models import SyncRun, WritebackBatch

        if last.side != "salesforce":
            return None
        batches = WritebackBatch.objects.filter(
            connection=self.connection, sobject=sobject, created_at__gt=dt_of(last.started)
        ).order_by("created_at")[:500]
        for batch in batches:
            written = next((r for r in batch.records if r.get("record_id") == rox_id), None)
            if written is None or spec.sf not in (written.get("after") or {}):
                continue
            pull = (
                SyncRun.objects.filter(
                    connection=self.connection, kind="inbound", sobject=sobject, started_at__lt=batch.created_at
                )
                .order_by("-started_at")
                .first()
            )
            if pull is None or pull.started_at.timestamp() >= last.started:
                return None
            return (
                f"race: the drain's pull ran {pull.started_at:%H:%M:%S.%f}..{pull.finished_at:%H:%M:%S.%f}, the "
                f"Salesforce edit {stamp(last.started)}..{stamp(last.at)}, then the drain wrote "
                f"{written['after'][spec.sf]!r} (batch #{batch.pk} at {batch.created_at:%H:%M:%S.%f}) over it"
            )
        return None

    def duplicates(self) -> list[str]:
        """Records created during the soak, by name, website and e-mail: never twice on either side."""
        from roxcrm.domains import normalize_domain
        from roxcrm.models import Account, Contact

        found = []
        prefix = f"Soak {self.tag}"
        sf_accounts = self.sf_rows("Account", ["Name", "Website"], f"Name LIKE '{prefix}%'")
        sf_contacts = self.sf_rows("Contact", ["Email"], f"Email LIKE '{self.tag}.%'")
        rox_accounts = list(
            Account.objects.filter(organization=self.org, name__startswith=prefix, removed_at=None).values_list(
                "name", "website"
            )
        )
        rox_contacts = list(
            Contact.objects.filter(
                organization=self.org, email__startswith=f"{self.tag}.", removed_at=None
            ).values_list("email", flat=True)
        )
        for side, counts in (
            ("Salesforce Account name", Counter(r["Name"] for r in sf_accounts.values())),
            ("Salesforce Account website", Counter(normalize_domain(r["Website"]) for r in sf_accounts.values())),
            ("Salesforce Contact e-mail", Counter((r["Email"] or "").lower() for r in sf_contacts.values())),
            ("Rox Account name", Counter(name for name, _ in rox_accounts)),
            ("Rox Account website", Counter(normalize_domain(site) for _, site in rox_accounts)),
            ("Rox Contact e-mail", Counter(email.lower() for email in rox_contacts)),
        ):
            found += [f"{side} {key!r} {n} times" for key, n in counts.items() if n > 1]
        return found

    def diagnose(
        self, sobject: str, rox_id: int | None, sf_id: str | None, name: str, writes: list[Write]
    ) -> list[str]:
        """What the product knows about one field of one record: the writes, history, outbox, conflicts, shadow."""
        from integrations.models import Conflict, OutboxEntry, SalesforceLink, WritebackBatch
        from roxcrm.models import FieldChange

        lines = [f"write {w.side} {w.value!r} by {w.by} {stamp(w.started)}..{stamp(w.at)}" for w in writes[-6:]]
        spec = SPEC.get((sobject, name))
        if rox_id is not None:
            rox_object = self.model(sobject).object_type
            lines += [
                f"history v{c.record_version} {c.changed_at:%H:%M:%S.%f} {c.actor_kind} {c.old_value!r} -> "
                f"{c.new_value!r}"
                for c in FieldChange.objects.filter(
                    object_type=rox_object, record_id=rox_id, field=name or "x"
                ).order_by("-changed_at")[:6][::-1]
            ]
            lines += [
                f"outbox #{e.pk} {e.operation} {e.state} attempts {e.attempts} fields {sorted(e.fields)} "
                f"{e.error_code} created {e.created_at:%H:%M:%S} done {e.done_at and f'{e.done_at:%H:%M:%S.%f}'}"
                for e in OutboxEntry.objects.filter(organization=self.org, sobject=sobject, record_id=rox_id).order_by(
                    "-id"
                )[:6][::-1]
            ]
            lines += [
                f"batch #{b.pk} {b.created_at:%H:%M:%S.%f}: {r.get('before', {}).get(spec.sf)!r} -> "
                f"{r.get('after', {}).get(spec.sf)!r}"
                for b in WritebackBatch.objects.filter(connection=self.connection, sobject=sobject).order_by("-id")[
                    :3000
                ]
                for r in b.records
                if spec and r.get("record_id") == rox_id and spec.sf in (r.get("after") or {})
            ][:6]
        if spec:
            lines += [
                f"conflict {c.decided_at:%H:%M:%S.%f}: winner {c.winner}, Salesforce {c.sf_value!r} at "
                f"{c.sf_changed_at:%H:%M:%S}, Rox {c.rox_value!r} at {c.rox_changed_at}"
                for c in Conflict.objects.filter(
                    organization=self.org, sobject=sobject, sf_id=sf_id or "", sf_field=spec.sf
                )
            ][-6:]
        link = SalesforceLink.objects.filter(organization=self.org, sobject=sobject, sf_id=sf_id or "").first()
        if link is not None and spec:
            lines.append(f"link shadow {link.shadow.get(spec.sf)!r}, modstamp {link.modstamp}")
        if sf_id:
            row = self.server.control("GET", f"records/{sobject}/{sf_id}")
            lines.append(
                f"Salesforce LastModifiedDate {row.get('LastModifiedDate')} by {row.get('LastModifiedById')}, "
                f"SystemModstamp {row.get('SystemModstamp')}"
            )
        return lines

    # -- report ---------------------------------------------------------------------------------------------------

    def report(self, verdict: dict[str, Any], command: str) -> str:
        stats = self.server.control("GET", "stats")
        load_calls = self.stats_load["api_calls"] - self.stats_before["api_calls"]
        all_calls = stats["api_calls"] - self.stats_before["api_calls"]
        edits = Counter(w.side for w in self.log if not w.created)
        created = Counter(c.side for c in self.created)
        created_kinds = Counter(f"{c.side} {c.sobject}" for c in self.created)
        faults = stats.get("faults_injected", {})
        answered = sum(v for k, v in faults.items() if k != "expire_sessions")
        load_requests = sum(self.stats_load.get("requests_by_category", {}).values()) - sum(
            self.stats_before.get("requests_by_category", {}).values()
        )
        mismatches = verdict["mismatches"]
        by_kind = "".join(f"; {kind} {n}" for kind, n in Counter(m.kind for m in mismatches).items())
        losses = Counter(
            "duplicate" if m.kind == "duplicate" else "lost"
            for m in mismatches
            if m.kind == "duplicate" or "lost" in m.kind or "loss" in m.kind or "undid" in m.kind
        )
        lines = [
            f"## Reliability soak, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "",
            f"- machine: `{' '.join(platform.uname())}` ({os.cpu_count()} CPUs), PostgreSQL, sfsim over HTTPS",
            f"- command: `{command}`",
            f"- time compression: a sync of every object and a writeback sweep enqueued every {self.args.tick:g} s "
            f"(besides the product's schedules: syncs every 5 min, sweep every minute); "
            f"`SALESFORCE_RUN_TIMEOUT={self.args.run_timeout}`",
            "",
            "| measure | result |",
            "|---|---|",
            f"| set-up (connect, checks, first sync of {self.first_sync_rows:,} records) | "
            f"{self.phases['setup']:.0f} s |",
            f"| load phase | {self.load_seconds / 60:.1f} min |",
            f"| edits made | {sum(edits.values())}: Rox {edits['rox']}, Salesforce {edits['salesforce']} |",
            f"| records created | {sum(created.values())}: Rox {created['rox']}, Salesforce {created['salesforce']} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(created_kinds.items()))}) |",
            f"| edits aimed at a change the other side had not seen yet | "
            f"{'; '.join(f'{k} {v}' for k, v in self.targeted.items()) or 'none'} |",
            f"| writes skipped to keep the rules | {sum(self.skipped.values())} "
            f"({'; '.join(f'{k} {v}' for k, v in self.skipped.items()) or 'none'}) |",
            f"| faults injected | {sum(faults.values())}: "
            f"{', '.join(f'{k} {v}' for k, v in sorted(faults.items()))} "
            f"({answered / max(load_requests, 1):.1%} of {load_requests} API requests answered by a fault); "
            f"sessions expired {self.expirations} times |",
            f"| worker kills (SIGKILL) | {self.kills} (worker started {self.worker.starts} times) |",
            f"| conflicts decided during the soak | {dict(verdict['conflicts']) or 'none'} |",
            f"| convergence | {self.converge_seconds:.0f} s: {self.lock_wait:.0f} s for killed runs' locks to "
            f"expire, {self.backoff_wait:.0f} s for retried rows to be due, then 2 cycles |",
            f"| outbox at the end | {', '.join(f'{k} {v}' for k, v in sorted(verdict['outbox'].items()))} |",
            f"| API calls | {all_calls} ({load_calls} during the load) |",
            f"| fields checked (last write, both sides) | {verdict['checked_fields']} "
            f"(+ every other linked record's edited fields compared across sides; same-second ties excluded: "
            f"{verdict['ties']}) |",
            f"| merges in Salesforce | {self.actions['merge Account']} accounts, {self.actions['merge Contact']} "
            f"contacts ({sum(len(m.children) for m in self.merges)} children moved) |",
            f"| lead conversions in Salesforce | {len(self.conversions)} (each an account, a contact and an "
            f"opportunity) |",
            f"| late parents (contact synced before its account became visible) | {self.actions['late parent']} "
            f"(Rox read the contact first for {verdict['late_child_first']}) |",
            f"| stale page saves | {len(self.stale_saves)}: "
            f"{', '.join(f'{k} {v}' for k, v in sorted(self.stale_outcomes.items())) or 'none'} |",
            f"| static values | {', '.join(f'{o}.{f}' for o, (f, _) in STATIC_VALUES.items())} checked on "
            f"{verdict['static_checked']} records Rox created or wrote; refused on "
            f"{', '.join(self.static_refusals) or 'none'} |",
            f"| refused writes (Salesforce refused the value) | {len(self.refused_writes)}, {verdict['refused_shown']} "
            f"waiting with their error shown; Rox refused {self.refused_at_edit} more at edit time |",
            f"| worker kills during creates | {self.kills_during_creates} (bursts of {self.burst_creates} Rox "
            f"creates) |",
            f"| reconciliations | {sum(verdict['reconciles'].values())} runs "
            f"({', '.join(f'{k} {v}' for k, v in sorted(verdict['reconciles'].items())) or 'none'}), "
            f"{verdict['reconciled_gone']} records marked gone |",
            f"| activities logged in Rox | {len(self.activities)}, {verdict['activities_written']} written as one "
            f"Task each |",
            f"| duplicates | {len(verdict['duplicates'])} |",
            f"| not written, listed with a reason | {len(verdict['listed'])} |",
            f"| **mismatches** | **{len(mismatches)}** (must be 0){by_kind} |",
            f"| **verdict** | {len(mismatches)} mismatches, {losses['duplicate']} "
            f"duplicates, {losses['lost']} silent losses |",
        ]
        return "\n".join(lines)


def reconcile_task(connection_id: int, sobject: str) -> str:
    """The soak's reconciliation of one object, enqueued with every cycle (run by the worker, under the object's
    lock as the product's own weekly reconciliation is)."""
    from integrations.engine.locks import BUSY
    from integrations.engine.reconcile import reconcile
    from integrations.models import SalesforceConnection

    connection = SalesforceConnection.objects.get(pk=connection_id)
    run = reconcile(connection, sobject)
    if run is None:
        return f"{sobject}: {BUSY}"
    return f"{sobject}: {run.get_outcome_display()}, {run.counts.get('deleted', 0)} gone"


class FormReader(HTMLParser):
    """The fields a browser would submit from each form of a page (inputs, checked boxes, selected options,
    text areas; disabled fields and buttons left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, list[str]]] = []
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({})
        if not self.forms or "disabled" in a:
            return
        fields = self.forms[-1]
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            fields.setdefault(a["name"], []).append(a.get("value", "on" if kind in ("checkbox", "radio") else ""))
        elif tag == "select" and a.get("name"):
            self.select, self.options = a["name"], []
        elif tag == "option" and self.select is not None:
            self.options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and a.get("name"):
            self.textarea, self.text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self.select is not None:
            chosen = [v for v, selected in self.options if selected] or [v for v, _ in self.options[:1]]
            self.forms[-1].setdefault(self.select, []).extend(chosen)
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.forms[-1].setdefault(self.textarea, []).append(self.text.removeprefix("\n"))
            self.textarea = None


def form_data(html: str, having: str) -> dict[str, list[str]]:
    """What a browser would post from the page's form that has the field ``having``."""
    reader = FormReader()
    reader.feed(html)
    return next(form for form in reader.forms if having in form)


def sf_json(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def stamp(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def dt_of(at: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, dt.UTC)


def fresh_database() -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"], check=True)
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {DATABASE}"], check=True)


@contextlib.contextmanager
def environment(out_dir: Path, args: argparse.Namespace) -> Iterator[tuple[Any, dict[str, str]]]:
    from sfsim.launch import start_sfsim

    data = out_dir / "sfsim"
    data.mkdir(parents=True)
    server = start_sfsim(data, seed="demo", scenario="ready", timeout=300)
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DATABASE}",
        "SALESFORCE_CA_BUNDLE": server.ca_path,
        "SALESFORCE_ALLOWED_HOSTS": server.allowed_hosts,
        "SALESFORCE_CLIENT_ID": server.client_id,
        "SALESFORCE_CLIENT_SECRET": server.client_secret,
        "SALESFORCE_LOGIN_URL": server.login_url,
        "SALESFORCE_RUN_TIMEOUT": str(args.run_timeout),
        "DJANGO_SETTINGS_MODULE": "roxcrm.settings",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",  # the record pages the soak opens as a person (Django's test client)
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),  # the worker's log; this process logs warnings only
        "PYTHONUNBUFFERED": "1",
    }
    try:
        yield server, env
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="length of the load phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rox-rate", type=float, default=1.5, help="Rox writes per second")
    parser.add_argument("--sf-rate", type=float, default=1.0, help="Salesforce writes per second")
    parser.add_argument("--create-share", type=float, default=0.1, help="share of writes that create a record")
    parser.add_argument(
        "--conflict-share", type=float, default=0.3, help="share of edits aimed at a change the other side has not seen"
    )
    parser.add_argument("--activity-share", type=float, default=0.1, help="share of Rox writes that log an activity")
    parser.add_argument(
        "--refused-share", type=float, default=0.02, help="share of Rox writes that Salesforce will refuse"
    )
    parser.add_argument(
        "--action-every", type=float, default=8, help="mean seconds between merges, conversions and late parents"
    )
    parser.add_argument("--gap", type=float, default=2.5, help="seconds between the two sides' writes of a field")
    parser.add_argument("--tick", type=float, default=15, help="seconds between enqueued sync cycles")
    parser.add_argument("--kill-min", type=float, default=30)
    parser.add_argument("--kill-max", type=float, default=90)
    parser.add_argument("--run-timeout", type=int, default=1800, help="SALESFORCE_RUN_TIMEOUT for the soak")
    parser.add_argument("--no-results", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    command = "python bench/soak.py" + "".join(f" {a}" for a in sys.argv[1:])
    out_dir = REPO / "bench" / "out" / f"soak-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True)
    print(f"soak: {args.minutes:g} min, artifacts in {out_dir.relative_to(REPO)}", flush=True)
    fresh_database()
    with environment(out_dir, args) as (server, env):
        os.environ.update({**env, "LOG_LEVEL": "WARNING"})
        import django

        django.setup()
        soak = Soak(args, server, out_dir, env)
        atexit.register(soak.worker.stop)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
        try:
            status = soak.run()
            if status:
                print("\n".join(soak.harness_errors), file=sys.stderr)
                sys.exit(status)
            verdict = soak.check()
            summary = soak.report(verdict, command)
            details = details_text(soak, verdict)
        finally:
            soak.stop.set()
            soak.worker.stop()
            (out_dir / "writes.json").write_text(json.dumps([asdict(w) for w in soak.log], indent=0))
            (out_dir / "created.json").write_text(json.dumps([asdict(c) for c in soak.created], indent=0))
    print(details)
    print(summary)
    (out_dir / "summary.md").write_text(details + "\n\n" + summary + "\n")
    if not args.no_results:
        with (REPO / "bench" / "RESULTS.md").open("a") as results:
            results.write("\n" + summary + "\n")
    sys.exit(1 if verdict["mismatches"] else 0)


def details_text(soak: Soak, verdict: dict[str, Any]) -> str:
    lines = [f"\nFirst sync: {soak.first_sync}"]
    for n, results in enumerate(soak.cycle_results, 1):
        lines.append(f"Convergence cycle {n}: " + "; ".join(results))
    if soak.refused:
        lines.append(
            "Edits Rox refused (not counted as writes): " + "; ".join(f"{k} x{v}" for k, v in soak.refused.items())
        )
    lines.append(f"Outbox rows failed or in review ({len(verdict['failed_rows'])}):")
    lines += [f"  {row}" for row in verdict["failed_rows"][:50]] or ["  none"]
    lines.append(
        "Open sync errors by direction, object and code: "
        + ("; ".join(f"{k} x{v}" for k, v in sorted(verdict["open_errors"].items())) or "none")
    )
    lines.append(f"Sync errors raised during the soak ({len(verdict['soak_errors'])}):")
    lines += [f"  {row}" for row in verdict["soak_errors"][:50]] or ["  none"]
    lines.append(f"Not written, listed with a reason ({len(verdict['listed'])}):")
    lines += [f"  {row}" for row in verdict["listed"][:50]] or ["  none"]
    lines.append(f"Mismatches ({len(verdict['mismatches'])}):")
    for mismatch in verdict["mismatches"][:40]:
        lines.append(f"  [{mismatch.kind}] {mismatch.detail}")
        lines += [f"      {line}" for line in mismatch.diagnosis]
    if not verdict["mismatches"]:
        lines.append("  none")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
