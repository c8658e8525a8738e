"""Bulk API 2.0 through simple-salesforce's bulk2 and plain requests."""

import csv
import io
import time

import pytest


def _wait(api, path, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = api.get(api.url(path)).json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return info
        time.sleep(0.05)
    raise AssertionError(f"{path} did not finish")


def test_query_job_pages_with_locators(sf):
    total = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    pages = list(sf.bulk2.Contact.query("SELECT Id, Name, Account.Name FROM Contact", max_records=300, wait=0.1))
    assert len(pages) == -(-total // 300)
    rows = [r for page in pages for r in csv.DictReader(io.StringIO(page))]
    assert len(rows) == total and set(rows[0]) == {"Id", "Name", "Account.Name"}


def test_query_all_job_includes_deleted(sf, sfsim):
    rid = sf.Lead.create({"LastName": "BulkDeleted", "Company": "B"})["id"]
    sf.Lead.delete(rid)
    text = "".join(sf.bulk2.Lead.query_all(f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{rid}'", wait=0.1))
    assert list(csv.DictReader(io.StringIO(text))) == [{"Id": rid, "IsDeleted": "true"}]


def test_query_job_headers(api):
    job = api.post(api.url("jobs/query"), json={"operation": "query", "query": "SELECT Id FROM Account"}).json()
    assert job["id"].startswith("750") and job["state"] == "UploadComplete"
    _wait(api, f"jobs/query/{job['id']}")
    page = api.get(api.url(f"jobs/query/{job['id']}/results"), params={"maxRecords": 100})
    assert page.headers["Sforce-NumberOfRecords"] == "100" and page.headers["Sforce-Locator"] != "null"
    assert page.headers["Content-Type"].startswith("text/csv")
    last = api.get(
        api.url(f"jobs/query/{job['id']}/results"),
        params={"maxRecords": 100000, "locator": page.headers["Sforce-Locator"]},
    )
    assert last.headers["Sforce-Locator"] == "null"
    bad = api.post(api.url("jobs/query"), json={"operation": "query", "query": "SELECT Nope FROM Account"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_ingest_insert_with_failed_rows(sf, unique):
    tag = unique("bulk")
    records = [{"Name": f"{tag} {i}"} for i in range(5)] + [{"Name": "x" * 300}]
    result = sf.bulk2.Account.insert(records=records, wait=0.1)[0]
    assert result["numberRecordsProcessed"] == 6 and result["numberRecordsFailed"] == 1
    failed = sf.bulk2.Account.get_failed_records(result["job_id"])
    row = next(csv.DictReader(io.StringIO(failed)))
    assert row["sf__Error"].startswith("STRING_TOO_LONG:")
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(result["job_id"]))))
    assert len(ok) == 5 and all(r["sf__Created"] == "true" and r["sf__Id"].startswith("001") for r in ok)
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Name LIKE '{tag}%'")["totalSize"] == 5


def test_ingest_upsert_update_and_delete(sf, unique):
    keys = [unique("bk") for _ in range(3)]
    up = sf.bulk2.Task.upsert(
        records=[{"RoxActivityId__c": k, "Subject": "Bulk"} for k in keys],
        external_id_field="RoxActivityId__c",
        wait=0.1,
    )[0]
    assert up["numberRecordsFailed"] == 0
    again = sf.bulk2.Task.upsert(
        records=[{"RoxActivityId__c": k, "Subject": "Bulk 2"} for k in keys],
        external_id_field="RoxActivityId__c",
        wait=0.1,
    )[0]
    rows = list(csv.DictReader(io.StringIO(sf.bulk2.Task.get_successful_records(again["job_id"]))))
    assert [r["sf__Created"] for r in rows] == ["false"] * 3
    ids = [r["sf__Id"] for r in rows]
    sf.bulk2.Task.update(records=[{"Id": i, "Status": "Completed"} for i in ids], wait=0.1)
    done = sf.query(f"SELECT COUNT() FROM Task WHERE Status = 'Completed' AND Id IN ('{ids[0]}','{ids[1]}')")
    assert done["totalSize"] == 2
    deleted = sf.bulk2.Task.delete(records=[{"Id": i} for i in ids], wait=0.1)[0]
    assert deleted["numberRecordsProcessed"] == 3
    assert sf.query(f"SELECT COUNT() FROM Task WHERE Id = '{ids[0]}'")["totalSize"] == 0


def test_ingest_job_lifecycle_and_errors(api):
    job = api.post(
        api.url("jobs/ingest"),
        json={"object": "Account", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"},
    ).json()
    assert job["state"] == "Open" and job["contentUrl"].endswith(f"/jobs/ingest/{job['id']}/batches")
    put = api.put(
        api.url(f"jobs/ingest/{job['id']}/batches"), data=b"Name,Nope__c\nA,1\n", headers={"Content-Type": "text/csv"}
    )
    assert put.status_code == 201
    api.patch(api.url(f"jobs/ingest/{job['id']}"), json={"state": "UploadComplete"})
    info = _wait(api, f"jobs/ingest/{job['id']}")
    assert info["state"] == "Failed" and "Nope__c" in info["errorMessage"]
    assert api.delete(api.url(f"jobs/ingest/{job['id']}")).status_code == 204
    bad = api.post(api.url("jobs/ingest"), json={"object": "Nope", "operation": "insert"})
    assert bad.status_code == 400
    listing = api.get(api.url("jobs/ingest")).json()
    assert listing["done"] is True and "records" in listing


@pytest.mark.parametrize("path", ["jobs/ingest", "jobs/query"])
def test_each_bulk_request_counts_as_a_call(sfsim, api, path):
    sfsim.control("POST", "stats/reset")
    api.get(api.url(path))
    api.get(api.url(path))
    assert sfsim.control("GET", "stats")["api_calls_by_category"] == {"bulk": 2}
