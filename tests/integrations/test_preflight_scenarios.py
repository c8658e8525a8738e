"""Every sfsim scenario gives exactly the failing checks its name says, each with a fix; `ready` passes all."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from integrations.models import SalesforceConnection
from integrations.services import preflight_run
from roxcrm.models import Organization
from tests.integrations.conftest import connect

# scenario -> (failing check keys, warning check keys, a phrase of the fix shown for the first failure)
EXPECTED: dict[str, tuple[set[str], set[str], str]] = {
    "ready": (set(), set(), ""),
    "fresh": ({"package", "activity_id_task", "activity_id_event"}, set(), "Install the Rox package"),
    "integration-license": (set(), {"profile"}, ""),
    "professional-no-api": ({"edition"}, set(), "Professional Edition with the API add-on"),
    "standard-user": ({"profile"}, set(), "set the integration user's profile to System Administrator"),
    "api-disabled": ({"api"}, set(), "tick “API Enabled”"),
    "missing-edit-opportunity": ({"object_Opportunity"}, set(), "Grant Read and Edit on Opportunity"),
    "short-activity-id": ({"activity_id_task", "activity_id_event"}, set(), "set the length to 100"),
}


@pytest.fixture
def connected(org: Organization, admin_client: Client, ready_org: Any) -> SalesforceConnection:
    return connect(admin_client, org, ready_org)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_scenario_gives_the_expected_checks(scenario: str, connected: SalesforceConnection, sfsim: Any) -> None:
    sfsim.reset(seed="empty", scenario=scenario)
    run = preflight_run(connection=connected)
    checks = run.details["checks"]
    failing = {c["key"] for c in checks if c["status"] == "fail"}
    warning = {c["key"] for c in checks if c["status"] == "warn"}
    expected_fail, expected_warn, fix = EXPECTED[scenario]
    assert failing == expected_fail, checks
    assert warning == expected_warn, checks
    for check in checks:
        assert check["found"], check
        if check["status"] in ("fail", "warn"):
            assert check["fix"], check
    if fix:
        assert any(fix in c["fix"] for c in checks if c["key"] in expected_fail), checks
    assert run.outcome == ("failed" if expected_fail else "warnings" if expected_warn else "succeeded")


def test_checks_use_few_api_calls(connected: SalesforceConnection, sfsim: Any) -> None:
    sfsim.reset(seed="empty", scenario="ready")
    sfsim.control("POST", "stats/reset")
    run = preflight_run(connection=connected)
    assert run.api_calls == 2
    stats = sfsim.control("GET", "stats")
    assert stats["api_usage"] == 2
    sfsim.reset(seed="empty", scenario="fresh")
    assert preflight_run(connection=connected).api_calls == 3  # + the Tooling query for the package


def test_without_the_package_writeback_explains_why(connected: SalesforceConnection, sfsim: Any) -> None:
    sfsim.reset(seed="empty", scenario="fresh")
    run = preflight_run(connection=connected)
    package = next(c for c in run.details["checks"] if c["key"] == "package")
    assert "Rox can still read; writing back to Salesforce stays off" in package["found"]
    assert run.details["package_installed"] is False
