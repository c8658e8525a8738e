"""What the Sync health page and the wizard's progress show: per object status and counts, errors grouped by
Salesforce code, conflicts, the API budget, and a 7-day chart (server-rendered SVG)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from integrations.models import Conflict, SalesforceConnection, SyncCursor, SyncError, SyncRun
from integrations.schedules import next_run
from mappings.defaults import STANDARD_OBJECTS
from mappings.models import ObjectMapping


def sync_progress(connection: SalesforceConnection, *, since: dt.datetime | None) -> list[dict[str, Any]]:
    """Per enabled object: the latest inbound run since ``since`` with records read, total, rate and time left."""
    rows = []
    order = {name: i for i, name in enumerate(STANDARD_OBJECTS)}
    mappings = sorted(
        ObjectMapping.objects.filter(organization=connection.organization, sync_enabled=True),
        key=lambda m: order.get(m.sobject, 99),
    )
    runs = SyncRun.objects.filter(connection=connection, kind=SyncRun.Kind.INBOUND)
    if since is not None:
        runs = runs.filter(started_at__gte=since)
    latest: dict[str, SyncRun] = {}
    for run in runs.order_by("started_at"):
        latest[run.sobject] = run
    now = timezone.now()
    for mapping in mappings:
        run = latest.get(mapping.sobject)
        if run is None:
            rows.append({"sobject": mapping.sobject, "state": "waiting", "running": True, "fetched": 0})
            continue
        fetched = run.counts.get("fetched", 0)
        total = run.counts.get("total")
        elapsed = ((run.finished_at or now) - run.started_at).total_seconds() or 1e-6
        rate = fetched / elapsed
        running = run.outcome == SyncRun.Outcome.RUNNING
        rows.append(
            {
                "sobject": mapping.sobject,
                "state": run.get_outcome_display(),
                "running": running,
                "fetched": fetched,
                "total": total,
                "percent": int(100 * fetched / total) if total else (100 if not running else 0),
                "rate": int(rate),
                "eta": int((total - fetched) / rate) if running and total and rate else None,
                "seconds": None if running else round(elapsed, 1),
                "counts": run.counts,
                "error": run.error,
            }
        )
    return rows


@dataclass
class ObjectHealth:
    sobject: str
    enabled: bool
    last_run: SyncRun | None
    next_run: dt.datetime | None
    cursor: dt.datetime | None
    open_errors: int


def object_health(connection: SalesforceConnection) -> list[ObjectHealth]:
    cursors = {c.sobject: c for c in SyncCursor.objects.filter(connection=connection).select_related("last_run")}
    errors = dict(
        SyncError.objects.filter(organization=connection.organization, resolved_at=None)
        .values_list("sobject")
        .annotate(n=Count("id"))
    )
    order = {name: i for i, name in enumerate(STANDARD_OBJECTS)}
    result = []
    for mapping in sorted(
        ObjectMapping.objects.filter(organization=connection.organization), key=lambda m: order.get(m.sobject, 99)
    ):
        cursor = cursors.get(mapping.sobject)
        result.append(
            ObjectHealth(
                sobject=mapping.sobject,
                enabled=mapping.sync_enabled,
                last_run=cursor.last_run if cursor else None,
                next_run=next_run(connection, mapping.sobject) if mapping.sync_enabled else None,
                cursor=cursor.cursor if cursor else None,
                open_errors=errors.get(mapping.sobject, 0),
            )
        )
    return result


def error_groups(connection: SalesforceConnection, limit: int = 10) -> list[dict[str, Any]]:
    """Open errors grouped by Salesforce code, each with a sample of the affected records."""
    groups: dict[str, dict[str, Any]] = {}
    for error in SyncError.objects.filter(organization=connection.organization, resolved_at=None).order_by(
        "-created_at"
    )[:2000]:
        group = groups.setdefault(error.code, {"code": error.code, "count": 0, "errors": []})
        group["count"] += 1
        if len(group["errors"]) < limit:
            group["errors"].append(error)
    return sorted(groups.values(), key=lambda g: -g["count"])


def recent_conflicts(connection: SalesforceConnection, limit: int = 25) -> list[Conflict]:
    return list(Conflict.objects.filter(organization=connection.organization)[:limit])


def chart(connection: SalesforceConnection, days: int = 7) -> SafeString:
    """Records synced and API calls per day over the last ``days`` days, as a small SVG bar chart."""
    start = (timezone.now() - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    per_day: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
    for run in SyncRun.objects.filter(connection=connection, started_at__gte=start).exclude(
        kind=SyncRun.Kind.PREFLIGHT
    ):
        day = timezone.localtime(run.started_at).date()
        counts = run.counts or {}
        per_day[day][0] += sum(counts.get(k, 0) or 0 for k in ("created", "updated", "deleted"))
        per_day[day][1] += run.api_calls
    days_list = [(start + dt.timedelta(days=i)).date() for i in range(days)]
    top_records = max([per_day[d][0] for d in days_list] + [1])
    top_calls = max([per_day[d][1] for d in days_list] + [1])
    width, height, pad = 560, 160, 24
    slot = (width - 2 * pad) / days
    bars = []
    for i, day in enumerate(days_list):
        records, calls = per_day[day]
        x = pad + i * slot
        h_records = (height - 2 * pad) * records / top_records
        h_calls = (height - 2 * pad) * calls / top_calls
        bars.append(
            (x + 4, height - pad - h_records, slot / 2 - 6, h_records, "#4f46e5", f"{day:%a %d}: {records:,} records")
        )
        bars.append(
            (
                x + slot / 2,
                height - pad - h_calls,
                slot / 2 - 6,
                h_calls,
                "#f59e0b",
                f"{day:%a %d}: {calls:,} API calls",
            )
        )
    rects = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
        bars,
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="#667085">{}</text>',
        ((f"{pad + i * slot + slot / 2:.1f}", height - 6, f"{d:%a}") for i, d in enumerate(days_list)),
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" width="100%" role="img" '
        'aria-label="Records synced and API calls per day, last {} days">'
        '{}{}<text x="{}" y="14" font-size="11" fill="#4f46e5">■ records (max {})</text>'
        '<text x="{}" y="14" font-size="11" fill="#b45309">■ API calls (max {})</text></svg>',
        width,
        height,
        days,
        rects,
        labels,
        pad,
        f"{top_records:,}",
        pad + 180,
        f"{top_calls:,}",
    )


def last_runs(connection: SalesforceConnection, limit: int = 20) -> list[SyncRun]:
    return list(SyncRun.objects.filter(connection=connection).exclude(kind=SyncRun.Kind.PREFLIGHT)[:limit])


def failed_runs(connection: SalesforceConnection, days: int = 7) -> list[SyncRun]:
    """The jobs whose latest run (of the last ``days`` days) failed, each kind of job on each object once, latest
    first: a failure no record error shows, since no record got as far as Salesforce (Rox could not sign in, build
    its client for a host that is not allowed, or reach Salesforce). A later run that ends otherwise clears it.
    Two queries."""
    finished = (
        SyncRun.objects.filter(connection=connection, started_at__gte=timezone.now() - dt.timedelta(days=days))
        .exclude(kind__in=[SyncRun.Kind.PREFLIGHT, SyncRun.Kind.DRY_RUN])
        .exclude(outcome=SyncRun.Outcome.RUNNING)
    )
    latest = finished.values("kind", "sobject").annotate(latest=Max("pk")).values_list("latest", flat=True)
    return list(SyncRun.objects.filter(pk__in=list(latest), outcome=SyncRun.Outcome.FAILED))


def outbox_summary(connection: SalesforceConnection) -> list[dict[str, Any]]:
    """Pending, in flight, failed and needing review: counts and the age of the oldest, per state."""
    from django.db.models import Min

    from integrations.models import OutboxEntry

    rows = (
        OutboxEntry.objects.filter(
            organization=connection.organization,
            state__in=[
                OutboxEntry.State.PENDING,
                OutboxEntry.State.IN_FLIGHT,
                OutboxEntry.State.FAILED,
                OutboxEntry.State.REVIEW,
            ],
        )
        .values("state")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    )
    labels = dict(OutboxEntry.State.choices)
    by_state = {row["state"]: row for row in rows}
    return [
        {
            "state": state,
            "label": labels[state],
            "count": by_state.get(state, {}).get("n", 0),
            "oldest": by_state.get(state, {}).get("oldest"),
        }
        for state in ("pending", "in_flight", "failed", "review")
    ]


def outbox_attention(connection: SalesforceConnection, limit: int = 50) -> list[Any]:
    """Failed rows and rows waiting for review, with their records, for Retry, Discard and choosing a match."""
    from integrations.models import OutboxEntry
    from roxcrm.services import record_model

    entries = list(
        OutboxEntry.objects.filter(
            organization=connection.organization, state__in=[OutboxEntry.State.FAILED, OutboxEntry.State.REVIEW]
        ).order_by("-updated_at")[:limit]
    )
    by_object: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        by_object[entry.rox_object].append(entry.record_id)
    records = {
        (rox_object, record.pk): record
        for rox_object, ids in by_object.items()
        for record in record_model(rox_object).objects.filter(pk__in=ids)
    }
    for entry in entries:
        entry.record = records.get((entry.rox_object, entry.record_id))
    return entries


def recent_batches(connection: SalesforceConnection, limit: int = 10) -> list[Any]:
    from integrations.models import WritebackBatch

    return list(WritebackBatch.objects.filter(connection=connection).select_related("reverted_by")[:limit])
