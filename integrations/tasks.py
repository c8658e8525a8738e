"""django-q2 tasks: thin, they load by id and call the engine. Scheduled by ``integrations.schedules``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from integrations.models import SalesforceConnection

log = logging.getLogger(__name__)


def _active(connection_id: int) -> SalesforceConnection | None:
    """The connection if it can be worked on now: signed in, Salesforce accepting its token."""
    connection = SalesforceConnection.objects.filter(pk=connection_id).first()
    if connection is None or not connection.is_signed_in or connection.auth_refused:
        return None
    return connection


def sync_object_task(connection_id: int, sobject: str) -> str:
    from integrations.engine.runner import sync_object

    return _object_task(connection_id, sobject, sync_object)


def _object_task(connection_id: int, sobject: str, job: Callable[[SalesforceConnection, str], Any]) -> str:
    connection = _active(connection_id)
    if connection is None:
        return "skipped: not connected"
    result = job(connection, sobject)
    return result.skipped_reason or result.run.get_outcome_display()


def first_sync_task(connection_id: int) -> str:
    """The wizard's first sync: every enabled object, parents first, each read in full."""
    return _sync_all(connection_id, full=False)


def _sync_all(connection_id: int, *, full: bool) -> str:
    from integrations.engine.plan import object_plans
    from integrations.engine.runner import sync_object

    connection = _active(connection_id)
    if connection is None:
        return "skipped: not connected"
    outcomes = []
    for plan in object_plans(connection.organization):
        result = sync_object(connection, plan.sobject, full=full)
        outcomes.append(f"{plan.sobject}: {result.skipped_reason or result.run.get_outcome_display()}")  # type: ignore[union-attr]
    return "; ".join(outcomes)


def formula_refresh_task(connection_id: int) -> str:
    """Refresh the mapped formula fields of every object whose last refresh is older than the configured period."""
    from integrations.engine.formula import refresh_due

    connection = _active(connection_id)
    return "skipped: not connected" if connection is None else refresh_due(connection)


def reconcile_task(connection_id: int) -> str:
    from integrations.engine.reconcile import reconcile_due

    connection = _active(connection_id)
    return "skipped: not connected" if connection is None else reconcile_due(connection)


def preflight_task(connection_id: int) -> str:
    from integrations.services import preflight_run

    connection = _active(connection_id)
    if connection is None:
        return "skipped: not connected"
    return preflight_run(connection=connection).get_outcome_display()


def writeback_task(connection_id: int, sobject: str) -> str:
    """Write one object's pending changes now (queued when a change commits). Changes committed from here on queue
    a new task; if another run holds the object, wait for it a little rather than leave the change to the sweep."""
    import time

    from django.conf import settings

    from integrations.engine.drain import drain
    from integrations.engine.locks import BUSY
    from integrations.models import SyncCursor

    SyncCursor.objects.filter(connection_id=connection_id, sobject=sobject).update(writeback_requested_at=None)
    connection = _active(connection_id)
    if connection is None:
        return "skipped: not connected (the changes wait)"
    deadline = time.monotonic() + settings.SALESFORCE_WRITEBACK_WAIT_SECONDS
    while True:
        result = drain(connection, sobject)
        if result.skipped_reason != BUSY or time.monotonic() >= deadline:
            return result.skipped_reason or result.run.get_outcome_display()  # type: ignore[union-attr]
        time.sleep(0.25)


def writeback_sweep_task(connection_id: int) -> str:
    """The periodic sweep: release rows stuck in flight and write whatever is pending, parents first."""
    from integrations.engine.drain import drain
    from integrations.engine.locks import object_lock
    from integrations.models import OutboxEntry
    from integrations.outbox import release_stuck
    from mappings.defaults import STANDARD_OBJECTS

    connection = _active(connection_id)
    if connection is None:
        return "skipped: not connected (the changes wait)"
    release_stuck(connection.organization_id)
    # Rows in flight of an object whose lock is free belong to a run that died (a killed worker): free them now,
    # not after the run timeout.
    in_flight = OutboxEntry.objects.filter(
        organization_id=connection.organization_id, state=OutboxEntry.State.IN_FLIGHT
    )
    for sobject in set(in_flight.values_list("sobject", flat=True).distinct()):
        with object_lock(connection, sobject) as free:
            if free:
                release_stuck(connection.organization_id, sobject)
    pending = set(
        OutboxEntry.objects.filter(organization_id=connection.organization_id, state=OutboxEntry.State.PENDING)
        .values_list("sobject", flat=True)
        .distinct()
    )
    order = {name: i for i, name in enumerate(STANDARD_OBJECTS)}
    outcomes = []
    for sobject in sorted(pending, key=lambda name: order.get(name, 99)):
        result = drain(connection, sobject)
        outcomes.append(f"{sobject}: {result.skipped_reason or result.run.get_outcome_display()}")  # type: ignore[union-attr]
    return "; ".join(outcomes) or "nothing pending"


def setup_org_task(connection_id: int, user_id: int | None, grant_objects: bool, run_id: int | None = None) -> str:
    """Set up Salesforce for the admin (``integrations.setup_org``): deploy, assign, re-check, in the run the click
    made (``run_id``)."""
    from integrations.models import SyncRun
    from integrations.setup_org import setup_org
    from roxcrm.models import User

    queued = SyncRun.objects.filter(pk=run_id, outcome=SyncRun.Outcome.RUNNING).first() if run_id else None
    connection = _active(connection_id)
    if connection is None:
        if queued is not None:
            queued.outcome, queued.error = SyncRun.Outcome.FAILED, "Rox is not signed in to Salesforce any more."
            queued.save(update_fields=["outcome", "error"])
        return "skipped: not signed in to Salesforce"
    user = User.objects.filter(pk=user_id).first() if user_id else None
    run = setup_org(connection=connection, user=user, grant_objects=grant_objects, queued=queued)
    return f"{run.get_outcome_display()}{': ' + run.error if run.error else ''}"


def backfill_task(connection_id: int, sobject: str) -> str:
    """Fill newly mapped fields on the records read before (``runner.backfill``); a busy object fills them at the
    end of the run that holds it."""
    from integrations.engine.runner import backfill

    return _object_task(connection_id, sobject, backfill)


def resync_task(connection_id: int) -> str:
    """Resync everything: every enabled object, parents first, each read in full again."""
    return _sync_all(connection_id, full=True)
