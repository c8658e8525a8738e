"""Where a connection stands: its status and the reason the admin must act (``connection_evaluate``), and the
Integrations card that shows it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from integrations import schema
from integrations.models import SalesforceConnection
from integrations.salesforce.client import AUTH_REFUSED_REASON
from integrations.salesforce.preflight import FAIL

SIGN_IN_AGAIN_REASON = (
    "Rox is not signed in to Salesforce (the login URL changed, so its sign-in was discarded). Sign in again to "
    "resume; nothing waiting is lost."
)


@dataclass(frozen=True)
class CardStatus:
    label: str
    tone: str  # badge colour: ok, warn, bad, accent, "" (neutral)
    button: str
    url_name: str
    reason: str = ""
    last_sync_at: dt.datetime | None = None


def card_status(connection: SalesforceConnection | None) -> CardStatus:
    """Connect, Set-up in progress, Connected (with the last sync) or Action Required (with the reason: failed
    checks, revoked token, or the API budget used up)."""
    Status = SalesforceConnection.Status
    if connection is None or connection.status == Status.DISCONNECTED:
        return CardStatus("Not connected", "", "Connect", "salesforce_setup_start")
    if connection.status == Status.ACTION_REQUIRED:
        return CardStatus(
            "Action Required", "bad", "Action Required", "salesforce_overview", reason=connection.action_reason
        )
    budget = connection.api_budget
    if connection.status == Status.CONNECTED and budget is not None and (connection.api_used or 0) >= budget:
        return CardStatus(
            "Action Required",
            "bad",
            "Action Required",
            "salesforce_overview",
            reason=(
                f"Rox has used its share of the org's daily API requests ({connection.api_used:,} of "
                f"{connection.api_max:,} used; Rox may use {connection.api_share_percent}%). Sync pauses until "
                "requests free up, or raise Rox's share."
            ),
        )
    if connection.status == Status.SETUP:
        return CardStatus("Set-up in progress", "warn", "Continue set-up", "salesforce_setup_resume")
    return CardStatus("Connected", "ok", "Manage", "salesforce_overview", last_sync_at=connection.last_sync_at)


def connection_evaluate(connection: SalesforceConnection) -> None:
    """Set a submitted connection's status from everything that can need the admin: a refused sign-in, failing
    prerequisite checks, and mappings that the org's schema broke. Connected when none applies. Does not save."""
    reasons = []
    if connection.auth_refused:
        reasons.append(AUTH_REFUSED_REASON)
    elif not connection.access_token:
        reasons.append(SIGN_IN_AGAIN_REASON)
    run = connection.latest_preflight()
    if run is None:
        reasons.append("The prerequisite checks have not run.")
    elif not run.details.get("checks"):
        reasons.append(f"The prerequisite checks could not run: {run.error}")
    elif failures := failing_checks(run.details):
        reasons.append("Prerequisite checks failed: " + "; ".join(failures) + ".")
    broken = schema.broken_mappings(connection.organization)
    if broken:
        reasons.append("Mappings broken by changes in Salesforce (other fields keep syncing): " + "; ".join(broken))
    connection.action_reason = " ".join(reasons)
    if connection.submitted_at and connection.status != SalesforceConnection.Status.DISCONNECTED:
        connection.status = (
            SalesforceConnection.Status.ACTION_REQUIRED if reasons else SalesforceConnection.Status.CONNECTED
        )


def failing_checks(details: dict[str, Any]) -> list[str]:
    return [check["title"] for check in details.get("checks", []) if check["status"] == FAIL]
