"""Where a connection stands, as the Integrations card shows it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from integrations.models import SalesforceConnection


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
        return CardStatus("Set-up in progress", "warn", "Continue set-up", "salesforce_setup_start")
    return CardStatus("Connected", "ok", "Manage", "salesforce_overview", last_sync_at=connection.last_sync_at)
