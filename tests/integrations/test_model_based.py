"""A model-based test of the sync: random interleavings of Rox edits (each asking the worker to write it, as a save
does), Salesforce edits by another user, inbound runs, drains, transient faults, writes Salesforce refuses, workers
killed mid-drain and reconciliations, on a small org. After quiescence: both sides hold the same value in every
mapped field, the most recent write wins wherever the two sides' writes are far enough apart for Salesforce's
one-second timestamps to order them, nothing is duplicated, and every write Salesforce refused is still waiting
with its error shown.

``make test`` runs a few examples; ``make soak`` runs many (``ROX_MODEL_EXAMPLES``)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations import outbox
from integrations.engine.drain import drain
from integrations.engine.reconcile import reconcile
from integrations.engine.runner import sync_object
from integrations.models import OutboxEntry, SalesforceConnection, SalesforceLink, SyncCursor, SyncError
from integrations.tasks import writeback_sweep_task
from roxcrm.models import Account, Organization, User
from roxcrm.services import Actor, record_update
from tests.integrations.test_writeback import connection, create, map_tier, read

__all__ = ["connection"]  # the fixture shared with test_writeback

EXAMPLES = int(os.environ.get("ROX_MODEL_EXAMPLES", "4"))
ACCOUNTS = 3
# Rox field → Salesforce field, all Read and Write; "tier" goes to a picklist Salesforce restricts to these values.
FIELDS = {"phone": "Phone", "industry": "Industry", "custom.tier": "Customer_Tier__c"}
VALUES = {
    "phone": ["555-0100", "555-0101", "555-0102", ""],
    "industry": ["Banking", "Energy", "Retail"],
    "custom.tier": ["Gold", "Silver", "Bronze"],
}
REFUSED_TIER = "Platinum"  # Salesforce refuses it (Rox's describe predates the restriction)
APART = 1.5  # seconds between two writes for Salesforce's whole-second timestamps to order them for sure


@dataclass
class Write:
    side: str  # "rox" or "salesforce"
    value: Any
    at: float
    refused: bool = False


@dataclass
class World:
    connection: SalesforceConnection
    sfsim: Any
    person: Actor
    accounts: list[tuple[str, int]]  # (Salesforce Id, Rox id)
    writes: dict[tuple[int, str], list[Write]] = field(default_factory=dict)
    dead_pid: int = 0

    def rox_value(self, index: int, key: str) -> Any:
        account = Account.objects.get(pk=self.accounts[index][1])
        if key.startswith("custom."):
            return (account.custom_values or {}).get(key[7:])
        return getattr(account, key)


def _blank(value: Any) -> Any:
    return None if value in ("", None) else value


action = st.one_of(
    st.tuples(st.just("rox_edit"), st.integers(0, ACCOUNTS - 1), st.sampled_from(sorted(FIELDS)), st.integers(0, 3)),
    st.tuples(st.just("sf_edit"), st.integers(0, ACCOUNTS - 1), st.sampled_from(sorted(FIELDS)), st.integers(0, 3)),
    st.tuples(st.just("refused_edit"), st.integers(0, ACCOUNTS - 1)),
    st.tuples(st.just("inbound")),
    st.tuples(st.just("drain")),
    st.tuples(st.just("fault"), st.sampled_from(["lock", "unavailable", "expire_sessions", "drop"])),
    st.tuples(st.just("kill_mid_drain")),
    st.tuples(st.just("reconcile")),
)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _step(world: World, step: tuple[Any, ...]) -> None:
    kind = step[0]
    if os.environ.get("ROX_MODEL_TRACE"):
        print("STEP", step, flush=True)
    if kind in ("rox_edit", "sf_edit"):
        index, key, choice = step[1], step[2], step[3]
        value = VALUES[key][choice % len(VALUES[key])]
        sf_id, record_id = world.accounts[index]
        if kind == "rox_edit":
            account = Account.objects.get(pk=record_id)
            if key.startswith("custom."):
                record_update(record=account, custom_values={key[7:]: value}, actor=world.person)
            else:
                record_update(record=account, values={key: value}, actor=world.person)
        else:
            world.sfsim.control("PATCH", f"records/Account/{sf_id}", {"fields": {FIELDS[key]: value or None}})
        world.writes.setdefault((index, key), []).append(
            Write("rox" if kind == "rox_edit" else "salesforce", _blank(value), time.monotonic())
        )
    elif kind == "refused_edit":
        index = step[1]
        account = Account.objects.get(pk=world.accounts[index][1])
        record_update(record=account, custom_values={"tier": REFUSED_TIER}, actor=world.person)
        world.writes.setdefault((index, "custom.tier"), []).append(
            Write("rox", REFUSED_TIER, time.monotonic(), refused=True)
        )
    elif kind == "inbound":
        sync_object(world.connection, "Account")
    elif kind == "drain":
        drain(world.connection, "Account")
    elif kind == "fault":
        world.sfsim.control("POST", "faults", {"kind": step[1], "count": 1})
    elif kind == "kill_mid_drain":
        # What a worker killed between claiming rows and recording their outcome leaves behind.
        outbox.claim(world.connection.organization_id, "Account", 100)
        SyncCursor.objects.filter(connection=world.connection, sobject="Account").update(
            running_since=dt.datetime.now(dt.UTC), running_token=f"{uuid.uuid4().hex}:{world.dead_pid}"
        )
    elif kind == "reconcile":
        reconcile(world.connection, "Account", wait=0)


def _quiesce(world: World) -> None:
    """No more faults; the sweep, drains and syncs run until nothing is left to write (retry delays skipped)."""
    world.sfsim.control("DELETE", "faults")
    for _ in range(8):
        OutboxEntry.objects.filter(state="pending").update(not_before=None)
        writeback_sweep_task(world.connection.pk)
        sync_object(world.connection, "Account")
        if not OutboxEntry.objects.filter(state__in=["pending", "in_flight"], sobject="Account").exists():
            return
    raise AssertionError(f"still waiting: {list(OutboxEntry.objects.exclude(state__in=['done', 'failed']).values())}")


def _check(world: World, tag: str) -> None:
    organization = world.connection.organization
    names = [f"Model {tag} {n}" for n in range(ACCOUNTS)]
    assert Account.objects.filter(organization=organization, name__in=names).count() == ACCOUNTS
    for index, (sf_id, record_id) in enumerate(world.accounts):
        same_name = f"SELECT COUNT() FROM Account WHERE Name = '{names[index]}'"
        assert world.sfsim.control("POST", "query", {"q": same_name})["totalSize"] == 1, f"account {index} twice"
        remote = read(world.sfsim, "Account", sf_id)
        assert not remote["IsDeleted"], f"account {index} was deleted in Salesforce"
        assert Account.objects.get(pk=record_id).removed_at is None, f"account {index} was hidden in Rox"
        for key, sf_field in FIELDS.items():
            writes = world.writes.get((index, key), [])
            rox, sf = _blank(world.rox_value(index, key)), _blank(remote[sf_field])
            waiting = OutboxEntry.objects.filter(record_id=record_id, sobject="Account", state="failed")
            if rox == REFUSED_TIER or any(key in entry.fields for entry in waiting):
                # Salesforce refuses the record's update as a whole while it holds the refused value: the change
                # waits, failed and shown with its error, until someone fixes or discards it.
                assert any(key in entry.fields for entry in waiting), (index, key, rox, sf)
                assert SyncError.objects.filter(record_id=record_id, resolved_at=None, direction="outbound").exists()
                continue
            assert rox == sf, f"account {index} {key}: Rox {rox!r}, Salesforce {sf!r}, writes {writes}"
            accepted = [w for w in writes if not w.refused]
            if not accepted:
                continue
            last = accepted[-1]
            others = [w for w in accepted[:-1] if w.side != last.side]
            if not others or last.at - others[-1].at >= APART:
                assert rox == last.value, f"account {index} {key}: the last write was {last}, both sides hold {rox!r}"


@pytest.mark.django_db(transaction=True)
def test_any_interleaving_converges_with_nothing_lost_or_fused(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    map_tier(org)
    person = Actor.person(admin_user)
    dead_pid = _dead_pid()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(st.lists(action, min_size=4, max_size=14))
    def run(steps: list[tuple[Any, ...]]) -> None:
        sfsim.control("DELETE", "faults")
        tag = uuid.uuid4().hex[:8]
        ids = [create(sfsim, "Account", Name=f"Model {tag} {n}") for n in range(ACCOUNTS)]
        assert sync_object(connection, "Account").run.outcome == "succeeded"
        accounts = [(sf_id, SalesforceLink.objects.get(sf_id=sf_id).record_id) for sf_id in ids]
        world = World(connection, sfsim, person, accounts, dead_pid=dead_pid)
        for step in steps:
            _step(world, step)
        _quiesce(world)
        _check(world, tag)

    run()
