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
   ways.
3. Convergence: faults off, the worker running and no longer killed, then at most two sync cycles. A cycle is the
   sync of every enabled object (parents first) and a writeback sweep, enqueued to the worker; the next cycle starts
   when every task of this one has finished.
4. Checks: every written field holds the last value written (by this script's own log of who wrote what when) in
   Rox and in Salesforce; nothing is duplicated on either side; every created record exists on both sides, linked,
   with its parent; every record that could not be written is listed with its reason (failed or review outbox rows,
   open sync errors); no outbox row is left pending or in flight. Prints a summary, appends it to
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
  Salesforce value must win).

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
                if rng.random() < self.args.create_share:
                    self.rox_create(rng, actor, pools)
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
        from roxcrm.models import Account, Contact
        from roxcrm.services import record_create

        n = next(self.counter)
        with self.edit_lock:
            started = time.time()
            if rng.random() < 0.45 or not pools["Account"]:
                website = f"https://{self.tag}-rox-a{n}.example.com"
                values: dict[str, Any] = {
                    "name": f"Soak {self.tag} Rox A{n}",
                    "website": website,
                    "phone": f"+1 555 {n:07d}",
                    "industry": rng.choice(INDUSTRIES),
                }
                record = record_create(organization=self.org, model=Account, values=values, actor=actor)
                self.created.append(Created("rox", "Account", record.pk, None, values["name"], website=website))
                sobject = "Account"
            else:
                # Half the time under an account created in Rox during the soak (parent before child).
                mine = [c.rox_id for c in self.created if c.side == "rox" and c.sobject == "Account"]
                parent_id = rng.choice(mine) if mine and rng.random() < 0.5 else rng.choice(pools["Account"])
                parent = Account.objects.get(pk=parent_id)
                values = {
                    "last_name": f"Soak {self.tag} Rox C{n}",
                    "email": f"{self.tag}.rox.c{n}@example.org",
                    "phone": f"+1 555 {n:07d}",
                    "title": f"Soak title {n}",
                    "account": parent,
                }
                record = record_create(organization=self.org, model=Contact, values=values, actor=actor)
                self.created.append(
                    Created("rox", "Contact", record.pk, None, values["email"], parent_rox_id=parent_id)
                )
                sobject = "Contact"
            at = time.time()
            for spec in FIELDS[sobject]:
                if spec.rox in values:
                    self.record(
                        Write(
                            "rox",
                            sobject,
                            record.pk,
                            None,
                            spec.rox,
                            norm(spec.kind, values[spec.rox]),
                            started,
                            at,
                            actor.label,
                            created=True,
                        )
                    )

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
            if rng.random() < 0.45 or not pools["Account"]:
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
                mine = [c.sf_id for c in self.created if c.side == "salesforce" and c.sobject == "Account"]
                parent = rng.choice(mine) if mine and rng.random() < 0.5 else rng.choice(pools["Account"])
                fields = {
                    "LastName": f"Soak {self.tag} SF C{n}",
                    "Email": f"{self.tag}.sf.c{n}@example.net",
                    "Phone": f"+1 555 {n:07d}",
                    "Title": f"Soak title {n}",
                    "AccountId": parent,
                }
                sf_id = self.server.control("POST", "records/Contact", {"as": user, "fields": fields})["id"]
                self.created.append(Created("salesforce", "Contact", None, sf_id, fields["Email"], parent_sf_id=parent))
            at = time.time()
            for spec in FIELDS[sobject]:
                if spec.sf in fields:
                    self.record(
                        Write(
                            "salesforce",
                            sobject,
                            None,
                            sf_id,
                            spec.rox,
                            norm(spec.kind, fields[spec.sf]),
                            started,
                            at,
                            user,
                            created=True,
                        )
                    )

    # -- the worker: ticks and kills ------------------------------------------------------------------------------

    def enqueue_cycle(self) -> list[str]:
        """What the schedules would enqueue if they ran this often: every enabled object's sync, parents first,
        then a writeback sweep."""
        from django_q.tasks import async_task

        from integrations.engine.plan import object_plans

        ids = [
            async_task(
                "integrations.tasks.sync_object_task",
                self.connection.pk,
                plan.sobject,
                task_name=f"soak sync {plan.sobject}",
            )
            for plan in object_plans(self.org)
        ]
        ids.append(
            async_task("integrations.tasks.writeback_sweep_task", self.connection.pk, task_name="soak writeback sweep")
        )
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
        rng = random.Random(self.args.seed * 7 + 3)
        try:
            while not self.stop.wait(rng.uniform(self.args.kill_min, self.args.kill_max)):
                if self.worker.kill():
                    self.kills += 1
                    self.last_kill = time.time()
                self.stop.wait(rng.uniform(1, 5))
                self.worker.start()
        except Exception:
            self.harness_errors.append(f"killer: {traceback.format_exc()}")

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
        for (sobject, rox_id, sf_id, name), writes in groups.items():
            if rox_id is None or sf_id is None:
                continue  # a record on one side only: the creation checks below say why
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
        }

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
            f"| duplicates | {len(verdict['duplicates'])} |",
            f"| not written, listed with a reason | {len(verdict['listed'])} |",
            f"| **mismatches** | **{len(mismatches)}** (must be 0){by_kind} |",
        ]
        return "\n".join(lines)


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
