"""Settings → Integrations, the Salesforce page, and the connection wizard (one URL per step)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from integrations import health, services, setup_org
from integrations.forms import ApiShareForm, StartForm
from integrations.models import SalesforceConnection, SyncRun
from integrations.salesforce import oauth
from integrations.salesforce.errors import OAuthError, SalesforceError
from integrations.salesforce.hosts import HostNotAllowedError
from integrations.status import card_status, failing_checks
from mappings import services as mapping_services
from mappings.forms import salesforce_field_choices
from mappings.metadata import rox_fields, salesforce_object
from mappings.validation import field_status
from roxcrm.models import Membership
from roxcrm.tenancy import member_required, org_admin_required

OAUTH_SESSION_KEY = "salesforce_oauth"
OAUTH_MAX_AGE_SECONDS = 15 * 60


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    url_name: str


WIZARD = (
    Step("start", "Before you start", "salesforce_setup_start"),
    Step("sign_in", "Sign in to Salesforce", "salesforce_setup_sign_in"),
    Step("checks", "Prerequisites", "salesforce_setup_checks"),
    Step("first_sync", "First sync", "salesforce_setup_first_sync"),
    Step("mappings", "Basic field mappings", "salesforce_setup_mappings"),
    Step("test", "Test the mapping", "salesforce_setup_test"),
    Step("submit", "Submit", "salesforce_setup_submit"),
)


def _connection(request: HttpRequest) -> SalesforceConnection | None:
    return SalesforceConnection.objects.filter(organization=request.org).first()  # type: ignore[attr-defined]


def _wizard_context(request: HttpRequest, current: str, connection: SalesforceConnection | None) -> dict:
    reached = {"start"}
    if connection and connection.login_url:
        reached.add("sign_in")
    if connection and connection.is_signed_in:
        reached |= {"checks"}
        if connection.latest_preflight():
            reached |= {"first_sync", "mappings"}
            if connection.mappings_confirmed_at:
                reached |= {"test", "submit"}
    steps = [
        {"step": s, "number": i, "current": s.key == current, "reached": s.key in reached}
        for i, s in enumerate(WIZARD, start=1)
    ]
    return {"steps": steps, "connection": connection, "tab": "integrations"}


def resume_step(connection: SalesforceConnection | None) -> str:
    """Where Continue set-up takes the admin: the first step not done yet (step 1 only when nothing is)."""
    if connection is None or not connection.login_url:
        return "salesforce_setup_start"
    if not connection.is_signed_in:
        return "salesforce_setup_sign_in"
    if connection.latest_preflight() is None:
        return "salesforce_setup_checks"
    if not connection.first_sync_started_at:
        return "salesforce_setup_checks" if _checks_failing(connection) else "salesforce_setup_first_sync"
    if not connection.mappings_confirmed_at:
        return "salesforce_setup_mappings"
    return "salesforce_setup_submit"


def _checks_failing(connection: SalesforceConnection) -> bool:
    run = connection.latest_preflight()
    return run is not None and bool(failing_checks(run.details or {}))


@org_admin_required
def setup_resume(request: HttpRequest) -> HttpResponse:
    """Continue set-up: on from where the admin left the wizard."""
    return redirect(resume_step(_connection(request)), request.org.slug)


@member_required
def integrations_index(request: HttpRequest) -> HttpResponse:
    connection = _connection(request)
    return render(request, "integrations/index.html", {"card": card_status(connection), "tab": "integrations"})


@org_admin_required
def salesforce_overview(request: HttpRequest) -> HttpResponse:
    connection = _connection(request)
    if connection is None or (
        connection.status == SalesforceConnection.Status.DISCONNECTED and not connection.sf_org_id
    ):
        return redirect("salesforce_setup_start", request.org.slug)
    share_form = ApiShareForm(request.POST or None, instance=connection)
    if request.method == "POST" and share_form.is_valid():
        connection.api_share_percent = share_form.cleaned_data["api_share_percent"]
        connection.save(update_fields=["api_share_percent"])
        messages.success(request, f"Rox may now use {connection.api_share_percent}% of the org's daily API requests.")
        return redirect("salesforce_overview", request.org.slug)
    return render(
        request,
        "integrations/salesforce_overview.html",
        {
            "connection": connection,
            "card": card_status(connection),
            "share_form": share_form,
            "tab": "integrations",
            **_checks_context(connection),
        },
    )


@org_admin_required
def setup_start(request: HttpRequest) -> HttpResponse:
    connection = _connection(request)
    initial = {}
    if connection:
        initial = {
            "environment": connection.environment,
            "login_url": connection.login_url,
            "expected_edition": connection.expected_edition,
            "expected_username": connection.expected_username or connection.sf_username,
            "allow_shared_org": connection.allow_shared_org,
        }
    form = StartForm(request.POST or None, initial=initial or None, connection=connection)
    if request.method == "POST" and form.is_valid():
        signed_in = bool(connection and connection.is_signed_in)
        connection = services.connection_prepare(
            organization=request.org,
            environment=form.cleaned_data["environment"],
            login_url=form.cleaned_data.get("login_url") or "",
            expected_edition=form.cleaned_data["expected_edition"],
            expected_username=form.cleaned_data["expected_username"],
            allow_org_change=form.cleaned_data.get("allow_org_change", False),
            allow_shared_org=form.cleaned_data.get("allow_shared_org", False),
        )
        if signed_in and not connection.is_signed_in:
            messages.warning(
                request,
                "The Salesforce login URL changed, so Rox revoked its sign-in to the previous one. Sign in again to "
                "resume syncing; nothing waiting is lost.",
            )
        return redirect("salesforce_setup_sign_in", request.org.slug)
    return render(
        request, "integrations/setup_start.html", {"form": form, **_wizard_context(request, "start", connection)}
    )


@org_admin_required
def setup_sign_in(request: HttpRequest) -> HttpResponse:
    connection = _connection(request)
    if connection is None or not connection.login_url:
        return redirect("salesforce_setup_start", request.org.slug)
    if request.method == "POST":
        if not settings.SALESFORCE_CLIENT_ID:
            messages.error(request, "SALESFORCE_CLIENT_ID is not configured on this Rox server; ask its operator.")
            return redirect("salesforce_setup_sign_in", request.org.slug)
        state, verifier = oauth.new_state(), oauth.new_code_verifier()
        redirect_uri = request.build_absolute_uri(reverse("salesforce_callback"))
        try:
            target = oauth.authorize_url(
                login_url=connection.login_url,
                client_id=settings.SALESFORCE_CLIENT_ID,
                redirect_uri=redirect_uri,
                state=state,
                verifier=verifier,
                login_hint=connection.expected_username,
            )
        except HostNotAllowedError as exc:
            messages.error(request, exc.message)
            return redirect("salesforce_setup_start", request.org.slug)
        # The login URL is remembered with the state: the code is redeemed there, and nowhere else.
        request.session[OAUTH_SESSION_KEY] = {
            "state": state,
            "verifier": verifier,
            "org": request.org.slug,
            "redirect_uri": redirect_uri,
            "login_url": connection.login_url,
            "started": time.time(),
        }
        return redirect(target)
    return render(request, "integrations/setup_sign_in.html", _wizard_context(request, "sign_in", connection))


@login_required
@sensitive_variables()
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """Where Salesforce sends the admin back. The organization comes from the signed state in the session, which
    is used once: a tampered, replayed or expired state is refused."""
    pending = request.session.pop(OAUTH_SESSION_KEY, None)
    state = request.GET.get("state", "")
    if not pending or not state or not secrets.compare_digest(str(pending.get("state", "")), state):
        messages.error(
            request,
            "That Salesforce sign-in could not be matched to one you started (or it was already "
            "used). Please start it again.",
        )
        return redirect("home")
    membership = get_object_or_404(
        Membership.objects.select_related("organization"), organization__slug=pending["org"], user=request.user
    )
    slug = membership.organization.slug
    if not membership.is_admin:
        messages.error(request, "Only organization admins can connect Salesforce.")
        return redirect("integrations", slug)
    if time.time() - pending.get("started", 0) > OAUTH_MAX_AGE_SECONDS:
        messages.error(request, "The Salesforce sign-in took too long and expired. Please start it again.")
        return redirect("salesforce_setup_sign_in", slug)
    if request.GET.get("error"):
        description = request.GET.get("error_description") or request.GET["error"]
        messages.warning(request, f"Salesforce sign-in was cancelled or denied ({description}). Nothing was changed.")
        return redirect("salesforce_setup_sign_in", slug)
    code, verifier = request.GET.get("code"), pending.get("verifier")
    if not code:
        messages.error(request, "Salesforce did not send back a sign-in code. Please start again.")
        return redirect("salesforce_setup_sign_in", slug)
    if not verifier:
        messages.error(
            request, "This sign-in cannot be completed securely (its PKCE verifier is missing). Please start again."
        )
        return redirect("salesforce_setup_sign_in", slug)
    connection = get_object_or_404(SalesforceConnection, organization=membership.organization)
    try:
        connection = services.oauth_complete(
            connection=connection,
            login_url=pending.get("login_url", ""),
            code=code,
            verifier=verifier,
            redirect_uri=pending["redirect_uri"],
            user=request.user,
        )
    except services.ConnectionRefused as exc:
        messages.error(request, str(exc))
        return redirect("salesforce_setup_start", slug)
    except (OAuthError, SalesforceError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("salesforce_setup_sign_in", slug)
    messages.success(request, f"Signed in to Salesforce as {connection.sf_username}.")
    services.preflight_run(connection=connection, user=request.user)
    if connection.submitted_at:
        return redirect("salesforce_overview", slug)
    return redirect("salesforce_setup_checks", slug)


@org_admin_required
def setup_checks(request: HttpRequest) -> HttpResponse:
    connection = _connection(request)
    if connection is None or not connection.is_signed_in:
        return redirect("salesforce_setup_sign_in", request.org.slug)
    return render(
        request,
        "integrations/setup_checks.html",
        {**_checks_context(connection), **_wizard_context(request, "checks", connection)},
    )


def _checks_context(connection: SalesforceConnection) -> dict[str, Any]:
    """The prerequisite checks as the pages show them: failed ones first; what Set up Salesforce for me would fix;
    the set-up running or last run; the manual steps; and the primary action (the fix of the first failure)."""
    run = connection.latest_preflight()
    checks = list((run.details or {}).get("checks", [])) if run else []
    order = {"fail": 0, "warn": 1}
    checks.sort(key=lambda c: order.get(c["status"], 2))
    added = sorted(setup_org.added_access(connection))
    fixes = setup_org.fixable(run.details if run else None, added)
    running = setup_org.setup_running(connection)
    last = running or setup_org.latest_setup(connection)
    if last is not None and last is not running and run is not None:
        # A set-up is news while the checks shown are its own re-check, or when it failed after them; a later
        # Re-check (that fails again, say) is not to be shown beside an old "set up" (Sync health lists it).
        own = last.details.get("checks_run") == run.pk
        failed = last.outcome == SyncRun.Outcome.FAILED
        failed_since = failed and last.finished_at is not None and last.finished_at >= run.started_at
        if not (own or failed_since):
            last = None
    sign_in_failed = connection.auth_refused or not connection.access_token
    failing = [c for c in checks if c["status"] == "fail"]
    if sign_in_failed:
        primary = "reconnect"
    elif running:
        primary = "wait"
    elif failing and failing[0]["title"] in fixes:
        primary = "setup"
    elif failing or run is None:
        primary = "recheck"
    else:
        primary = "continue"  # every check passes: on with the set-up
    return {
        "run": run,
        "checks": checks,
        "mismatches": step_one_mismatches(connection),
        "setup_fixes": fixes,
        "setup_run": last,
        "setup_running": running is not None,
        "setup_added": added,
        "manual_steps": setup_org.manual_steps(connection),
        "package_install_url": settings.SALESFORCE_PACKAGE_INSTALL_URL,
        "primary": primary,
    }


def step_one_mismatches(connection: SalesforceConnection) -> list[str]:
    """What the sign-in found that differs from what the admin confirmed in step 1 (the user, the edition)."""
    found = []
    expected, actual = connection.expected_username.strip().lower(), (connection.sf_username or "").lower()
    if expected and actual and expected != actual:
        found.append(
            f"In step 1 you confirmed {connection.expected_username} as the integration user, but Rox is signed in "
            f"as {connection.sf_username}: Rox acts in Salesforce as the signed-in user. Sign in again as "
            f"{connection.expected_username}, or change step 1 if {connection.sf_username} is the right user."
        )
    if connection.expected_edition and connection.sf_edition and connection.expected_edition != connection.sf_edition:
        found.append(
            f"In step 1 you chose {connection.expected_edition}; the org says it is {connection.sf_edition}. The "
            "checks below use what the org says."
        )
    return found


@require_POST
@org_admin_required
def setup_salesforce(request: HttpRequest) -> HttpResponse:
    """Set up Salesforce for me: with the admin's consent (this click), deploy the Rox package, assign its
    permission set and re-check, in the background; the checks show its progress and result."""
    connection = get_object_or_404(SalesforceConnection, organization=request.org)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("salesforce_setup_checks", args=[request.org.slug])
    if not connection.is_signed_in or connection.auth_refused:
        messages.error(request, "Sign in to Salesforce first: Rox sets Salesforce up as the signed-in user.")
        return redirect("salesforce_setup_sign_in", request.org.slug)
    if setup_org.setup_running(connection):
        messages.info(request, "Salesforce is being set up already; this page shows its progress.")
        return redirect(target)
    setup_org.setup_start(
        connection=connection, user=request.user, grant_objects=request.POST.get("grant_objects") == "on"
    )
    run = setup_org.latest_setup(connection)
    if run is not None and run.outcome == SyncRun.Outcome.SUCCEEDED and run.details.get("checks_passed"):
        messages.success(request, "Salesforce is set up: every prerequisite is met.")
    elif run is not None and run.outcome == SyncRun.Outcome.FAILED:
        messages.error(request, f"Salesforce could not be set up: {run.error}")
    elif run is not None and run.outcome == SyncRun.Outcome.SUCCEEDED:
        messages.warning(request, "Salesforce is set up; some prerequisites still fail, each with its fix.")
    else:
        messages.info(request, "Setting up Salesforce: this page shows the progress.")
    return redirect(target)


@require_POST
@org_admin_required
def recheck(request: HttpRequest) -> HttpResponse:
    connection = get_object_or_404(SalesforceConnection, organization=request.org)
    if not connection.is_signed_in:
        messages.error(request, "Sign in to Salesforce first.")
        return redirect("salesforce_setup_sign_in", request.org.slug)
    run = services.preflight_run(connection=connection, user=request.user)
    if run.outcome == SyncRun.Outcome.FAILED and not run.details.get("checks"):
        messages.error(request, f"The checks could not run: {run.error}")
    elif run.outcome == SyncRun.Outcome.FAILED:
        messages.warning(request, "Some prerequisites are not met yet; each shows its fix.")
    else:
        messages.success(request, "Every prerequisite is met.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("salesforce_setup_checks", args=[request.org.slug])
    return redirect(target)


@org_admin_required
def setup_first_sync(request: HttpRequest) -> HttpResponse:
    """Start the first sync in the background and watch it: per object, records read so far, rate and time left.
    The page may be left; the sync carries on."""
    connection = _connection(request)
    if connection is None or not connection.is_signed_in:
        return redirect("salesforce_setup_sign_in", request.org.slug)
    if connection.latest_preflight() is None:
        return redirect("salesforce_setup_checks", request.org.slug)
    if request.method == "POST":
        services.first_sync_start(connection=connection)
        messages.success(request, "The first sync has started. You can continue while it runs.")
        return redirect("salesforce_setup_first_sync", request.org.slug)
    progress = (
        health.sync_progress(connection, since=connection.first_sync_started_at)
        if connection.first_sync_started_at
        else []
    )
    running = any(row["running"] for row in progress)
    summary = None
    if progress and not running:
        runs = SyncRun.objects.filter(
            connection=connection, kind=SyncRun.Kind.INBOUND, started_at__gte=connection.first_sync_started_at
        )
        first, last = runs.order_by("started_at").first(), runs.order_by("-finished_at").first()
        summary = {
            "records": sum(row["fetched"] for row in progress),
            "created": sum((row.get("counts") or {}).get("created", 0) for row in progress),
            "failed": sum((row.get("counts") or {}).get("failed", 0) for row in progress),
            "objects_failed": [row["sobject"] for row in progress if row["state"] == "Failed"],
            "seconds": (last.finished_at - first.started_at).total_seconds()
            if first and last and last.finished_at
            else None,
        }
    return render(
        request,
        "integrations/setup_first_sync.html",
        {
            "progress": progress,
            "running": running,
            "summary": summary,
            **_wizard_context(request, "first_sync", connection),
        },
    )


@org_admin_required
def setup_test(request: HttpRequest) -> HttpResponse:
    """Test the mapping: a dry run on 20 records per enabled object, each Salesforce value beside the Rox value it
    would become, and every record that would fail and why. Nothing is written."""
    connection = _connection(request)
    if connection is None or connection.mappings_confirmed_at is None:
        return redirect("salesforce_setup_mappings", request.org.slug)
    if request.method == "POST":
        services.mapping_test(connection=connection)
        return redirect("salesforce_setup_test", request.org.slug)
    tested = services.latest_mapping_test(connection)
    results = tested.details.get("results") if tested else None
    for result in results or []:
        for preview in result["previews"]:
            current = preview.get("current") or {}
            preview["rows"] = [(f, sf_value, current.get(f), new) for f, sf_value, new in preview["fields"]]
    return render(
        request,
        "integrations/setup_test.html",
        {"tested": tested, "results": results, **_wizard_context(request, "test", connection)},
    )


@org_admin_required
def setup_mappings(request: HttpRequest) -> HttpResponse:
    """Each object's basic fields, prefilled with the defaults and validated against the org; the Salesforce side
    of each can be re-pointed before Submit. Custom field mappings come after set-up, on CRM Mappings."""
    connection = _connection(request)
    if connection is None or not connection.is_signed_in:
        return redirect("salesforce_setup_sign_in", request.org.slug)
    object_mappings = mapping_services.mappings_ensure_defaults(organization=request.org)
    rows = [
        (om, salesforce_object(request.org, om.sobject), list(om.field_mappings.filter(is_basic=True)))
        for om in object_mappings
    ]
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        changed = []
        for _, _, basic in rows:
            for mapping in basic:
                chosen = request.POST.get(f"row-{mapping.code}", mapping.sf_field)
                if chosen == mapping.sf_field:
                    # A default the org cannot serve (say, no RoxActivityId field yet) is not the admin's choice:
                    # it shows as Broken and the connection as Action Required until Salesforce is fixed.
                    continue
                mapping.sf_field = chosen
                try:
                    mapping.full_clean()
                except ValidationError as exc:
                    errors[str(mapping.code)] = exc.messages
                changed.append(mapping)
        if not errors:
            with transaction.atomic():
                for mapping in changed:
                    mapping_services.field_mapping_save(mapping=mapping, user=request.user)
                connection.mappings_confirmed_at = timezone.now()
                services.connection_evaluate(connection)
                connection.save(update_fields=["mappings_confirmed_at", "status", "action_reason"])
            messages.success(request, "Basic field mappings confirmed. You can add custom field mappings after set-up.")
            return redirect("salesforce_setup_test", request.org.slug)
    sections = []
    for om, sf_object, basic in rows:
        fields = rox_fields(request.org, om.rox_object)
        sections.append(
            {
                "om": om,
                "known": sf_object is not None,
                "rows": [
                    {
                        "mapping": m,
                        "rox": fields.get(m.rox_field),
                        "choices": salesforce_field_choices(sf_object, m.sf_field),
                        "errors": errors.get(str(m.code), []),
                        "status": field_status(m, sf_object, fields),
                    }
                    for m in basic
                ],
            }
        )
    return render(
        request,
        "integrations/setup_mappings.html",
        {"sections": sections, "has_errors": bool(errors), **_wizard_context(request, "mappings", connection)},
        status=400 if errors else 200,
    )


@org_admin_required
def setup_submit(request: HttpRequest) -> HttpResponse:
    connection = _connection(request)
    if connection is None or not connection.is_signed_in:
        return redirect("salesforce_setup_sign_in", request.org.slug)
    run = connection.latest_preflight()
    if run is None:
        return redirect("salesforce_setup_checks", request.org.slug)
    if connection.mappings_confirmed_at is None:
        return redirect("salesforce_setup_mappings", request.org.slug)
    if request.method == "POST":
        connection = services.connection_submit(connection=connection, user=request.user)
        if connection.status == SalesforceConnection.Status.CONNECTED:
            messages.success(request, "Salesforce is connected.")
        else:
            messages.warning(request, f"Set-up saved, but action is required: {connection.action_reason}")
        return redirect("salesforce_overview", request.org.slug)
    return render(
        request,
        "integrations/setup_submit.html",
        {
            "run": run,
            "failures": failing_checks(run.details),
            **_wizard_context(request, "submit", connection),
        },
    )


@org_admin_required
def disconnect(request: HttpRequest) -> HttpResponse:
    connection = get_object_or_404(SalesforceConnection, organization=request.org)
    if request.method == "POST":
        revoked = services.connection_disconnect(connection=connection)
        note = "" if revoked else " Salesforce could not confirm the revocation; you can also revoke it in Salesforce."
        messages.success(request, f"Salesforce is disconnected. Your data and mappings are kept.{note}")
        return redirect("integrations", request.org.slug)
    return render(request, "integrations/disconnect.html", {"connection": connection, "tab": "integrations"})


@member_required
def sync_health(request: HttpRequest) -> HttpResponse:
    """Per object: status, last and next run, counts, API calls; the jobs whose latest run failed, and record
    errors by code with Retry; conflicts; the budget; a 7-day chart; the recent runs, each failed one with its
    reason. Members see it; admins can retry."""
    connection = _connection(request)
    if connection is None or not connection.sf_org_id:
        messages.info(request, "Connect Salesforce to see how the sync is doing.")
        return redirect("integrations", request.org.slug)
    return render(
        request,
        "integrations/sync_health.html",
        {
            "connection": connection,
            "card": card_status(connection),
            "objects": health.object_health(connection),
            "error_groups": health.error_groups(connection),
            "failed_runs": health.failed_runs(connection),
            "conflicts": health.recent_conflicts(connection),
            "runs": health.last_runs(connection),
            "chart": health.chart(connection),
            "outbox": health.outbox_summary(connection),
            "attention": health.outbox_attention(connection),
            "batches": health.recent_batches(connection),
            "tab": "integrations",
        },
    )


@require_POST
@org_admin_required
def sync_retry(request: HttpRequest) -> HttpResponse:
    """Retry the records with open errors of one code (or one error), reading them from Salesforce again."""
    from integrations.engine.runner import retry_records
    from integrations.models import SyncError

    connection = get_object_or_404(SalesforceConnection, organization=request.org)
    errors = SyncError.objects.filter(organization=request.org, resolved_at=None, direction="inbound")
    if request.POST.get("error"):
        error_id = _posted_id(request, "error")
        if error_id is None:
            messages.error(request, "There is no such sync error; nothing was retried.")
            return redirect("sync_health", request.org.slug)
        errors = errors.filter(pk=error_id)
    else:
        code = request.POST.get("code", "")
        # No error code holds NUL, and PostgreSQL cannot even compare one.
        errors = errors.filter(code=code) if "\x00" not in code else errors.none()
    by_object: dict[str, list[str]] = {}
    for sobject, sf_id in errors.values_list("sobject", "sf_id"):
        by_object.setdefault(sobject, []).append(sf_id)
    if not by_object:
        messages.info(request, "Nothing to retry.")
        return redirect("sync_health", request.org.slug)
    try:
        still = sum(retry_records(connection, sobject, ids) for sobject, ids in by_object.items())
    except SalesforceError as exc:
        messages.error(request, f"Salesforce could not be read: {exc}")
        return redirect("sync_health", request.org.slug)
    total = sum(len(ids) for ids in by_object.values())
    if still:
        messages.warning(request, f"Retried {total} record(s); {still} still fail (see below).")
    else:
        messages.success(request, f"Retried {total} record(s); all synced.")
    return redirect("sync_health", request.org.slug)


@require_POST
@org_admin_required
def outbox_action(request: HttpRequest) -> HttpResponse:
    """Retry or discard a failed writeback; link a new record to one of its matches, or create it anyway."""
    from integrations.models import OutboxEntry

    entry_id = _posted_id(request, "entry")
    entry = OutboxEntry.objects.filter(organization=request.org, pk=entry_id).first() if entry_id else None
    if entry is None:
        messages.error(request, "There is no such writeback; nothing was changed.")
        return redirect(f"{reverse('sync_health', args=[request.org.slug])}#outbox")
    action = request.POST.get("action", "")
    if action == "retry" and entry.state == OutboxEntry.State.FAILED:
        services.outbox_retry(entry=entry)
        messages.success(request, "It will be written again shortly.")
    elif action == "discard" and entry.state in (OutboxEntry.State.FAILED, OutboxEntry.State.REVIEW):
        services.outbox_discard(entry=entry)
        messages.success(request, "Discarded: the change stays in Rox and is not written to Salesforce.")
    elif action == "choose" and entry.state == OutboxEntry.State.REVIEW:
        try:
            services.outbox_resolve_review(entry=entry, choice=request.POST.get("choice", ""))
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Done.")
    else:
        messages.error(request, "That is no longer possible; nothing was changed.")
    return redirect(f"{reverse('sync_health', args=[request.org.slug])}#outbox")


@org_admin_required
def writeback_undo(request: HttpRequest) -> HttpResponse:
    """Revert a writeback: a confirmation listing each record and field that gets its earlier value back (GET),
    then the change (POST), written to Salesforce like any other."""
    from integrations.models import WritebackBatch

    source = request.POST if request.method == "POST" else request.GET
    batch_id = _id_of(source.get("batch", ""))
    batches = WritebackBatch.objects.filter(connection__organization=request.org, pk=batch_id)
    batch = batches.first() if batch_id else None
    back = f"{reverse('sync_health', args=[request.org.slug])}#batches"
    if batch is None:
        messages.error(request, "There is no such writeback; nothing was reverted.")
        return redirect(back)
    if batch.reverted_at is not None:
        messages.info(request, "That writeback was reverted already; nothing was changed.")
        return redirect(back)
    steps = services.writeback_revert_plan(batch)
    if request.method == "POST" and request.POST.get("confirm") == "on":
        if not steps:
            messages.info(request, "Nothing to revert: the records hold those values already.")
            return redirect(back)
        changed = services.writeback_revert(batch=batch, user=request.user)
        messages.success(
            request,
            f"Reverted in Rox: {changed} record(s) have their earlier values back. They are written to Salesforce "
            "like any change; the outbox below shows them until Salesforce has them.",
        )
        return redirect(back)
    return render(
        request, "integrations/writeback_revert.html", {"batch": batch, "steps": steps, "tab": "integrations"}
    )


def _posted_id(request: HttpRequest, name: str) -> int | None:
    """The database id posted as ``name``; ``None`` when it is missing or could name no row (not a number, or
    beyond what the database holds), so the action says so instead of failing on the lookup."""
    return _id_of(request.POST.get(name, ""))


def _id_of(text: str) -> int | None:
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)
