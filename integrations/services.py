"""The Salesforce connection's life: prepare, sign in (OAuth), check prerequisites, submit, refresh, disconnect."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations import outbox, schema
from integrations.engine.runs import recorded_run
from integrations.models import OutboxEntry, SalesforceConnection, SyncRun, WritebackBatch
from integrations.salesforce import hosts, oauth
from integrations.salesforce.errors import OAuthError, SalesforceError
from integrations.salesforce.preflight import run_preflight
from integrations.schedules import schedules_sync
from integrations.status import connection_evaluate
from mappings.models import ObjectMapping
from mappings.services import mappings_ensure_defaults
from roxcrm.models import Organization, User

log = logging.getLogger(__name__)

LOGIN_URLS = {
    SalesforceConnection.Environment.PRODUCTION: "https://login.salesforce.com",
    SalesforceConnection.Environment.SANDBOX: "https://test.salesforce.com",
}


class ConnectionRefused(Exception):
    """A sign-in that must not become the connection (another org than before, or an org another Rox
    organization uses, without the admins' explicit agreement). The new tokens were revoked."""


def connection_prepare(
    *,
    organization: Organization,
    environment: str,
    login_url: str,
    expected_edition: str,
    expected_username: str,
    allow_org_change: bool = False,
    allow_shared_org: bool = False,
) -> SalesforceConnection:
    """Record step 1 of the wizard (where and as whom the admin will sign in). This is also the first step of a
    reconnect: with the same login URL the connection keeps its tokens and status; with another one its tokens are
    revoked at the host that issued them and discarded, because a token must never reach a host other than its
    own, and the admin signs in again. ``HostNotAllowedError`` (nothing saved) for a host outside the allow-list;
    ValueError for a login URL with a path."""
    login_url = hosts.login_origin(LOGIN_URLS.get(environment, login_url))
    connection, _ = SalesforceConnection.objects.get_or_create(
        organization=organization, defaults={"login_url": login_url}
    )
    discarded = (
        connection.pk is not None
        and connection.access_token != ""
        and (connection.login_url != login_url or connection.environment != environment)
    )
    if discarded:
        tokens_discard(connection=connection)
    connection.environment = environment
    connection.login_url = login_url
    connection.expected_edition = expected_edition
    connection.expected_username = expected_username.strip()
    connection.allow_org_change = allow_org_change
    connection.allow_shared_org = allow_shared_org
    if connection.status == SalesforceConnection.Status.DISCONNECTED:
        connection.status = SalesforceConnection.Status.SETUP
        connection.submitted_at = None
    if discarded:
        connection_evaluate(connection)
    connection.save()
    return connection


def tokens_discard(*, connection: SalesforceConnection) -> None:
    """Revoke the connection's tokens at the host that issued them (when it is an allowed host) and forget them.
    The org it was connected to is kept, so signing in to another org still needs the admin's confirmation. Does
    not save."""
    token = connection.refresh_token or connection.access_token
    if token:
        oauth.revoke(login_url=connection.token_login_url, token=token)
    connection.access_token = connection.refresh_token = connection.token_login_url = ""
    connection.token_generation += 1


@sensitive_variables("code", "verifier", "tokens")
def oauth_complete(
    *, connection: SalesforceConnection, login_url: str, code: str, verifier: str, redirect_uri: str, user: User
) -> SalesforceConnection:
    """Finish the web-server flow: redeem the code (with the PKCE verifier) at the login URL the sign-in started
    from, learn who signed in to which org, and store the tokens on the organization's connection. Refused when
    step 1 changed the login URL since the sign-in started."""
    if login_url != connection.login_url:
        raise ConnectionRefused(
            "The Salesforce login URL was changed while you were signing in, so Rox did not use this sign-in. "
            "Please sign in again."
        )
    tokens = oauth.exchange_code(
        login_url=login_url,
        client_id=settings.SALESFORCE_CLIENT_ID,
        client_secret=settings.SALESFORCE_CLIENT_SECRET,
        redirect_uri=redirect_uri,
        code=code,
        verifier=verifier,
    )
    return _store_tokens(
        connection=connection,
        tokens=tokens,
        login_url=login_url,
        grant=SalesforceConnection.Grant.WEB_SERVER,
        client_id=settings.SALESFORCE_CLIENT_ID,
        client_secret="",
        user=user,
    )


@sensitive_variables("client_secret", "tokens")
def connection_connect_client_credentials(
    *, organization: Organization, login_url: str, client_id: str, client_secret: str, user: User | None = None
) -> SalesforceConnection:
    """Connect headlessly with the client-credentials grant (the connected app's run-as user). The login URL must
    be an allowed host (``HostNotAllowedError``, nothing sent or saved, otherwise)."""
    login_url = hosts.login_origin(login_url)
    connection, _ = SalesforceConnection.objects.get_or_create(
        organization=organization, defaults={"login_url": login_url}
    )
    tokens = oauth.client_credentials(login_url=login_url, client_id=client_id, client_secret=client_secret)
    connection.login_url = login_url
    connection.environment = SalesforceConnection.Environment.CUSTOM
    return _store_tokens(
        connection=connection,
        tokens=tokens,
        login_url=login_url,
        grant=SalesforceConnection.Grant.CLIENT_CREDENTIALS,
        client_id=client_id,
        client_secret=client_secret,
        user=user,
    )


@sensitive_variables("tokens", "client_secret")
def _store_tokens(
    *,
    connection: SalesforceConnection,
    tokens: oauth.TokenResponse,
    login_url: str,
    grant: str,
    client_id: str,
    client_secret: str,
    user: User | None,
) -> SalesforceConnection:
    try:
        person = oauth.identity(identity_url=tokens.identity_url, access_token=tokens.access_token)
        _refuse_unconfirmed_org(connection, person.org_id)
    except (ConnectionRefused, OAuthError, SalesforceError):
        oauth.revoke(login_url=login_url, token=tokens.refresh_token or tokens.access_token)
        raise
    if connection.access_token and connection.token_login_url != login_url:
        # Replaced by tokens from another login host: the old ones are revoked at theirs, not left valid there.
        tokens_discard(connection=connection)
    with transaction.atomic():
        changed_org = bool(connection.sf_org_id) and connection.sf_org_id != person.org_id
        connection.grant = grant
        connection.client_id = client_id
        connection.client_secret = client_secret
        connection.instance_url = tokens.instance_url
        connection.sf_org_id = person.org_id
        connection.sf_user_id = person.user_id
        connection.sf_username = person.username
        connection.sf_user_email = person.email
        connection.scopes = tokens.scopes
        connection.access_token = tokens.access_token
        connection.refresh_token = tokens.refresh_token
        connection.token_login_url = login_url
        connection.token_issued_at = tokens.issued_at
        connection.token_generation += 1
        connection.connected_by = user
        connection.connected_at = timezone.now()
        connection.disconnected_at = None
        connection.allow_org_change = False
        # Signed in again: a refused sign-in is fixed; the checks that follow decide the status.
        connection.auth_refused = False
        if changed_org or connection.status == SalesforceConnection.Status.DISCONNECTED:
            connection.status = SalesforceConnection.Status.SETUP
            connection.submitted_at = None
        connection.save()
    log.info("Salesforce org %s connected to %s as %s", person.org_id, connection.organization, person.username)
    return connection


def _refuse_unconfirmed_org(connection: SalesforceConnection, org_id: str) -> None:
    if connection.sf_org_id and connection.sf_org_id != org_id and not connection.allow_org_change:
        raise ConnectionRefused(
            f"You signed in to a different Salesforce org ({org_id}) than the one this organization is connected to "
            f"({connection.sf_org_id}). Records linked to one org must never be written to another, so Rox did not "
            "switch. To switch on purpose, start the set-up again and confirm the change of org."
        )
    others = (
        SalesforceConnection.objects.filter(sf_org_id=org_id)
        .exclude(pk=connection.pk)
        .exclude(status=SalesforceConnection.Status.DISCONNECTED)
        .select_related("organization")
    )
    for other in others:
        if not (connection.allow_shared_org and other.allow_shared_org):
            raise ConnectionRefused(
                f"This Salesforce org ({org_id}) is already connected to the Rox organization “{other.organization}”. "
                "Two Rox organizations writing to one Salesforce org can overwrite each other's changes. It is only "
                "allowed when the admins of both organizations agree: each must tick “share this Salesforce org” "
                "in their set-up."
            )


def preflight_run(*, connection: SalesforceConnection, user: User | None = None) -> SyncRun:
    """Check the prerequisites now and record the run. A submitted connection becomes Connected when every
    check passes (or only warns) and Action Required, with the failing checks as the reason, otherwise."""
    report = None
    with recorded_run(connection, SyncRun.Kind.PREFLIGHT, user=user, enforce_budget=False) as run:
        added = ObjectMapping.objects.filter(
            organization=connection.organization, sync_enabled=True, rox_object__in=_added_keys(connection)
        ).prefetch_related("field_mappings")
        report = run_preflight(
            run.client,
            extra_objects=[m.sobject for m in added],
            extra_fields={m.sobject: [f.sf_field for f in m.field_mappings.all()] for m in added},
        )
        run.record.details = report.as_details()
        if not report.passed:
            run.record.outcome = SyncRun.Outcome.FAILED
        run.warnings = report.has_warnings
    connection.refresh_from_db()
    if report is not None:
        if report.org_name:
            connection.sf_org_name = report.org_name
            connection.sf_edition = report.edition
            connection.is_sandbox = report.is_sandbox
        schema.store_describes(connection, report.describes)
    connection_evaluate(connection)
    connection.save()
    return run.record


def _added_keys(connection: SalesforceConnection) -> list[str]:
    """The keys of the objects the organization added and has not removed (their access is checked too)."""
    from roxcrm.models import ObjectDefinition

    added = ObjectDefinition.objects.filter(organization=connection.organization, archived_at=None)
    return list(added.values_list("key", flat=True))


def connection_submit(*, connection: SalesforceConnection, user: User) -> SalesforceConnection:
    """Finish the wizard. Connected when the latest checks passed, Action Required (with the reason) otherwise."""
    mappings_ensure_defaults(organization=connection.organization)
    now = timezone.now()
    # Headless set-up (the command) accepts the default basic mappings; the wizard has its own step for them.
    connection.mappings_confirmed_at = connection.mappings_confirmed_at or now
    connection.submitted_at = now
    connection_evaluate(connection)
    connection.save(update_fields=["mappings_confirmed_at", "submitted_at", "status", "action_reason"])
    schedules_sync(connection)
    return connection


def connection_disconnect(*, connection: SalesforceConnection) -> bool:
    """Revoke the tokens at Salesforce and stop syncing. Data, mappings and links are kept for a reconnect.
    Returns whether Salesforce confirmed the revocation (asked of the host that issued the tokens, never another)."""
    token = connection.refresh_token or connection.access_token
    revoked = bool(token) and oauth.revoke(login_url=connection.token_login_url, token=token)
    connection.access_token = ""
    connection.refresh_token = ""
    connection.token_login_url = ""
    connection.status = SalesforceConnection.Status.DISCONNECTED
    connection.disconnected_at = timezone.now()
    connection.action_reason = ""
    connection.save()
    schedules_sync(connection)
    return revoked


def first_sync_start(*, connection: SalesforceConnection) -> None:
    """Queue the first sync (every enabled object, in full, parents first) for a worker."""
    from django_q.tasks import async_task

    mappings_ensure_defaults(organization=connection.organization)
    connection.first_sync_started_at = timezone.now()
    connection.save(update_fields=["first_sync_started_at"])
    async_task(
        "integrations.tasks.first_sync_task", connection.pk, task_name=f"first sync of {connection.organization}"
    )


def sync_now(*, connection: SalesforceConnection, sobject: str, user: User | None = None) -> None:
    """Sync now (CRM Mappings): queue one run of ``sobject`` for a worker, as a scheduled one would run."""
    from django_q.tasks import async_task

    async_task("integrations.tasks.sync_object_task", connection.pk, sobject, task_name=f"sync now of {sobject}")


def resync_estimate(connection: SalesforceConnection) -> list[dict[str, Any]]:
    """What a full resync of every enabled object costs: per object, the records Rox holds from Salesforce (what a
    full read reads again, give or take the changes since) and the API calls reading them takes (REST pages of
    2,000; a Bulk API job above the threshold: create, poll, one call per 100,000-row result page), plus a total."""
    import math

    from django.db.models import Count

    from integrations.engine.plan import object_plans
    from integrations.engine.runner import BULK_PAGE
    from integrations.models import SalesforceLink

    held = dict(
        SalesforceLink.objects.filter(organization=connection.organization, deleted_at=None)
        .values_list("sobject")
        .annotate(n=Count("id"))
        .values_list("sobject", "n")
    )
    rows = []
    for plan in object_plans(connection.organization):
        records = held.get(plan.sobject, 0)
        if records > settings.SALESFORCE_BULK_THRESHOLD:
            calls = 1 + 1 + 2 + math.ceil(records / BULK_PAGE)
        else:
            calls = max(1, math.ceil(records / 2000))
        rows.append({"sobject": plan.sobject, "records": records, "calls": calls, "known": plan.sobject in held})
    rows.append(
        {
            "sobject": "Total",
            "records": sum(r["records"] for r in rows),
            "calls": sum(r["calls"] for r in rows),
            "known": True,
        }
    )
    return rows


def resync_start(*, connection: SalesforceConnection, user: User | None = None) -> None:
    """Resync everything: every enabled object read again in full, parents first, in one task."""
    from django_q.tasks import async_task

    async_task("integrations.tasks.resync_task", connection.pk, task_name=f"full resync of {connection.organization}")


def mapping_test(*, connection: SalesforceConnection, sample: int = 20) -> list[dict[str, Any]]:
    """A dry run of every enabled object; what each sample record would become. Writes nothing to the records;
    the results are kept as a run (``SyncRun.Kind.DRY_RUN``) so the page shows them until the next test."""
    import dataclasses

    from integrations.engine.plan import object_plans
    from integrations.engine.runner import dry_run

    started = timezone.now()
    results = []
    for plan in object_plans(connection.organization):
        try:
            result = dry_run(connection, plan.sobject, sample=sample)
        except SalesforceError as exc:
            results.append({"sobject": plan.sobject, "error": str(exc), "previews": []})
            continue
        results.append({"sobject": plan.sobject, "error": result.skipped_reason, "previews": result.previews})
    failed = any(r["error"] or any(p.action == "fail" for p in r["previews"]) for r in results)
    SyncRun.objects.create(
        connection=connection,
        kind=SyncRun.Kind.DRY_RUN,
        started_at=started,
        finished_at=timezone.now(),
        outcome=SyncRun.Outcome.WARNINGS if failed else SyncRun.Outcome.SUCCEEDED,
        details={"results": [{**r, "previews": [dataclasses.asdict(p) for p in r["previews"]]} for r in results]},
    )
    return results


def latest_mapping_test(connection: SalesforceConnection) -> SyncRun | None:
    """The last test of the mapping, with its results (``details["results"]``)."""
    return SyncRun.objects.filter(connection=connection, kind=SyncRun.Kind.DRY_RUN).order_by("-started_at").first()


@dataclass
class RevertStep:
    """One record a revert changes: its values now and the ones it gets back."""

    record: Any
    values: dict[str, Any]
    custom: dict[str, Any]
    changes: list[tuple[str, Any, Any]]  # (field label, now, back to)


def writeback_revert_plan(batch: WritebackBatch) -> list[RevertStep]:
    """What undoing ``batch`` would change, without changing it: for each record it updated (not those it created,
    nor lookups and owners, which the writeback resolved), the fields whose value in Rox differs from the one the
    batch replaced in Salesforce. Empty when Rox holds those values already."""
    from integrations.engine.plan import build_plan
    from integrations.engine.values import CANONICAL, python_value
    from mappings.models import ObjectMapping

    object_mapping = ObjectMapping.objects.filter(
        organization=batch.connection.organization, sobject=batch.sobject
    ).first()
    plan = build_plan(object_mapping) if object_mapping else None
    if plan is None:
        return []
    fields = {fp.sf_field: fp for fp in plan.fields}
    steps = []
    for item in batch.records:
        if item.get("created"):
            continue
        record = plan.model.objects.filter(pk=item["record_id"]).first()
        if record is None:
            continue
        step = RevertStep(record, {}, {}, [])
        for sf_field, before in item["before"].items():
            fp = fields.get(sf_field)
            if fp is None or fp.kind in ("reference", "owner", "managed"):
                continue
            if fp.definition is not None:
                now = (record.custom_values or {}).get(fp.definition.api_name)
                if CANONICAL.get(fp.kind, CANONICAL["text"])(now) == before:
                    continue
                step.custom[fp.definition.api_name] = before
                step.changes.append((fp.definition.label, now, before))
            elif fp.model_field is not None:
                now = getattr(record, fp.model_field.attname)
                if CANONICAL[fp.kind](now) == before:
                    continue
                step.values[fp.model_field.name] = python_value(fp.model_field, before)
                step.changes.append((str(fp.model_field.verbose_name).capitalize(), now, before))
        if step.changes:
            steps.append(step)
    return steps


def writeback_revert(*, batch: WritebackBatch, user: User) -> int:
    """Undo a writeback: the values the batch replaced go back on the Rox records, as a new change made by this
    admin, so they are written back like any other (the outbox shows them until Salesforce has them). Records the
    batch created are left alone. Returns how many records changed; a batch whose values are back already is not
    marked reverted."""
    from roxcrm.services import Actor, record_update

    if batch.reverted_at is not None:
        return 0
    actor = Actor(kind="user", user=user, label=f"{user.email} (undo of a writeback)")
    changed = 0
    for step in writeback_revert_plan(batch):
        result = record_update(record=step.record, values=step.values, custom_values=step.custom, actor=actor)
        changed += bool(result.changed)
    if changed:
        batch.reverted_at = timezone.now()
        batch.reverted_by = user
        batch.save(update_fields=["reverted_at", "reverted_by"])
    return changed


def outbox_retry(*, entry: OutboxEntry) -> None:
    """After a fix (in Salesforce or in Rox), try a failed row again now; its error stays shown until written."""
    outbox.retry(entry)


def outbox_discard(*, entry: OutboxEntry) -> None:
    """Give up on a row: the Rox change stays in Rox, Salesforce keeps its value."""
    outbox.discard(entry)


def outbox_resolve_review(*, entry: OutboxEntry, choice: str) -> None:
    """An admin's decision for a new record that matched several Salesforce records: link it to one of them
    (``choice`` is its Id), or create a new one (``choice`` is ``"new"``)."""
    outbox.resolve_review(entry, choice)
