"""`manage.py salesforce connect|preflight|status|sync|objects|writeback|disconnect --org SLUG`: the connection and
the sync, for automation."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models

from integrations import services
from integrations.models import SalesforceConnection
from integrations.salesforce.errors import OAuthError, SalesforceError
from integrations.salesforce.preflight import FAIL, PASS, WARN
from integrations.status import card_status
from roxcrm.models import Organization

MARKS = {PASS: "PASS", WARN: "WARN", FAIL: "FAIL"}


class Command(BaseCommand):
    help = "Connect, check, inspect or disconnect an organization's Salesforce connection."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        connect = sub.add_parser("connect", help="Connect headlessly with the OAuth client-credentials grant.")
        connect.add_argument("--org", required=True, help="The Rox organization's slug.")
        connect.add_argument("--login-url", required=True, help="e.g. https://acme.my.salesforce.com")
        connect.add_argument("--client-id", required=True)
        connect.add_argument("--client-secret", required=True)
        connect.add_argument("--submit", action="store_true", help="Also finish set-up (Connected if checks pass).")
        sync = sub.add_parser("sync", help="Sync from Salesforce now, with a progress bar and a summary.")
        sync.add_argument("--org", required=True, help="The Rox organization's slug.")
        sync.add_argument("--object", dest="sobject", help="Only this Salesforce object (e.g. Account).")
        sync.add_argument("--full", action="store_true", help="Re-read everything, not only what changed.")
        sync.add_argument("--dry-run", action="store_true", help="Show what 20 records per object would become.")
        objects = sub.add_parser(
            "objects",
            help="List the Salesforce objects that can be added; add one (as + Add object does); remove one.",
        )
        # ``objects --org SLUG`` lists; ``objects add --org SLUG Project__c`` adds (the slug on either level).
        objects.add_argument("--org", default=argparse.SUPPRESS, help="The Rox organization's slug.")
        verbs = objects.add_subparsers(dest="verb")
        for verb, text in (
            ("list", "The objects that can be added (the default)."),
            ("add", "Add an object: its Name, owner and lookups (or --fields), synced from the next run."),
            ("remove", "Stop syncing an added object; its Rox records are kept unless --delete-records."),
        ):
            parser_ = verbs.add_parser(verb, help=text)
            parser_.add_argument("--org", default=argparse.SUPPRESS, help="The Rox organization's slug.")
            if verb == "list":
                continue
            parser_.add_argument("sobject", help="The object's API name, e.g. Project__c.")
            if verb == "add":
                parser_.add_argument("--fields", help="The fields to map, comma-separated (default: owner, lookups).")
                parser_.add_argument("--rule", help="read_only (default), read_write, write_only, prefer_salesforce.")
                parser_.add_argument("--tab", help="The CRM Mappings tab (default: custom).")
            else:
                parser_.add_argument("--delete-records", action="store_true", help="Delete its Rox records too.")
        setup = sub.add_parser(
            "setup-org",
            help="Set up Salesforce (deploy the Rox package, assign its permission set, re-check); exit 0 when every "
            "check then passes.",
        )
        setup.add_argument("--org", required=True, help="The Rox organization's slug.")
        setup.add_argument(
            "--no-grant-objects",
            dest="grant_objects",
            action="store_false",
            help="Do not grant access to the objects added in CRM Mappings (the Rox Added Objects permission set).",
        )
        writeback = sub.add_parser("writeback", help="Write pending Rox changes to Salesforce now, once.")
        writeback.add_argument("--org", required=True, help="The Rox organization's slug.")
        for name, text in [
            ("preflight", "Run the prerequisite checks; exit 0 when all pass, 1 otherwise."),
            ("status", "Show where the connection stands."),
            ("disconnect", "Revoke the tokens and stop syncing (data and mappings are kept)."),
        ]:
            action = sub.add_parser(name, help=text)
            action.add_argument("--org", required=True, help="The Rox organization's slug.")
            if name == "status":
                action.add_argument("--json", dest="as_json", action="store_true", help="Machine-readable output.")

    def handle(self, *args: Any, action: str, org: str | None = None, **options: Any) -> None:
        if not org:
            raise CommandError("Give the organization: --org SLUG.")
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with the slug “{org}”.")
        getattr(self, f"_{action.replace('-', '_')}")(organization, **options)

    def _objects(
        self,
        organization: Organization,
        *,
        verb: str | None = None,
        sobject: str | None = None,
        fields: str | None = None,
        rule: str | None = None,
        tab: str | None = None,
        delete_records: bool = False,
        **_: Any,
    ) -> None:
        from django.core.exceptions import ValidationError

        from integrations import objects

        connection = self._connection(organization)
        try:
            if verb in (None, "list"):
                addable = objects.addable_objects(connection)
                if not addable:
                    self.stdout.write("Every object the integration user can read is synced already.")
                for item in addable:
                    kind = "custom" if item.custom else "standard"
                    writable = "" if item.createable else ", read only"
                    self.stdout.write(f"{item.sobject:<40} {item.label} ({kind}{writable})")
            elif verb == "add":
                assert sobject is not None
                chosen = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
                removed = objects.removed_object(organization, sobject)
                if removed is not None:  # restored as it was (objects.object_add): the choices do not apply
                    objects.object_add(connection, sobject)
                    self.stdout.write(
                        self.style.SUCCESS(f"Restored {sobject}")
                        + f" (removed {removed.removed_at:%Y-%m-%d}): its {removed.records} Rox records and its "
                        f"earlier mappings: {'; '.join(removed.mappings)}."
                    )
                    if fields or rule or tab:
                        self.stdout.write(
                            "--fields, --rule and --tab are not applied to an object added again: change its "
                            "mappings on CRM Mappings."
                        )
                    return
                mapping = objects.object_add(
                    connection, sobject, fields=chosen, rule=rule or "read_only", tab=tab or "custom"
                )
                mapped = ", ".join(
                    f"{m.sf_field} → {m.rox_field} ({m.get_rule_display()})" for m in mapping.field_mappings.all()
                )
                self.stdout.write(self.style.SUCCESS(f"Added {sobject}") + f": {mapped}.")
                self.stdout.write(
                    f"Read it now with `manage.py salesforce sync --org {organization.slug} --object {sobject}`."
                )
            else:
                assert sobject is not None
                count = objects.object_remove(connection, sobject, delete_records=delete_records)
                kept = "deleted" if delete_records else "kept (archived; adding the object again restores them)"
                self.stdout.write(self.style.SUCCESS(f"Removed {sobject}") + f": its {count} Rox records {kept}.")
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except SalesforceError as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from None

    def _connection(self, organization: Organization) -> SalesforceConnection:
        connection = SalesforceConnection.objects.filter(organization=organization).first()
        if connection is None or not connection.is_signed_in:
            raise CommandError(f"{organization} is not connected to Salesforce.")
        return connection

    def _connect(
        self, organization: Organization, *, login_url: str, client_id: str, client_secret: str, submit: bool, **_: Any
    ) -> None:
        try:
            connection = services.connection_connect_client_credentials(
                organization=organization, login_url=login_url, client_id=client_id, client_secret=client_secret
            )
        except services.ConnectionRefused as exc:
            raise CommandError(str(exc)) from None
        except (OAuthError, SalesforceError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from None
        self.stdout.write(
            self.style.SUCCESS(f"Connected {organization} to Salesforce org {connection.sf_org_id}")
            + f" as {connection.sf_username} ({connection.instance_url})."
        )
        run = services.preflight_run(connection=connection)
        self._print_checks(run)
        if submit:
            connection = services.connection_submit(connection=connection, user=None)
            self.stdout.write(f"Set-up submitted: {connection.get_status_display()}.")

    def _preflight(self, organization: Organization, **_: Any) -> None:
        run = services.preflight_run(connection=self._connection(organization))
        self._print_checks(run)
        if run.outcome == run.Outcome.FAILED:
            raise SystemExit(1)

    def _setup_org(self, organization: Organization, *, grant_objects: bool = True, **_: Any) -> None:
        from integrations.setup_org import manual_steps, setup_org

        connection = self._connection(organization)
        run = setup_org(connection=connection, grant_objects=grant_objects)
        for step in run.details.get("steps", []):
            self.stdout.write(f"  {step}")
        for failure in run.details.get("failures", []):
            self.stdout.write(self.style.ERROR(f"  {failure['component']} ({failure['file']}): {failure['problem']}"))
        if run.outcome == run.Outcome.FAILED:
            self.stdout.write(self.style.ERROR(f"Salesforce could not be set up: {run.error}"))
            self.stdout.write("Set it up by hand instead:")
            for number, step in enumerate(manual_steps(connection), 1):
                self.stdout.write(f"  {number}. {step}")
            raise SystemExit(1)
        checks = connection.latest_preflight()
        if checks is not None:
            self._print_checks(checks)
        if checks is None or checks.outcome == checks.Outcome.FAILED:
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Salesforce is set up: every prerequisite is met."))

    def _print_checks(self, run: Any) -> None:
        if not run.details.get("checks"):
            self.stdout.write(self.style.ERROR(f"The checks could not run: {run.error}"))
            return
        for check in run.details["checks"]:
            mark = MARKS.get(check["status"], check["status"].upper())
            style = {PASS: self.style.SUCCESS, WARN: self.style.WARNING, FAIL: self.style.ERROR}.get(
                check["status"], str
            )
            self.stdout.write(f"{style(mark):>4}  {check['title']}: {check['found']}")
            if check["status"] != PASS and check["fix"]:
                self.stdout.write(f"      Fix: {check['fix']}")
        self.stdout.write(f"{run.api_calls} API calls.")

    def _sync(self, organization: Organization, *, sobject: str | None, full: bool, dry_run: bool, **_: Any) -> None:
        from integrations.engine.plan import object_plans
        from integrations.engine.runner import dry_run as preview
        from integrations.engine.runner import sync_object
        from mappings.services import mappings_ensure_defaults

        connection = self._connection(organization)
        mappings_ensure_defaults(organization=organization)  # (made by the pages otherwise: a connect is enough)
        plans = object_plans(organization, only=sobject)
        if not plans and sobject:
            raise CommandError(
                f"Nothing to sync: {sobject} is not synced (its sync is off, or it is not one of the synced objects: "
                f"`manage.py salesforce objects --org {organization.slug}` lists those that can be added)."
            )
        if not plans:
            raise CommandError(
                "Nothing to sync: every object's sync is off, or Salesforce's schema is not known yet (run "
                f"`manage.py salesforce preflight --org {organization.slug}`, which reads it)."
            )
        failed = False
        rows = []
        for plan in plans:
            if dry_run:
                result = preview(connection, plan.sobject)
                self.stdout.write(
                    self.style.MIGRATE_HEADING(f"{plan.sobject}: {len(result.previews)} sample record(s)")
                )
                for item in result.previews:
                    self.stdout.write(f"  {item.sf_id} {item.action}{': ' + item.error if item.error else ''}")
                    for sf_field, sf_value, rox_value in item.fields:
                        self.stdout.write(f"      {sf_field}: {sf_value!r} → {rox_value!r}")
                continue
            bar = ProgressBar(self.stdout, plan.sobject)
            result = sync_object(connection, plan.sobject, full=full, progress=bar.update)
            bar.done()
            if result.run is None:
                rows.append((plan.sobject, "skipped", result.skipped_reason, "", ""))
                continue
            run = result.run
            failed |= run.outcome == run.Outcome.FAILED
            counts = run.counts
            rows.append(
                (
                    plan.sobject,
                    run.get_outcome_display(),
                    ", ".join(
                        f"{k} {counts.get(k, 0)}"
                        for k in ("fetched", "created", "updated", "unchanged", "deleted", "failed")
                    ),
                    str(run.api_calls),
                    f"{run.duration_seconds or 0:.1f}s" + (f" — {run.error}" if run.error else ""),
                )
            )
        if rows:
            self.stdout.write("")
            header = ("object", "outcome", "records", "API calls", "time")
            widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
            for row in [header, *rows]:
                self.stdout.write("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
        if failed:
            raise SystemExit(1)

    def _writeback(self, organization: Organization, **_: Any) -> None:
        from integrations.engine.drain import drain
        from integrations.models import OutboxEntry
        from integrations.outbox import release_stuck
        from mappings.defaults import STANDARD_OBJECTS

        connection = self._connection(organization)
        release_stuck(organization.pk)
        pending = dict(
            OutboxEntry.objects.filter(organization=organization, state=OutboxEntry.State.PENDING)
            .values_list("sobject")
            .annotate(n=models.Count("id"))
        )
        if not pending:
            self.stdout.write("Nothing is waiting to be written.")
            return
        failed = False
        for sobject in [s for s in STANDARD_OBJECTS if s in pending]:
            bar = ProgressBar(self.stdout, f"{sobject} ({pending[sobject]})")
            result = drain(connection, sobject, progress=bar.update)
            bar.done()
            if result.run is None:
                self.stdout.write(f"{sobject}: {result.skipped_reason}")
                continue
            failed |= result.run.outcome == result.run.Outcome.FAILED
            self.stdout.write(
                f"{sobject}: {result.run.get_outcome_display()} — written {result.written}, created {result.created}, "
                f"linked {result.linked}, failed {result.failed}, needs review {result.review}, "
                f"retrying later {result.retry}; {result.run.api_calls} API calls"
                + (f" — {result.run.error}" if result.run.error else "")
            )
        if failed:
            raise SystemExit(1)

    def _status(self, organization: Organization, *, as_json: bool = False, **_: Any) -> None:
        connection = SalesforceConnection.objects.filter(organization=organization).first()
        card = card_status(connection)
        data = {
            "organization": organization.slug,
            "status": card.label,
            "reason": card.reason,
            "salesforce_org_id": connection.sf_org_id if connection else "",
            "integration_user": connection.sf_username if connection else "",
            "instance_url": connection.instance_url if connection else "",
            "last_sync_at": connection.last_sync_at.isoformat() if connection and connection.last_sync_at else None,
            "api_used": connection.api_used if connection else None,
            "api_max": connection.api_max if connection else None,
        }
        if as_json:
            self.stdout.write(json.dumps(data, indent=2))
            return
        for key, value in data.items():
            self.stdout.write(f"{key.replace('_', ' '):>18}: {value if value not in (None, '') else '—'}")

    def _disconnect(self, organization: Organization, **_: Any) -> None:
        revoked = services.connection_disconnect(connection=self._connection(organization))
        self.stdout.write(
            f"Disconnected {organization}. "
            + ("Salesforce revoked the tokens." if revoked else "Salesforce did not confirm the revocation.")
        )


class ProgressBar:
    """A one-line progress bar on a terminal: records, records/s and, when the total is known, an ETA."""

    def __init__(self, out: Any, label: str) -> None:
        self.out, self.label, self.started = out, label, time.monotonic()

    def update(self, counts: Any, total: int | None) -> None:
        done = counts.fetched
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        if total:
            width = 30
            filled = int(width * min(done / total, 1))
            eta = (total - done) / rate if rate else 0
            bar = "#" * filled + "." * (width - filled)
            line = f"{self.label:<20} [{bar}] {done:,}/{total:,} {rate:,.0f}/s ETA {eta:,.0f}s"
        else:
            line = f"{self.label:<20} {done:,} records {rate:,.0f}/s"
        self.out.write(f"\r{line}", ending="")
        self.out.flush()

    def done(self) -> None:
        self.out.write("")
