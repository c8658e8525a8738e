"""The Sync health actions (retry, outbox, undo) answer a malformed or unknown id with a message, not an error."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from integrations.models import OutboxEntry, SalesforceConnection, SyncError, WritebackBatch
from roxcrm.models import Organization

BAD_IDS = ["abc", "1.5", "-1", "99999999999999999999", "1" * 5000, "\x00", "ü"]


@pytest.fixture
def failed_entry(org: Organization) -> OutboxEntry:
    """A connection row (no Salesforce call is needed to refuse an id) and a failed writeback waiting on it."""
    SalesforceConnection.objects.create(organization=org, login_url="https://login.salesforce.com")
    return OutboxEntry.objects.create(
        organization=org,
        sobject="Account",
        rox_object="account",
        record_id=1,
        state=OutboxEntry.State.FAILED,
        error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
        error_message="Rejected by a validation rule",
    )


def _post(client: Client, name: str, data: dict[str, str]) -> tuple[int, str, list[str]]:
    response = client.post(reverse(name, args=["acme"]), data)
    return response.status_code, response.get("Location", ""), [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_an_outbox_action_on_a_malformed_entry_changes_nothing_and_says_so(
    admin_client: Client, failed_entry: OutboxEntry, bad: str
) -> None:
    for action in ("retry", "discard", "choose"):
        status, location, shown = _post(admin_client, "outbox_action", {"entry": bad, "action": action})
        assert (status, location) == (302, reverse("sync_health", args=["acme"]) + "#outbox")
        assert shown[-1] == "There is no such writeback; nothing was changed."
    failed_entry.refresh_from_db()
    assert failed_entry.state == OutboxEntry.State.FAILED


@pytest.mark.parametrize("bad", [*BAD_IDS, ""])
def test_undoing_a_malformed_batch_changes_nothing_and_says_so(
    admin_client: Client, failed_entry: OutboxEntry, bad: str
) -> None:
    status, location, shown = _post(admin_client, "writeback_undo", {"batch": bad})
    assert (status, location) == (302, reverse("sync_health", args=["acme"]) + "#batches")
    assert shown == ["There is no such writeback; nothing was reverted."]
    assert not WritebackBatch.objects.exists()


@pytest.mark.parametrize("bad", BAD_IDS)
def test_retrying_a_malformed_sync_error_retries_nothing_and_says_so(
    admin_client: Client, failed_entry: OutboxEntry, org: Organization, bad: str
) -> None:
    error = SyncError.objects.create(
        organization=org, sobject="Account", sf_id="001000000000001AAA", code="X", message="m"
    )
    status, location, shown = _post(admin_client, "sync_retry", {"error": bad})
    assert (status, location) == (302, reverse("sync_health", args=["acme"]))
    assert shown == ["There is no such sync error; nothing was retried."]
    error.refresh_from_db()
    assert error.resolved_at is None


@pytest.mark.parametrize("code", ["\x00", "ROX_\x00", "x" * 5000])
def test_retrying_an_error_code_no_error_has_retries_nothing(
    admin_client: Client, failed_entry: OutboxEntry, org: Organization, code: str
) -> None:
    status, location, shown = _post(admin_client, "sync_retry", {"code": code})
    assert (status, location) == (302, reverse("sync_health", args=["acme"]))
    assert shown == ["Nothing to retry."]
