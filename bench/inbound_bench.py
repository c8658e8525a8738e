"""Inbound sync benchmark: a first sync of a large simulated org into PostgreSQL, an incremental run with no changes,
and 10,000 changed records, at two org sizes; with API calls and the worker's peak memory.

    python bench/inbound_bench.py [--sizes 100000,1000000]

Each size runs in its own process (so its peak memory is its own) against its own sfsim and a fresh PostgreSQL
database. Prints a table and appends it to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def child(size: int) -> dict:
    """Everything for one org size, in this process."""
    from sfsim.launch import start_sfsim

    database = f"roxcrm_bench_{size}"
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {database}"], check=True)
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
    with tempfile.TemporaryDirectory(prefix="bench-sfsim-") as tmp:
        started = time.monotonic()
        server = start_sfsim(Path(tmp), seed=str(size), scenario="ready", timeout=600)
        seed_seconds = time.monotonic() - started
        os.environ.update(
            {
                "DATABASE_URL": f"{PG}/{database}",
                "SALESFORCE_CA_BUNDLE": server.ca_path,
                "SALESFORCE_ALLOWED_HOSTS": server.allowed_hosts,
                "SALESFORCE_CLIENT_ID": server.client_id,
                "SALESFORCE_CLIENT_SECRET": server.client_secret,
                "DJANGO_SETTINGS_MODULE": "roxcrm.settings",
                "DEBUG": "False",  # as in production: no per-query logging
                "LOG_LEVEL": "WARNING",
            }
        )
        try:
            return _measure(server, size, seed_seconds)
        finally:
            server.stop()


def _measure(server: object, size: int, seed_seconds: float) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from integrations.engine.plan import object_plans
    from integrations.engine.runner import sync_object
    from integrations.services import connection_connect_client_credentials, connection_submit, preflight_run
    from roxcrm.models import User
    from roxcrm.services import organization_create

    admin = User.objects.create_user(email="bench@rox.example", password="bench-password-123")
    org = organization_create(name="Bench", slug="bench", user=admin)
    connection = connection_connect_client_credentials(
        organization=org, login_url=server.login_url, client_id=server.client_id, client_secret=server.client_secret
    )
    preflight_run(connection=connection)
    connection = connection_submit(connection=connection, user=admin)
    plans = object_plans(org)

    def api_calls() -> int:
        return server.control("GET", "stats")["api_calls"]

    # 1. First sync of everything.
    before = api_calls()
    started = time.monotonic()
    per_object = {}
    rows = 0
    for plan in plans:
        t0, c0 = time.monotonic(), api_calls()
        result = sync_object(connection, plan.sobject)
        run = result.run
        assert run is not None and run.outcome in ("succeeded", "warnings"), (plan.sobject, run and run.error)
        per_object[plan.sobject] = {
            "rows": run.counts.get("fetched", 0),
            "calls": api_calls() - c0,
            "mode": run.details.get("mode"),
            "seconds": round(time.monotonic() - t0, 2),
            "failed": run.counts.get("failed", 0),
        }
        rows += run.counts.get("fetched", 0)
    first_seconds = time.monotonic() - started
    first_calls = api_calls() - before
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # 2. An incremental run with no changes (after the overlap window has passed: the clock moves on 15 minutes).
    server.control("POST", "clock", {"advance_seconds": 15 * 60})
    quiet, quiet_engine = {}, {}
    before = api_calls()
    for plan in plans:
        t0 = time.perf_counter()
        run = sync_object(connection, plan.sobject).run
        wall = time.perf_counter() - t0
        quiet[plan.sobject] = round(wall * 1000)
        # The engine's own time: the run's wall time less the time it waited for Salesforce's (sfsim's) answer.
        quiet_engine[plan.sobject] = round((wall - run.details.get("api_seconds", 0)) * 1000)
    quiet_calls = api_calls() - before

    # 3. 10,000 changed contacts.
    sf = server.salesforce()
    ids = [r["Id"] for r in sf.query_all("SELECT Id FROM Contact ORDER BY Id LIMIT 10000")["records"]]
    for start in range(0, len(ids), 200):
        records = [
            {"attributes": {"type": "Contact"}, "Id": i, "Title": "Changed by the benchmark"}
            for i in ids[start : start + 200]
        ]
        sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    t0 = time.monotonic()
    changed = sync_object(connection, "Contact").run
    changed_seconds = time.monotonic() - t0
    return {
        "size": size,
        "seed_seconds": round(seed_seconds, 1),
        "rows": rows,
        "first_seconds": round(first_seconds, 1),
        "first_rate": round(rows / first_seconds),
        "first_calls": first_calls,
        "per_object": per_object,
        "peak_mb": round(peak_mb),
        "quiet_ms": quiet,
        "quiet_engine_ms": quiet_engine,
        "quiet_calls": quiet_calls,
        "changed_updated": changed.counts.get("updated"),
        "changed_seconds": round(changed_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size)], cwd=REPO, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            sys.exit(f"size {size} failed:\n{out.stdout}\n{out.stderr}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    report(results, " ".join(sys.argv))


def report(results: list[dict], command: str) -> None:
    lines = [
        f"## Inbound sync benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- machine: `{' '.join(platform.uname())}` ({os.cpu_count()} CPUs), PostgreSQL",
        f"- command: `python bench/inbound_bench.py{command.split('inbound_bench.py', 1)[1]}`",
        "",
        "| measure | " + " | ".join(f"{r['size']:,}-record org" for r in results) + " | target |",
        "|---|" + "---|" * len(results) + "---|",
    ]

    def row(label: str, values: list[str], target: str) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + f" | {target} |")

    row("records read in the first sync", [f"{r['rows']:,}" for r in results], "")
    row(
        "first sync, end to end",
        [f"{r['first_seconds']} s = {r['first_rate']:,} records/s" for r in results],
        ">= 5,000 records/s (aim 10,000)",
    )
    row(
        "API calls, first sync",
        [str(r["first_calls"]) for r in results],
        "REST: ceil(rows/2,000) per object; Bulk: <= 10 per object",
    )
    for sobject in results[-1]["per_object"]:
        row(
            f"  {sobject}: rows / calls / path",
            ["{rows:,} / {calls} / {mode}".format(**r["per_object"][sobject]) for r in results],
            "",
        )
    row("worker peak memory", [f"{r['peak_mb']} MB" for r in results], "<= 300 MB, within 20% across sizes")
    row(
        "incremental run, no changes: API calls (all objects)",
        [str(r["quiet_calls"]) for r in results],
        "<= 1 per object",
    )
    row(
        "incremental run, no changes: slowest object, engine time (wall time with Salesforce's answer)",
        [f"{max(r['quiet_engine_ms'].values())} ms ({max(r['quiet_ms'].values())} ms)" for r in results],
        "< 200 ms of engine time, the same at every size",
    )
    row(
        "10,000 changed records",
        [f"{r['changed_seconds']} s ({r['changed_updated']:,} updated)" for r in results],
        "< 5 s",
    )
    text = "\n".join(lines)
    print(text)
    with (REPO / "bench" / "RESULTS.md").open("a") as results_file:
        results_file.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
