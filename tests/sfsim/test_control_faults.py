"""The control API acting as Salesforce users, schema drift, the clock, and faults observed through clients."""

import time

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)


@pytest.fixture(autouse=True)
def _no_faults_left(sfsim):
    yield
    sfsim.control("DELETE", "faults")
    sfsim.control("POST", "clock", {"reset": True})


def test_fault_unavailable_lock_and_limit(sfsim, sf):
    sfsim.control(
        "POST",
        "faults",
        {
            "faults": [
                {"kind": "unavailable", "count": 1},
                {"kind": "lock", "count": 1, "endpoints": ["sobjects"]},
                {"kind": "limit", "count": 1, "endpoints": ["query"]},
            ]
        },
    )
    with pytest.raises(SalesforceGeneralError) as err:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert err.value.status == 503 and err.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.create({"Name": "locked"})
    assert err.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert sf.Account.create({"Name": "unlocked"})["success"]
    assert sfsim.control("GET", "faults")["faults"] == []
    assert sfsim.control("GET", "stats")["faults_injected"]["lock"] >= 1


def test_faults_limited_to_objects(sfsim, sf):
    sfsim.control("POST", "faults", {"kind": "unavailable", "objects": ["Contact"]})
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    with pytest.raises(SalesforceGeneralError):
        sf.query("SELECT Id FROM Contact LIMIT 1")
    with pytest.raises(SalesforceGeneralError):
        sf.Contact.describe()


def test_probability_is_seeded_and_reproducible(sfsim, sf):
    def outcomes():
        sfsim.control("DELETE", "faults")
        sfsim.control("POST", "faults", {"kind": "unavailable", "probability": 0.5, "seed": 7})
        out = []
        for _ in range(12):
            try:
                sf.query("SELECT Id FROM Account LIMIT 1")
                out.append(True)
            except SalesforceGeneralError:
                out.append(False)
        return out

    first = outcomes()
    assert first == outcomes() and True in first and False in first


def test_latency(sfsim, sf):
    sfsim.control("POST", "faults", {"kind": "latency", "latency_ms": 300, "count": 1})
    started = time.monotonic()
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert time.monotonic() - started >= 0.3


def test_expired_sessions_keep_refresh_tokens(sfsim, sf):
    s = sfsim.session()
    resp = s.post(
        f"{sfsim.login_url}/services/oauth2/authorize",
        allow_redirects=False,
        data={
            "response_type": "code",
            "client_id": sfsim.client_id,
            "redirect_uri": "http://127.0.0.1:8000/cb",
            "scope": "api refresh_token",
            "username": sfsim.username,
            "password": sfsim.password,
            "action": "Allow",
        },
    )
    code = resp.headers["Location"].split("code=")[1].split("&")[0]
    token = s.post(
        f"{sfsim.login_url}/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": sfsim.client_id,
            "client_secret": sfsim.client_secret,
            "redirect_uri": "http://127.0.0.1:8000/cb",
        },
    ).json()
    mine = sfsim.salesforce(token=token)
    sfsim.control("POST", "faults", {"kind": "expire_sessions", "count": 1})
    with pytest.raises(SalesforceExpiredSession):
        mine.query("SELECT Id FROM Account LIMIT 1")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account LIMIT 1")
    refreshed = s.post(
        f"{sfsim.login_url}/services/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": sfsim.client_id},
    )
    assert refreshed.status_code == 200
    again = sfsim.salesforce(token={**token, "access_token": refreshed.json()["access_token"]})
    assert again.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1


def test_dropped_connection(sfsim, api):
    sfsim.control("POST", "faults", {"kind": "drop", "count": 1, "endpoints": ["limits"]})
    with pytest.raises(requests.ConnectionError):
        api.get(api.url("limits"))
    assert api.get(api.url("limits")).status_code == 200


def test_stats_count_calls_by_category_and_reset(sfsim, sf):
    sfsim.control("POST", "stats/reset")
    sf.query("SELECT Id FROM Account LIMIT 1")
    sf.Account.describe()
    sf.limits()
    stats = sfsim.control("GET", "stats")
    assert stats["api_calls"] == 3
    assert stats["api_calls_by_category"] == {"query": 1, "describe": 1, "limits": 1}
    assert stats["queries_by_object"] == {"Account": 1}
    sf.query("SELECT Id FROM Contact WHERE Email = 'x@example.com'")
    assert sfsim.control("GET", "stats")["queries_by_object"] == {"Account": 1, "Contact": 1}
    assert sfsim.control("POST", "stats/reset")["api_calls"] == 0


def test_backdated_systemmodstamp(sfsim, sf):
    rid = sfsim.control(
        "POST", "records/Account", {"fields": {"Name": "Late"}, "system_modstamp": "2026-01-02T03:04:05Z"}
    )["id"]
    rec = sf.Account.get(rid)
    assert rec["SystemModstamp"] == "2026-01-02T03:04:05.000+0000" == rec["CreatedDate"]
    sfsim.control(
        "PATCH", f"records/Account/{rid}", {"fields": {"Phone": "1"}, "system_modstamp": "2026-01-02T03:05:00Z"}
    )
    assert sf.Account.get(rid)["SystemModstamp"] == "2026-01-02T03:05:00.000+0000"


def test_clock_freeze_and_offset(sfsim, sf):
    frozen = sfsim.control("POST", "clock", {"freeze": "2026-03-01T10:00:00Z"})
    assert frozen["now"] == "2026-03-01T10:00:00.000+0000" and frozen["frozen"]
    rid = sf.Account.create({"Name": "Frozen"})["id"]
    assert sf.Account.get(rid)["CreatedDate"] == "2026-03-01T10:00:00.000+0000"
    moved = sfsim.control("POST", "clock", {"advance_seconds": 90})
    assert moved["now"] == "2026-03-01T10:01:30.000+0000"


