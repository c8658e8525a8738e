"""Custom object benchmark (issue 16): the first sync of an added custom object, ``Bench__c`` with 30 fields of
mixed types and 200,000 rows, against the first sync of a standard object of the same size (``Contact``), in the
same run, against one sfsim org.

    python bench/custom_object_bench.py [--rows 200000] [--runs 3] [--profile]

The standard object is measured twice: as shipped (its six mapped fields) and as wide as ``Bench__c`` (the same 29
custom fields besides the Account lookup, added to Contact in sfsim, filled with generated values and mapped as
custom Rox fields), which is the like-for-like comparison: the same engine, the same work per record, a standard
object against an added one. Both ratios are reported.

One sfsim org holds everything: the ``N``-record seed (``N = 4 x rows``: ``rows`` contacts of ``N / 10`` accounts),
``Bench__c``, created through the control API (Name, a lookup to Account, and text, number, currency, percent, date,
datetime, checkbox, picklist, e-mail, phone, URL and text area fields) and filled with sfsim's fast loader
(``POST /_sfsim/objects/Bench__c/generate``), and Contact's 29 added fields (``POST /_sfsim/fields``, then
``POST /_sfsim/objects/Contact/fill``). Rox connects headlessly (client credentials) to a fresh PostgreSQL database,
adds the object with ``integrations.objects.object_add`` (all 30 fields), maps Contact's added fields with + Add
Field's service and reads the accounts; that database is the template of every run. Each run is a true first sync: a
copy of the template (``CREATE DATABASE ... TEMPLATE``) and a new process (so its peak memory is its own) that syncs
one object (Contact as shipped: the added fields' mappings removed first); the three take turns, the order rotating,
because this machine is shared and its speed drifts. Prints a table (each side's min and median, the ratios of
records/s) and appends it to bench/RESULTS.md. ``--profile`` adds one more Bench__c run under cProfile
(bench/out/custom_object_bench.prof) and prints its top costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
BASE_DB = "roxcrm_bench_custom"
RUN_DB = "roxcrm_bench_custom_run"
CUSTOM = "Bench__c"
STANDARD = "Contact"
WIDE = "Contact+29"  # Contact with Bench__c's fields added (the like-for-like reference)
SIDES = (CUSTOM, STANDARD, WIDE)

# The 30 fields of Bench__c (its Name aside).
FIELDS: list[dict[str, Any]] = [
    {"name": "Account__c", "type": "Lookup", "referenceTo": ["Account"], "childRelationshipName": "Bench_Rows"},
    {"name": "Code__c", "type": "Text", "length": 40},
    {"name": "Title__c", "type": "Text", "length": 255},
    {"name": "Reference__c", "type": "Text", "length": 80},
    {"name": "Region__c", "type": "Picklist", "picklistValues": ["North", "South", "East", "West", "Central"]},
    {"name": "Stage__c", "type": "Picklist", "picklistValues": ["New", "Working", "Won", "Lost"]},
    {"name": "Category__c", "type": "Picklist", "picklistValues": ["Hardware", "Software", "Services", "Support"]},
    {"name": "Amount__c", "type": "Currency"},
    {"name": "Cost__c", "type": "Currency", "precision": 16, "scale": 2},
    {"name": "Quantity__c", "type": "Number", "precision": 18, "scale": 0},
    {"name": "Units__c", "type": "Number", "precision": 10, "scale": 0},
    {"name": "Score__c", "type": "Number", "precision": 8, "scale": 2},
    {"name": "Rate__c", "type": "Number", "precision": 16, "scale": 4},
    {"name": "Discount__c", "type": "Percent"},
    {"name": "Probability__c", "type": "Percent", "precision": 3, "scale": 0},
    {"name": "Start_Date__c", "type": "date"},
    {"name": "End_Date__c", "type": "date"},
    {"name": "Renewal_Date__c", "type": "date"},
    {"name": "Signed_At__c", "type": "datetime"},
    {"name": "Reviewed_At__c", "type": "datetime"},
    {"name": "Active__c", "type": "Checkbox"},
    {"name": "Is_Priority__c", "type": "Checkbox"},
    {"name": "Contact_Email__c", "type": "email"},
    {"name": "Billing_Email__c", "type": "email"},
    {"name": "Phone__c", "type": "phone"},
    {"name": "Mobile__c", "type": "phone"},
    {"name": "Website__c", "type": "url"},
    {"name": "Docs_Url__c", "type": "url"},
    {"name": "Notes__c", "type": "TextArea"},
    {"name": "Summary__c", "type": "LongTextArea"},
]
# What Contact gets to be as wide as Bench__c: the same fields but the lookup (Contact has its AccountId mapped).
WIDE_FIELDS = [f for f in FIELDS if f["type"] != "Lookup"]
BENCH_OBJECT = {
    "name": CUSTOM,
    "label": "Bench Row",
    "pluralLabel": "Bench Rows",
    "nameField": {"label": "Bench Row Name", "type": "Text"},
    "fields": FIELDS,
}


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True, capture_output=True)


def django_env(server: Any, database: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"{PG}/{database}",
        "SALESFORCE_CA_BUNDLE": server.ca_path,
        "SALESFORCE_ALLOWED_HOSTS": server.allowed_hosts,
        "SALESFORCE_CLIENT_ID": server.client_id,
        "SALESFORCE_CLIENT_SECRET": server.client_secret,
        "DJANGO_SETTINGS_MODULE": "roxcrm.settings",
        "DEBUG": "False",  # as in production: no per-query logging
        "LOG_LEVEL": "WARNING",
    }


def run_child(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    if out.stderr.strip():
        print(out.stderr.strip(), file=sys.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- children ----------------------------------------------------------------------------------------------------------


def child_prepare(login_url: str) -> dict:
    """The template database: migrated, connected, Bench__c added with its 30 fields, the accounts read."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from integrations.engine.runner import sync_object
    from integrations.objects import object_add
    from integrations.services import connection_connect_client_credentials, connection_submit, preflight_run
    from mappings.metadata import salesforce_object
    from mappings.models import FieldMapping, ObjectMapping
    from mappings.services import custom_field_create_and_map, custom_field_draft
    from roxcrm.models import User
    from roxcrm.services import organization_create

    admin = User.objects.create_user(email="bench@rox.example", password="bench-password-123")
    org = organization_create(name="Bench", slug="bench", user=admin)
    connection = connection_connect_client_credentials(
        organization=org,
        login_url=login_url,
        client_id=os.environ["SALESFORCE_CLIENT_ID"],
        client_secret=os.environ["SALESFORCE_CLIENT_SECRET"],
    )
    preflight_run(connection=connection)
    connection = connection_submit(connection=connection, user=admin)
    object_add(connection, CUSTOM, fields=[f["name"] for f in FIELDS])
    contacts = ObjectMapping.objects.get(organization=org, sobject=STANDARD)
    described = salesforce_object(org, STANDARD)
    assert described is not None
    for spec in WIDE_FIELDS:
        field = custom_field_draft(organization=org, object_type="contact", sf=described.fields[spec["name"]])
        custom_field_create_and_map(
            object_mapping=contacts, field=field, sf_field=spec["name"], rule=FieldMapping.Rule.READ_ONLY, user=admin
        )
    mapped = {
        sobject: FieldMapping.objects.filter(object_mapping__organization=org, object_mapping__sobject=sobject).count()
        for sobject in (CUSTOM, STANDARD)
    }
    mapped = {CUSTOM: mapped[CUSTOM], STANDARD: mapped[STANDARD] - len(WIDE_FIELDS), WIDE: mapped[STANDARD]}
    started = time.monotonic()
    run = sync_object(connection, "Account").run
    assert run is not None and run.outcome in ("succeeded", "warnings"), run and run.error
    return {
        "accounts": run.counts.get("fetched", 0),
        "accounts_seconds": round(time.monotonic() - started, 1),
        "mapped": mapped,
    }


