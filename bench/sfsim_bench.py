"""sfsim benchmark: seeding, queryAll paging, sObject Collections writes, Bulk 2.0 query, and server memory.

Run: ``.venv/bin/python bench/sfsim_bench.py [--records 1000000] [--small 10000]`` (``make bench`` runs it).
Prints a table with the machine and the command and appends it to bench/RESULTS.md.

Targets (issue 3): queryAll pages of 2,000 >= 20,000 records/s; Collections >= 5,000 records/s; seeding 1,000,000
records < 120 s; server RSS while paging a 1,000,000-record org about the same as for a 10,000-record one.
"""

import argparse
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sfsim.launch import start_sfsim  # noqa: E402

FIELDS = "Id, Name, Email, Phone, Title, AccountId, Account.Name, OwnerId, SystemModstamp, LastModifiedDate, IsDeleted"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def seed(data_dir: Path, n: int) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "sfsim", "seed", "--data", str(data_dir), str(n)],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def api_session(server):
    token = server.token()
    session = server.session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    return session, f"{token['instance_url']}/services/data/v59.0"


def page_query_all(server, max_pages: int) -> dict:
    """Pages through Contacts with queryAll, 2,000 a page, sampling the server's RSS after every page."""
    session, base = api_session(server)
    pid = server.process.pid
    server.control("POST", "stats/reset")
    idle_rss = rss_kb(pid)
    started = time.monotonic()
    page = session.get(f"{base}/queryAll", params={"q": f"SELECT {FIELDS} FROM Contact ORDER BY SystemModstamp, Id"})
    page.raise_for_status()
    body = page.json()
    records, pages, peak = len(body["records"]), 1, rss_kb(pid)
    while not body["done"] and pages < max_pages:
        body = session.get(f"{server.instance_url}{body['nextRecordsUrl']}").json()
        records += len(body["records"])
        pages += 1
        peak = max(peak, rss_kb(pid))
    elapsed = time.monotonic() - started
    calls = server.control("GET", "stats")["api_calls"]
    return {
        "records": records,
        "pages": pages,
        "seconds": elapsed,
        "rate": records / elapsed,
        "calls": calls,
        "idle_rss_mb": idle_rss / 1024,
        "peak_rss_mb": peak / 1024,
        "total": body["totalSize"],
    }


def collections(server, n: int) -> dict:
    session, base = api_session(server)
    server.control("POST", "stats/reset")
    out = {}
    ids: list[str] = []
    started = time.monotonic()
    for start in range(0, n, 200):
        recs = [
            {
                "attributes": {"type": "Account"},
                "Name": f"Bench {start + i}",
                "Industry": "Banking",
                "NumberOfEmployees": i,
                "BillingCity": "Oslo",
                "Website": f"https://b{start + i}.example.com",
            }
            for i in range(200)
        ]
        res = session.post(f"{base}/composite/sobjects", json={"allOrNone": False, "records": recs}).json()
        ids += [r["id"] for r in res]
    out["create"] = n / (time.monotonic() - started)
    started = time.monotonic()
    for start in range(0, n, 200):
        recs = [
            {"attributes": {"type": "Account"}, "Id": rid, "Phone": "+1 555 0100", "Industry": "Energy"}
            for rid in ids[start : start + 200]
        ]
        session.patch(f"{base}/composite/sobjects", json={"allOrNone": False, "records": recs}).raise_for_status()
    out["update"] = n / (time.monotonic() - started)
    started = time.monotonic()
    stamp = time.time_ns()
    for start in range(0, n, 200):
        recs = [
            {
                "attributes": {"type": "Task"},
                "RoxActivityId__c": f"bench-{stamp}-{start + i}",
                "Subject": "Email: hello",
                "Status": "Completed",
                "WhatId": ids[start + i],
            }
            for i in range(200)
        ]
        session.patch(
            f"{base}/composite/sobjects/Task/RoxActivityId__c", json={"allOrNone": False, "records": recs}
        ).raise_for_status()
    out["upsert"] = n / (time.monotonic() - started)
    out["calls"] = server.control("GET", "stats")["api_calls"]
    return out