def test_undelete_hard_delete_and_recycle_bin(sfsim, sf):
    acc = sf.Account.create({"Name": "Bin"})["id"]
    con = sf.Contact.create({"LastName": "Child", "AccountId": acc})["id"]
    sf.Account.delete(acc)
    assert (
        sf.query_all(f"SELECT IsDeleted FROM Contact WHERE Id = '{con}'", include_deleted=True)["records"][0][
            "IsDeleted"
        ]
        is True
    )
    sfsim.control("POST", f"records/Account/{acc}/undelete")
    assert sf.Contact.get(con)["IsDeleted"] is False
    sfsim.control("POST", f"records/Account/{acc}/hard-delete")
    assert sf.query_all(f"SELECT Id FROM Account WHERE Id = '{acc}'", include_deleted=True)["totalSize"] == 0
    assert sf.query_all(f"SELECT Id FROM Contact WHERE Id = '{con}'", include_deleted=True)["totalSize"] == 0
    lead = sf.Lead.create({"LastName": "Bin", "Company": "B"})["id"]
    sf.Lead.delete(lead)
    assert sfsim.control("POST", "recycle-bin/empty")["purged"] >= 1
    assert sf.query_all(f"SELECT Id FROM Lead WHERE Id = '{lead}'", include_deleted=True)["totalSize"] == 0


def test_merge_sets_master_record_id_and_moves_children(sfsim, sf):
    master = sf.Account.create({"Name": "Master"})["id"]
    loser = sf.Account.create({"Name": "Loser"})["id"]
    con = sf.Contact.create({"LastName": "Moved", "AccountId": loser})["id"]
    sfsim.control("POST", "merge", {"object": "Account", "master": master, "losers": [loser]})
    row = sf.query_all(f"SELECT IsDeleted, MasterRecordId FROM Account WHERE Id = '{loser}'", include_deleted=True)[
        "records"
    ][0]
    assert row["IsDeleted"] is True and row["MasterRecordId"] == master
    assert sf.Contact.get(con)["AccountId"] == master


def test_convert_lead(sfsim, sf):
    lead = sf.Lead.create({"LastName": "Convert", "Company": "Conv Co", "Email": "c@conv.example.com"})["id"]
    out = sfsim.control("POST", "convert-lead", {"lead": lead})
    rec = sf.Lead.get(lead)
    assert rec["IsConverted"] is True and rec["ConvertedAccountId"] == out["accountId"]
    assert rec["ConvertedContactId"] == out["contactId"] and rec["ConvertedOpportunityId"] == out["opportunityId"]
    assert sf.Contact.get(out["contactId"])["Email"] == "c@conv.example.com"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(lead, {"Title": "x"})
    assert err.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_schema_drift(sfsim, sf):
    sfsim.control("POST", "fields", {"object": "Account", "name": "Drift__c", "type": "string", "length": 10})
    try:
        desc = {f["name"]: f for f in sf.Account.describe()["fields"]}
        assert desc["Drift__c"]["length"] == 10 and desc["Drift__c"]["custom"]
        rid = sf.Account.create({"Name": "Drifting", "Drift__c": "abc"})["id"]
        with pytest.raises(SalesforceMalformedRequest):
            sf.Account.create({"Name": "Too long", "Drift__c": "x" * 11})
        sfsim.control("PATCH", "fields/Account/Drift__c", {"length": 40})
        assert sf.Account.create({"Name": "Longer", "Drift__c": "x" * 11})["success"]
        sfsim.control("PATCH", "fields/Account/Drift__c", {"type": "double", "precision": 10, "scale": 2})
        assert sf.Account.get(rid)["Drift__c"] is None
        sf.Account.update(rid, {"Drift__c": 12.5})
        assert sf.query(f"SELECT Drift__c FROM Account WHERE Id = '{rid}'")["records"][0]["Drift__c"] == 12.5
    finally:
        sfsim.control("DELETE", "fields/Account/Drift__c")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Drift__c FROM Account")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_activity_field_lands_on_task_and_event(sfsim, sf):
    sfsim.control(
        "POST",
        "fields",
        {"object": "Activity", "name": "Channel__c", "type": "picklist", "picklistValues": ["Email", "Call"]},
    )
    try:
        for obj in (sf.Task, sf.Event):
            assert "Channel__c" in {f["name"] for f in obj.describe()["fields"]}
        assert sf.Task.create({"Subject": "c", "Channel__c": "Call"})["success"]
    finally:
        sfsim.control("DELETE", "fields/Activity/Channel__c")
    assert "Channel__c" not in {f["name"] for f in sf.Event.describe()["fields"]}


def test_revoke_refresh_tokens_and_daily_limit_settings(sfsim):
    assert sfsim.control("PUT", "limits", {"daily_api_requests": 5000})["daily_api_requests"] == 5000
    sfsim.control("PUT", "limits", {"daily_api_requests": 115000})
    assert "revoked" in sfsim.control("POST", "tokens/revoke", {"kind": "refresh"})


def test_control_is_disabled_without_the_flag(tmp_path):
    from sfsim.launch import start_sfsim

    server = start_sfsim(tmp_path, seed="empty", control=False)
    try:
        resp = server.session().get(f"{server.instance_url}/_sfsim/health")
        assert resp.status_code == 404
    finally:
        server.stop()
