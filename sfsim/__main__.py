"""Command line: ``python -m sfsim serve|seed|scenario`` (see README.md)."""

import argparse
import os
import sys
import time
from pathlib import Path

from . import defaults
from .setup import SCENARIOS


def _scenario_help() -> str:
    return "scenarios:\n" + "\n".join(f"  {name:<26} {s.summary}" for name, s in SCENARIOS.items())


def _seed(data_dir: Path, spec: str) -> None:
    from .org import Org
    from .seed import seed

    org = Org(data_dir)
    started = time.monotonic()
    counts = seed(org.store, spec, org.now())
    org.set_scenario(org.store.setting("scenario") or "ready")
    total = sum(counts.values())
    print(f"seeded {spec} into {data_dir}: {total} records in {time.monotonic() - started:.1f}s")
    for table, n in counts.items():
        print(f"  {table:<22} {n}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sfsim",
        description="A simulated Salesforce org over HTTPS.",
        epilog=_scenario_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve the API and the OAuth login pages over HTTPS",
        epilog=_scenario_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default=defaults.HOST)
    serve.add_argument("--port", type=int, default=defaults.PORT)
    serve.add_argument("--data", default=defaults.DATA_DIR, help="data directory (default .sfsim/)")
    serve.add_argument("--seed", help="seed an empty org first: empty, demo or a record count N")
    serve.add_argument("--scenario", choices=sorted(SCENARIOS), help="switch the org's set-up before serving")
    serve.add_argument("--control", action="store_true", help="enable the control API under /_sfsim/ (loopback)")
    seed = sub.add_parser("seed", help="fill the org with deterministic, realistic data")
    seed.add_argument("--data", default=defaults.DATA_DIR)
    seed.add_argument("size", help="demo, or about N records in total")
    scen = sub.add_parser(
        "scenario",
        help="switch the org's set-up (records are kept)",
        epilog=_scenario_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scen.add_argument("--data", default=defaults.DATA_DIR)
    scen.add_argument("name", choices=sorted(SCENARIOS), metavar="NAME")
    args = parser.parse_args(argv)
    data_dir = Path(args.data)

    if args.command == "seed":
        _seed(data_dir, args.size)
        return 0
    if args.command == "scenario":
        from .org import Org

        Org(data_dir).set_scenario(args.name)
        print(f"{data_dir}: scenario {args.name}")
        return 0

    from .server import serve as run

    if args.seed and args.seed != "empty":
        from .org import Org
        from .seed import counts

        org = Org(data_dir)
        if sum(n for t, n in counts(org.store).items() if t != "User") == 0:
            _seed(data_dir, args.seed)
    control = args.control or os.environ.get(defaults.CONTROL_ENV) == "1"

    def ready(org, urls) -> None:
        print(f"sfsim serving org {org.org_id} ({org.store.setting('scenario')})", flush=True)
        print(f"  instance URL   {urls['instance']}")
        print(f"  login URL      {urls['login']}")
        print(f"  authorize      {urls['login']}/services/oauth2/authorize")
        print(f"  client id      {defaults.CLIENT_ID}")
        print(f"  client secret  {defaults.CLIENT_SECRET}")
        print(f"  admin user     {defaults.ADMIN_USERNAME}")
        print(f"  admin password {defaults.ADMIN_PASSWORD}")
        print(f"  CA file        {(data_dir / 'ca.pem').resolve()}")
        print(
            f"  control API    {'enabled at ' + urls['instance'] + '/_sfsim/' if control else 'disabled'}", flush=True
        )

    try:
        run(data_dir, args.host, args.port, control, ready=ready, scenario=args.scenario)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
