"""A run's record: every job that works against Salesforce (an inbound run, a writeback drain, a formula refresh, a
reconciliation, the prerequisite checks) opens one with ``recorded_run`` and does its work inside it.

The record (a ``SyncRun``) is created when the job starts and closed however the job ends: succeeded (or with
warnings), paused by the API budget, failed with Salesforce's reason, or failed by an unexpected error (which then
goes on up to the worker, so that it is logged with its traceback). Its API calls, the time spent waiting for
Salesforce and its counts are written once, at the end, from the one Salesforce client the run opened; the client's
usage figures are saved with it. Sync health reads nothing else, so no job can leave a run "running" for good or
count its calls differently from another."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.utils import timezone

from integrations.models import SalesforceConnection, SyncRun
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import BudgetExhaustedError, SalesforceError

log = logging.getLogger(__name__)
UNEXPECTED = "Stopped by an unexpected error ({name}); the worker's log has the details."


class Run:
    """The open run a job works in: ``record`` (the ``SyncRun``), ``client`` (opened on first use, its calls
    counted), ``tally`` (the counts, read whenever they are saved) and ``warnings`` (succeeded with warnings)."""

    def __init__(self, connection: SalesforceConnection, record: SyncRun, *, enforce_budget: bool = True) -> None:
        self.connection = connection
        self.record = record
        self.tally: Callable[[], dict[str, Any]] = dict
        self.warnings = False
        self.other_calls = 0  # calls made by runs this one started (a drain's read first), counted here too
        self._client: SalesforceClient | None = None
        self._enforce_budget = enforce_budget

    @property
    def client(self) -> SalesforceClient:
        if self._client is None:
            self._client = SalesforceClient(self.connection, enforce_budget=self._enforce_budget)
        return self._client

    @property
    def opened_client(self) -> SalesforceClient | None:
        """The client if the run opened one (a run that failed before any call has none)."""
        return self._client

    def checkpoint(self) -> None:
        """Save the counts so far (Sync health shows a long run's progress)."""
        self.record.counts = self.tally()
        self.record.save(update_fields=["counts"])


@contextlib.contextmanager
def recorded_run(
    connection: SalesforceConnection,
    kind: SyncRun.Kind,
    sobject: str = "",
    *,
    user: Any = None,
    on_failure: Callable[[SalesforceError], None] | None = None,
    enforce_budget: bool = True,
    queued: SyncRun | None = None,
) -> Iterator[Run]:
    """Open a run of ``kind`` on ``sobject`` and close it however the block ends. A Salesforce error ends the run
    (paused for the API budget, failed otherwise) and is not raised further: the caller reads the outcome from
    ``run.record``. ``on_failure`` is told of it first (a drain puts its claimed rows back). Any other exception
    fails the run and is raised. ``queued``: the run's record, made when the job was queued (so a page shows it
    from the click on), which this run takes over."""
    if queued is not None:
        record = queued
        record.started_at = timezone.now()
        record.save(update_fields=["started_at"])
    else:
        record = SyncRun.objects.create(
            connection=connection, kind=kind, sobject=sobject, started_at=timezone.now(), started_by=user
        )
    run = Run(connection, record, enforce_budget=enforce_budget)
    try:
        yield run
        if record.outcome == SyncRun.Outcome.RUNNING:
            record.outcome = SyncRun.Outcome.WARNINGS if run.warnings else SyncRun.Outcome.SUCCEEDED
    except BudgetExhaustedError as exc:
        record.outcome, record.error = SyncRun.Outcome.PAUSED, exc.message
        if on_failure:
            on_failure(exc)
    except SalesforceError as exc:
        record.outcome, record.error = SyncRun.Outcome.FAILED, str(exc)
        log.warning("%s of %s for %s failed: %s", record.get_kind_display(), sobject, connection.organization, exc)
        if on_failure:
            on_failure(exc)
    except BaseException as exc:
        record.outcome, record.error = SyncRun.Outcome.FAILED, UNEXPECTED.format(name=type(exc).__name__)
        raise
    finally:
        client = run.opened_client
        record.finished_at = timezone.now()
        record.api_calls = (client.calls if client else 0) + run.other_calls
        if client:  # how long the run waited for Salesforce (the rest is the engine's own time)
            record.details = {**(record.details or {}), "api_seconds": round(client.api_seconds, 3)}
        record.counts = run.tally()
        record.save()
        if client:
            client.save_usage()
