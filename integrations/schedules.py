"""The django-q2 schedules of each connection, declared here and kept in step with the connection and the CRM
Mappings (frequency, pause) by upserting them by name whenever those change, and on migrate."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from django_q.models import Schedule

from integrations.models import SalesforceConnection
from mappings.models import ObjectMapping


@dataclass(frozen=True)
class Planned:
    name: str
    func: str
    args: str
    schedule_type: str
    minutes: int | None = None


def planned(connection: SalesforceConnection) -> list[Planned]:
    """What should be scheduled for ``connection`` now (nothing unless it is submitted and signed in)."""
    if connection.submitted_at is None or not connection.is_signed_in:
        return []
    prefix = f"salesforce:{connection.pk}"
    result = [
        Planned(
            f"{prefix}:sync:{m.sobject}",
            "integrations.tasks.sync_object_task",
            f"{connection.pk},{m.sobject!r}",
            Schedule.MINUTES,
            m.sync_frequency,
        )
        for m in ObjectMapping.objects.filter(organization=connection.organization, sync_enabled=True)
    ]
    result += [
        Planned(
            f"{prefix}:writeback", "integrations.tasks.writeback_sweep_task", f"{connection.pk}", Schedule.MINUTES, 1
        ),
        Planned(f"{prefix}:formulas", "integrations.tasks.formula_refresh_task", f"{connection.pk}", Schedule.HOURLY),
        # Hourly, for the objects whose weekly reconciliation is due (a busy object is tried again the next hour).
        Planned(f"{prefix}:reconcile", "integrations.tasks.reconcile_task", f"{connection.pk}", Schedule.HOURLY),
        Planned(f"{prefix}:preflight", "integrations.tasks.preflight_task", f"{connection.pk}", Schedule.DAILY),
    ]
    return result


def schedules_sync(connection: SalesforceConnection) -> None:
    """Create, update or delete the connection's schedules so they match ``planned``."""
    wanted = {p.name: p for p in planned(connection)}
    existing = {s.name: s for s in Schedule.objects.filter(name__startswith=f"salesforce:{connection.pk}:")}
    for name, schedule in existing.items():
        if name not in wanted:
            schedule.delete()
    for name, plan in wanted.items():
        schedule = existing.get(name)
        if schedule is None:
            Schedule.objects.create(
                name=name,
                func=plan.func,
                args=plan.args,
                schedule_type=plan.schedule_type,
                minutes=plan.minutes,
                repeats=-1,
                next_run=timezone.now(),
            )
        elif (schedule.func, schedule.args, schedule.schedule_type, schedule.minutes) != (
            plan.func,
            plan.args,
            plan.schedule_type,
            plan.minutes,
        ):
            schedule.func, schedule.args, schedule.schedule_type, schedule.minutes = (
                plan.func,
                plan.args,
                plan.schedule_type,
                plan.minutes,
            )
            schedule.save()


def schedules_sync_all() -> None:
    for connection in SalesforceConnection.objects.all():
        schedules_sync(connection)


def next_run(connection: SalesforceConnection, sobject: str) -> timezone.datetime | None:
    schedule = Schedule.objects.filter(name=f"salesforce:{connection.pk}:sync:{sobject}").first()
    return schedule.next_run if schedule else None