def child_measure(sobject: str, profile: str) -> dict:
    """One first sync of ``sobject`` on a fresh copy of the template."""
    import django

    django.setup()
    from integrations.engine.runner import sync_object
    from integrations.models import SalesforceConnection
    from mappings.models import FieldMapping

    connection = SalesforceConnection.objects.get()
    if sobject == STANDARD:  # as shipped: without the fields added for the like-for-like reference
        FieldMapping.objects.filter(object_mapping__sobject=STANDARD, rox_field__startswith="custom.").delete()
    sobject = STANDARD if sobject == WIDE else sobject
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    run = sync_object(connection, sobject).run
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    assert run is not None and run.outcome in ("succeeded", "warnings"), (sobject, run and run.error)
    return {
        "rows": run.counts.get("fetched", 0),
        "created": run.counts.get("created", 0),
        "failed": run.counts.get("failed", 0),
        "mode": run.details.get("mode"),
        "api_seconds": round(run.details.get("api_seconds", 0), 2),
        "seconds": seconds,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


# -- the run -----------------------------------------------------------------------------------------------------------


def load_custom(server: Any, rows: int) -> dict:
    """Bench__c through the control API, filled with ``rows`` generated rows by sfsim's fast loader."""
    server.control("POST", "objects", BENCH_OBJECT)
    started = time.monotonic()
    out = server.control("POST", f"objects/{CUSTOM}/generate", {"rows": rows, "seed": "custom-object-bench"})
    return {"rows": out["created"], "seconds": round(time.monotonic() - started, 1)}


def widen_standard(server: Any) -> dict:
    """Contact as wide as Bench__c: its fields (the lookup aside) added in sfsim and filled on every contact."""
    for spec in WIDE_FIELDS:
        server.control("POST", "fields", {"object": STANDARD, **spec})
    started = time.monotonic()
    out = server.control("POST", f"objects/{STANDARD}/fill", {"fields": [f["name"] for f in WIDE_FIELDS]})
    return {"rows": out["filled"], "seconds": round(time.monotonic() - started, 1)}


def measure(server: Any, sobject: str, profile: str = "") -> dict:
    psql(f"DROP DATABASE IF EXISTS {RUN_DB}")
    psql(f"CREATE DATABASE {RUN_DB} TEMPLATE {BASE_DB}")
    before = server.control("GET", "stats")["api_calls"]
    try:
        result = run_child(
            django_env(server, RUN_DB), "--measure", sobject, *(["--profile-to", profile] if profile else [])
        )
    finally:
        psql(f"DROP DATABASE IF EXISTS {RUN_DB}")
    result["calls"] = server.control("GET", "stats")["api_calls"] - before
    result["rate"] = result["rows"] / result["seconds"]
    return result


def bench(rows: int, runs: int, profile: bool) -> dict:
    from sfsim.launch import start_sfsim

    psql(f"DROP DATABASE IF EXISTS {RUN_DB}")
    psql(f"DROP DATABASE IF EXISTS {BASE_DB}")
    psql(f"CREATE DATABASE {BASE_DB}")
    with tempfile.TemporaryDirectory(prefix="bench-sfsim-") as tmp:
        started = time.monotonic()
        server = start_sfsim(Path(tmp), seed=str(rows * 4), scenario="ready", timeout=900)
        seed_seconds = time.monotonic() - started
        try:
            loaded = load_custom(server, rows)
            widened = widen_standard(server)
            counts = server.control("GET", "counts")
            prepared = run_child(django_env(server, BASE_DB), "--prepare", server.login_url)
            results: dict[str, list[dict]] = {side: [] for side in SIDES}
            for i in range(runs):
                order = SIDES[i % 3 :] + SIDES[: i % 3]
                for sobject in order:
                    results[sobject].append(measure(server, sobject))
                    r = results[sobject][-1]
                    print(
                        f"run {i + 1} {sobject}: {r['rows']:,} rows in {r['seconds']:.1f} s = {r['rate']:,.0f}/s",
                        file=sys.stderr,
                    )
            profiled = None
            if profile:
                path = REPO / "bench" / "out" / "custom_object_bench.prof"
                path.parent.mkdir(exist_ok=True)
                profiled = measure(server, CUSTOM, str(path))
                profiled["top"] = top_costs(path)
        finally:
            server.stop()
            psql(f"DROP DATABASE IF EXISTS {BASE_DB}")
    return {
        "rows": rows,
        "seed_n": rows * 4,
        "seed_seconds": round(seed_seconds, 1),
        "loaded": loaded,
        "widened": widened,
        "counts": {CUSTOM: counts.get(CUSTOM), STANDARD: counts.get(STANDARD), "Account": counts.get("Account")},
        "prepared": prepared,
        "results": results,
        "profiled": profiled,
        "threshold": int(os.environ.get("SALESFORCE_BULK_THRESHOLD", "50000")),
    }


def top_costs(path: Path, limit: int = 25) -> list[str]:
    import io
    import pstats

    text = io.StringIO()
    pstats.Stats(str(path), stream=text).sort_stats("tottime").print_stats(limit)
    return [line for line in text.getvalue().splitlines() if line.strip()][-limit - 1 :]


def report(data: dict, command: str) -> str:
    res = data["results"]
    rates = {side: [r["rate"] for r in res[side]] for side in SIDES}
    engine = {side: [r["rows"] / (r["seconds"] - r["api_seconds"]) for r in res[side]] for side in SIDES}
    mapped = data["prepared"]["mapped"]

    def side(runs: list[dict], key: str, fmt: str) -> str:
        values = [r[key] for r in runs]
        return f"{fmt.format(min(values))} / {fmt.format(statistics.median(values))}"

    def row(label: str, cell: Any, target: str = "") -> str:
        return f"| {label} | {' | '.join(cell(s) for s in SIDES)} | {target} |"

    def ratio(reference: str) -> str:
        pairs = [c / s for c, s in zip(rates[CUSTOM], rates[reference], strict=True)]
        medians = statistics.median(rates[CUSTOM]) / statistics.median(rates[reference])
        return f"{min(pairs):.2f} / {statistics.median(pairs):.2f}; {medians:.2f}"

    def one(sobject: str) -> dict:
        return res[sobject][0]

    lines = [
        f"## Custom object benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- machine: `{' '.join(platform.uname())}` ({os.cpu_count()} CPUs), PostgreSQL",
        f"- command: `python bench/custom_object_bench.py{command.split('custom_object_bench.py', 1)[1]}`",
        f"- one sfsim org: the {data['seed_n']:,}-record seed ({data['seed_seconds']} s; "
        f"{data['counts']['Account']:,} accounts, {data['counts'][STANDARD]:,} contacts), {CUSTOM} "
        f"({len(FIELDS)} fields, {data['loaded']['rows']:,} rows generated by sfsim's loader in "
        f"{data['loaded']['seconds']} s) and {len(WIDE_FIELDS)} of its fields added to Contact (filled on "
        f"{data['widened']['rows']:,} contacts in {data['widened']['seconds']} s); the references are the first "
        f"sync of {STANDARD} as shipped and as wide as {CUSTOM} ({WIDE}), all with the accounts read before "
        f"({data['prepared']['accounts']:,} in {data['prepared']['accounts_seconds']} s)",
        f"- {len(rates[CUSTOM])} runs of each, in turns, each a true first sync (a fresh copy of the prepared "
        "database, a new process)",
        "",
        f"| measure | {CUSTOM} (custom) | {STANDARD} as shipped | {WIDE} (standard, as wide) | target |",
        "|---|---|---|---|---|",
        row("fields mapped (Name and owner included)", lambda s: str(mapped[s])),
        row(
            "records read (created, failed)",
            lambda s: f"{one(s)['rows']:,} ({one(s)['created']:,}, {one(s)['failed']})",
        ),
        row("first sync, min / median", lambda s: side(res[s], "seconds", "{:.1f} s")),
        row(
            "records/s, best / median",
            lambda s: f"{max(rates[s]):,.0f} / {statistics.median(rates[s]):,.0f}",
        ),
        row(
            "of which waiting for Salesforce (sfsim: the Bulk job, its pages), min / median",
            lambda s: side(res[s], "api_seconds", "{:.1f} s"),
        ),
        row("engine records/s (the time not waiting), median", lambda s: f"{statistics.median(engine[s]):,.0f}"),
        row(
            "field values/s (median records/s x fields mapped)",
            lambda s: f"{statistics.median(rates[s]) * mapped[s]:,.0f}",
        ),
        row("spread (max ÷ min time)", lambda s: f"{max(rates[s]) / min(rates[s]):.2f}"),
        f"| **ratio custom / standard as wide, records/s**: per run (min / median); of the medians | "
        f"**{ratio(WIDE)}** | | | >= 1.0 |",
        f"| ratio custom / standard as shipped, records/s: per run (min / median); of the medians | "
        f"{ratio(STANDARD)} | | | |",
        row("API calls per first sync", lambda s: side(res[s], "calls", "{:g}"), "Bulk: <= 10"),
        row(f"path (Bulk above {data['threshold']:,} rows)", lambda s: one(s)["mode"], "bulk"),
        row("worker peak memory, min / median", lambda s: side(res[s], "peak_mb", "{:g} MB"), "<= 300 MB"),
    ]
    if data["profiled"]:
        p = data["profiled"]
        lines += [
            "",
            f"One more {CUSTOM} run under cProfile: {p['seconds']:.1f} s ({p['rate']:,.0f} records/s under the "
            "profiler); top costs by own time:",
            "",
            "```",
            *p["top"],
            "```",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="one more Bench__c run under cProfile")
    parser.add_argument("--no-record", action="store_true", help="print the table, do not append to RESULTS.md")
    parser.add_argument("--prepare", metavar="LOGIN_URL", help=argparse.SUPPRESS)
    parser.add_argument("--measure", metavar="SOBJECT", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", dest="profile_path", default="", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.prepare:
        print(json.dumps(child_prepare(args.prepare)))
        return
    if args.measure:
        print(json.dumps(child_measure(args.measure, args.profile_path)))
        return
    data = bench(args.rows, args.runs, args.profile)
    (REPO / "bench" / "out").mkdir(exist_ok=True)
    (REPO / "bench" / "out" / "custom_object_bench.json").write_text(json.dumps(data, indent=1))
    text = report(data, " ".join(sys.argv))
    print(text)
    if not args.no_record:
        with (REPO / "bench" / "RESULTS.md").open("a") as results_file:
            results_file.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
