"""Run one benchmark on two versions of the code, interleaved, and compare their figures: is a change a regression
or the machine's noise? This machine is shared, so a figure from another hour says little; runs of the reference
and of the change taken in turns (reference, change, reference, change, ...) see the same spells of load.

    python bench/interleave.py --ref cb27ae1 --runs 3 -- bench/writeback_bench.py --size 100000 --no-record

The reference commit is checked out in a temporary git worktree and runs *its own* copy of the benchmark script;
the change is this checkout. The figures are read from the table each run prints (the patterns below), so the two
versions of the script need only print the same rows. Prints, per figure, each side's min and median and the
change's median as a ratio of the reference's, with the spread of each side (max/min), and appends the table to
bench/RESULTS.md unless ``--no-record``. Verdict: a regression when the change is worse in every run (the two sides'
ranges do not overlap), within noise when only the medians say worse, better when better in every run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Figure name -> (pattern with one number group, whether higher is better).
PATTERNS = {
    "Collections records/s": (r"one drain \(Collections\) \| [\d.]+ s = ([\d,]+) records/s", True),
    "Bulk records/s": (r"one drain \(Bulk API 2\.0\) \| [\d.]+ s = ([\d,]+) records/s", True),
    "activities/s": (r"one drain per object \| [\d.]+ s = ([\d,]+) activities/s", True),
    "latency median s": (r"single edits\) \| median ([\d.]+) s", False),
    "latency p95 s": (r"single edits\) \| median [\d.]+ s, p95 ([\d.]+) s", False),
    "10,000 edits through the edit path s": (r"10,000 activities logged \| ([\d.]+) s", False),
    "10,000 activities logged s": (r"10,000 activities logged \| [\d.]+ s; ([\d.]+) s", False),
    "first sync records/s": (r"first sync[^|]*\| [\d.]+ s = ([\d,]+) records/s", True),
}


def figures(output: str) -> dict[str, float]:
    found = {}
    for name, (pattern, _) in PATTERNS.items():
        match = re.search(pattern, output)
        if match:
            found[name] = float(match.group(1).replace(",", ""))
    return found


def run(checkout: Path, command: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, *command], cwd=checkout, env=env, capture_output=True, text=True, check=False
    )
    print(f"  {checkout.name}: {time.monotonic() - started:.0f} s, exit {done.returncode}", file=sys.stderr)
    if done.returncode not in (0, 1):  # 1: a benchmark's own target missed; its figures still count
        sys.exit(f"{' '.join(command)} failed in {checkout}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return figures(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", required=True, help="the reference commit")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the benchmark script and its arguments")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    ref = subprocess.run(["git", "rev-parse", "--short", args.ref], cwd=REPO, capture_output=True, text=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    sides: dict[str, list[dict[str, float]]] = {"reference": [], "change": []}
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as tmp:
        worktree = Path(tmp) / f"ref-{ref.stdout.strip()}"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(worktree), args.ref], cwd=REPO, check=True)
        try:
            if (REPO / ".env").exists():
                (worktree / ".env").write_text((REPO / ".env").read_text())
            for i in range(args.runs):
                print(f"round {i + 1} of {args.runs}", file=sys.stderr)
                sides["reference"].append(run(worktree, command))
                sides["change"].append(run(REPO, command))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, check=False)
    names = [name for name in PATTERNS if all(name in r for r in sides["reference"] + sides["change"])]
    lines = [
        f"## Interleaved comparison, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- machine: `{' '.join(platform.uname())}` ({os.cpu_count()} CPUs)",
        f"- command: `python bench/interleave.py --ref {args.ref} --runs {args.runs} -- {' '.join(command)}`",
        f"- reference {ref.stdout.strip()}, change {head.stdout.strip()} (this checkout, with any uncommitted work); "
        f"{args.runs} runs of each, taken in turns",
        "",
        "| figure | reference min / median | change min / median | change ÷ reference (medians) | spread "
        "(max ÷ min) ref / change | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        ref_values = [r[name] for r in sides["reference"]]
        new_values = [r[name] for r in sides["change"]]
        ratio = statistics.median(new_values) / statistics.median(ref_values)
        spread_ref = max(ref_values) / min(ref_values) if min(ref_values) else float("inf")
        spread_new = max(new_values) / min(new_values) if min(new_values) else float("inf")
        higher_better = PATTERNS[name][1]
        worse = ratio < 1 if higher_better else ratio > 1
        # Worse in every run (the two sides' ranges do not overlap) is a regression; worse in the medians only is
        # the machine's noise; better in every run is an improvement.
        if higher_better:
            all_worse, all_better = max(new_values) < min(ref_values), min(new_values) > max(ref_values)
        else:
            all_worse, all_better = min(new_values) > max(ref_values), max(new_values) < min(ref_values)
        verdict = (
            "regression" if all_worse else "better" if all_better else "within noise" if worse else "no regression"
        )
        lines.append(
            f"| {name} | {min(ref_values):g} / {statistics.median(ref_values):g} | {min(new_values):g} / "
            f"{statistics.median(new_values):g} | {ratio:.2f} | {spread_ref:.2f} / {spread_new:.2f} | {verdict} |"
        )
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        with (REPO / "bench" / "RESULTS.md").open("a") as results_file:
            results_file.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
