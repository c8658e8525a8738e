"""The object run lock: one job at a time reads or writes an object's records for a connection (inbound sync,
writeback, reconciliation, formula refresh, retries), whichever worker or machine runs it."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.utils import timezone

from integrations.models import SalesforceConnection, SyncCursor

BUSY = "another run of this object is in progress"  # the skipped reason when the object's lock is held
POLL_SECONDS = 0.25

# Run locks this thread holds (its own database connection), by cursor id: PostgreSQL's advisory locks are
# re-entrant within a session, and a second run of the same object in the same worker must still be refused.
_held = threading.local()
LOCK_SPACE = 0x526F78  # the first key of every run lock ("Rox"); the cursor's id is the second


def acquire(cursor: SyncCursor) -> str | None:
    """Take the run lock of ``cursor``; None when another run holds it.

    On PostgreSQL the lock is a session advisory lock (``pg_try_advisory_lock``): a worker that dies, even killed
    with SIGKILL, loses its database session and with it the lock, so the next run starts at once. The cursor row
    also records the run (``running_since``) for the pages. Elsewhere (SQLite, one machine) a conditional UPDATE on
    the row is the lock; it is taken over at once when the process that took it is gone (its id is in the token),
    and after ``SALESFORCE_RUN_TIMEOUT`` otherwise."""
    held = _held.__dict__.setdefault("cursors", set())
    if cursor.pk in held:
        return None
    token = f"{uuid.uuid4().hex}:{os.getpid()}"
    now = timezone.now()
    database = connections[SyncCursor.objects.db]
    if database.vendor == "postgresql":
        with database.cursor() as sql:
            sql.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_SPACE, cursor.pk])
            if not sql.fetchone()[0]:
                return None
        # Whatever run the row still names died: it no longer holds the lock.
        SyncCursor.objects.filter(pk=cursor.pk).update(running_since=now, running_token=token)
    else:
        stale = now - dt.timedelta(seconds=settings.SALESFORCE_RUN_TIMEOUT)
        taken = SyncCursor.objects.filter(
            Q(running_since__isnull=True) | Q(running_since__lt=stale), pk=cursor.pk
        ).update(running_since=now, running_token=token)
        if not taken:
            holder = SyncCursor.objects.filter(pk=cursor.pk).values_list("running_token", flat=True).first()
            if holder and _process_gone(holder):
                taken = SyncCursor.objects.filter(pk=cursor.pk, running_token=holder).update(
                    running_since=now, running_token=token
                )
        if not taken:
            return None
    held.add(cursor.pk)
    return token


def _process_gone(token: str) -> bool:
    """Whether the process named in a run's token (``<uuid>:<pid>``, on this machine) no longer exists: a worker
    killed mid-run. An unknown token, this process, or a process that exists (or may: no permission to ask) is
    not gone."""
    _, _, pid = token.partition(":")
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, OSError):
        return False
    return False


def release(cursor: SyncCursor, token: str) -> None:
    SyncCursor.objects.filter(pk=cursor.pk, running_token=token).update(running_since=None, running_token="")
    held = _held.__dict__.setdefault("cursors", set())
    if cursor.pk in held:
        held.discard(cursor.pk)
        database = connections[SyncCursor.objects.db]
        if database.vendor == "postgresql":
            with database.cursor() as sql:
                sql.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_SPACE, cursor.pk])


@contextlib.contextmanager
def object_lock(connection: SalesforceConnection, sobject: str, *, wait: float = 0) -> Iterator[bool]:
    """Hold ``sobject``'s run lock for the block. Yields False, holding nothing, when another run still holds it
    after ``wait`` seconds; the caller then leaves the work for later."""
    cursor, _ = SyncCursor.objects.get_or_create(connection=connection, sobject=sobject)
    deadline = time.monotonic() + wait
    token = acquire(cursor)
    while token is None and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        token = acquire(cursor)
    if token is None:
        yield False
        return
    try:
        yield True
    finally:
        release(cursor, token)
