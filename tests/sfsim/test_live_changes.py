"""A running server sees what another process writes to its data directory: ``python -m sfsim scenario`` and
``python -m sfsim seed`` beside ``python -m sfsim serve`` (how ``make run`` is used), without a restart."""

import subprocess
import sys

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sfsim.launch import REPO, start_sfsim


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A server of its own: these tests change its data directory behind its back."""
    server = start_sfsim(tmp_path_factory.mktemp("sfsim-live"), seed="empty", scenario="ready")
    try:
        yield server
    finally:
        server.stop()


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "sfsim", *args], cwd=REPO, check=True, capture_output=True, timeout=120)


def _activity_id_on(sf, sobject: str) -> bool:
    return any(f["name"] == "RoxActivityId__c" for f in getattr(sf, sobject).describe()["fields"])


def _rox_permission_sets(sf) -> int:
    return sf.query("SELECT COUNT() FROM PermissionSet WHERE Name = 'Rox_Integration'")["totalSize"]


def test_scenario_switched_by_the_cli_reaches_the_running_server(live):
    sf = live.salesforce()
    assert _activity_id_on(sf, "Task") and _rox_permission_sets(sf) == 1
    pid = live.process.pid

    _cli("scenario", "--data", str(live.data_dir), "fresh")
    assert not _activity_id_on(sf, "Task") and not _activity_id_on(sf, "Event")
    assert _rox_permission_sets(sf) == 0
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT RoxActivityId__c FROM Task")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"

    _cli("scenario", "--data", str(live.data_dir), "ready")
    assert _activity_id_on(sf, "Task") and _activity_id_on(sf, "Event")
    assert _rox_permission_sets(sf) == 1
    assert sf.query("SELECT RoxActivityId__c FROM Task")["done"]
    assert live.process.pid == pid and live.process.poll() is None


def test_permissions_changed_by_the_cli_reach_the_running_server(live):
    sf = live.salesforce()
    assert "Fax" in {f["name"] for f in sf.Account.describe()["fields"]}
    try:
        _cli("scenario", "--data", str(live.data_dir), "integration-license")
        limited = {f["name"] for f in sf.Account.describe()["fields"]}
        assert "Fax" not in limited and "Website" in limited
        profile = sf.query(f"SELECT Profile.Name FROM User WHERE Username = '{live.username}'")["records"][0][
            "Profile"
        ]["Name"]
        assert profile == "Salesforce API Only System Integrations"
    finally:
        _cli("scenario", "--data", str(live.data_dir), "ready")
    assert "Fax" in {f["name"] for f in sf.Account.describe()["fields"]}


def test_records_seeded_by_the_cli_do_not_collide_with_new_ones(live):
    sf = live.salesforce()
    sf.Account.create({"Name": "Before the seed"})  # the server has allocated Ids of its own
    _cli("seed", "--data", str(live.data_dir), "200")
    ids = {r["Id"] for r in sf.query_all("SELECT Id FROM Account")["records"]}
    created = sf.Account.create({"Name": "After the seed"})
    assert created["success"] and created["id"] not in ids
    users = sf.query("SELECT COUNT() FROM User WHERE IsActive = true")["totalSize"]
    assert users > 1


def test_a_rolled_back_schema_change_leaves_no_trace(tmp_path):
    from sfsim.org import Org

    org = Org(tmp_path)
    with pytest.raises(RuntimeError), org.store.transaction() as conn:
        org.store.save_custom_field(conn, {"object": "Account", "name": "Gone__c", "type": "string", "length": 10})
        assert org.store.schema.get("Account").field("Gone__c") is not None
        raise RuntimeError("rolled back")
    org.sync()
    assert org.store.schema.get("Account").field("Gone__c") is None