def bulk_query(server) -> dict:
    session, base = api_session(server)
    started = time.monotonic()
    job = session.post(
        f"{base}/jobs/query", json={"operation": "queryAll", "query": "SELECT Id, Name, Email, AccountId FROM Contact"}
    ).json()
    while session.get(f"{base}/jobs/query/{job['id']}").json()["state"] != "JobComplete":
        time.sleep(0.1)
    rows, locator = 0, None
    while locator != "null":
        params = {"maxRecords": 50000, **({"locator": locator} if locator else {})}
        resp = session.get(f"{base}/jobs/query/{job['id']}/results", params=params)
        rows += int(resp.headers["Sforce-NumberOfRecords"])
        locator = resp.headers["Sforce-Locator"]
    elapsed = time.monotonic() - started
    return {"rows": rows, "seconds": elapsed, "rate": rows / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="size of the large org")
    parser.add_argument("--small", type=int, default=10_000, help="size of the small org (memory comparison)")
    parser.add_argument("--pages", type=int, default=100, help="queryAll pages to read per org")
    parser.add_argument("--writes", type=int, default=10_000, help="records per Collections operation")
    args = parser.parse_args()
    command = "python " + " ".join(shlex.quote(a) for a in ["bench/sfsim_bench.py", *sys.argv[1:]])
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="sfsim-bench-") as tmp:
        big, small = Path(tmp) / "big", Path(tmp) / "small"
        seconds = seed(big, args.records)
        rows.append((f"seed {args.records:,} records", f"{seconds:.1f} s", "< 120 s"))
        seed(small, args.small)
        results = {}
        for name, folder in (("small", small), ("big", big)):
            server = start_sfsim(folder, seed="empty")
            try:
                results[name] = page_query_all(server, args.pages)
                if name == "big":
                    writes = collections(server, args.writes)
                    bulk = bulk_query(server)
            finally:
                server.stop()
        b, s = results["big"], results["small"]
        rows.append(
            (
                f"queryAll {b['records']:,} of {b['total']:,} Contacts ({b['pages']} pages of 2,000, "
                f"{b['calls']} calls)",
                f"{b['rate']:,.0f} records/s",
                ">= 20,000 records/s",
            )
        )
        rows.append(
            (
                f"Collections create {args.writes:,} Accounts (200/call)",
                f"{writes['create']:,.0f} records/s",
                ">= 5,000 records/s",
            )
        )
        rows.append(
            (f"Collections update {args.writes:,} Accounts", f"{writes['update']:,.0f} records/s", ">= 5,000 records/s")
        )
        rows.append(
            (
                f"Collections upsert {args.writes:,} Tasks on RoxActivityId__c",
                f"{writes['upsert']:,.0f} records/s",
                ">= 5,000 records/s",
            )
        )
        rows.append(
            ("API calls for the three Collections runs", str(writes["calls"]), f"= {3 * -(-args.writes // 200)}")
        )
        rows.append((f"Bulk 2.0 queryAll job, {bulk['rows']:,} Contacts end to end", f"{bulk['rate']:,.0f} rows/s", ""))
        rows.append(
            (
                f"server RSS paging {s['records']:,} records of a {args.small:,}-record org",
                f"{s['peak_rss_mb']:.0f} MB (idle {s['idle_rss_mb']:.0f} MB)",
                "",
            )
        )
        rows.append(
            (
                f"server RSS paging {b['records']:,} records of a {args.records:,}-record org",
                f"{b['peak_rss_mb']:.0f} MB (idle {b['idle_rss_mb']:.0f} MB)",
                "about equal to the line above",
            )
        )
    machine = f"{platform.uname().system} {platform.uname().release} {platform.machine()}, {os.cpu_count()} CPUs"
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    width = max(len(r[0]) for r in rows)
    lines = [
        f"## sfsim benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- machine: `{uname}` ({os.cpu_count()} CPUs)",
        f"- command: `{command}`",
        "",
        f"| {'measure'.ljust(width)} | result | target |",
        f"|{'-' * (width + 2)}|---|---|",
    ]
    lines += [f"| {m.ljust(width)} | {r} | {t} |" for m, r, t in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"({machine})")
    with (REPO / "bench" / "RESULTS.md").open("a") as fh:
        fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
