"""`python -m benchmarks [--quick] [--only NAME ...]`: every figure, its reference, the ratio.

Each benchmark module answers `run(quick) -> list[Row]`. The table is printed; a full run
(without --quick, all benchmarks) also writes benchmarks/RESULTS.md with the machine's
facts and the notes in benchmarks/limits.md. A benchmark that breaks is reported and makes
the exit status 1; figures are never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from benchmarks import harness, profiles
from benchmarks.harness import Row

BENCHMARKS = [
    "status_polls",
    "lifecycle",
    "queue_throughput",
    "claim_latency",
    "progress_updates",
    "memory",
    "history_scale",
    "render",
    "story",
]
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
LIMITS = HERE / "limits.md"


def run_benchmark(name: str, quick: bool) -> list[Row]:
    module = importlib.import_module(f"benchmarks.{name}")
    if name != "render":
        return module.run(quick)
    # render.py, written before this harness, takes its database from the environment and
    # answers plain dicts.
    with harness.fresh_database() as dsn, _environment(CAPCUT_MATE_DATABASE_URL=dsn):
        return [_from_dict(row) for row in module.run(quick)]


@contextlib.contextmanager
def _environment(**variables: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _from_dict(row: dict) -> Row:
    return Row(row["figure"], row["value"], row["unit"], row.get("reference"), row.get("unit"), row.get("ratio"),
               goal="(no goal: for the record)")


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return f"{text} {unit}".strip()


def _met(row: Row) -> str:
    return {True: "yes", False: "NO", None: "—"}[row.met]


def table(rows: list[Row], *, markdown: bool) -> str:
    header = ("figure", "value", "reference", "ratio", "goal", "met")
    cells = [
        (row.figure, _number(row.value, row.unit), _number(row.reference, row.reference_unit or ""),
         "—" if row.ratio is None else f"{row.ratio:.2f}×", row.goal, _met(row))
        for row in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(str(line[i])) for line in [header, *cells]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *cells])


def notes(rows: list[Row], *, markdown: bool) -> str:
    bullet = "- " if markdown else "  "
    return "\n".join(f"{bullet}{row.figure}: {row.note}" for row in rows if row.note)


def write_results(rows: list[Row], facts: dict[str, str], failures: list[str], seconds: float) -> None:
    parts = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks` (a full run; `pip install -e '.[bench]'` and wrk first). Each figure, "
        "its reference measured in the same run, and the ratio; `benchmarks/README.md` says how each is measured.",
        "",
        *(f"- **{key}**: {value}" for key, value in facts.items()),
        f"- **run time**: {seconds / 60:.1f} min",
        "",
        table(rows, markdown=True),
        "",
        "## How each figure was measured",
        "",
        notes(rows, markdown=True),
    ]
    if failures:
        parts += ["", "## Benchmarks that failed", "", *(f"- {failure}" for failure in failures)]
    if LIMITS.exists():
        parts += ["", LIMITS.read_text(encoding="utf-8").strip()]
    RESULTS.write_text("\n".join(parts) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run, small and short (under two minutes)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample every service process with py-spy into DIR (python -m benchmarks.profiles DIR/*)")
    args = parser.parse_args()
    harness.PROFILE_DIR = args.profile
    started = time.monotonic()
    facts = harness.machine_facts()
    print("  ".join(f"{key}: {value}" for key, value in facts.items()), flush=True)
    rows: list[Row] = []
    failures: list[str] = []
    for name in args.only or BENCHMARKS:
        began = time.monotonic()
        print(f"[{name}] running…", flush=True)
        harness.PROFILE_LABEL = name
        try:
            rows += run_benchmark(name, args.quick)
        except Exception as error:
            traceback.print_exc()
            failures.append(f"{name}: {type(error).__name__}: {error}".splitlines()[0])
        print(f"[{name}] {time.monotonic() - began:.0f} s", flush=True)
    seconds = time.monotonic() - started
    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(table(rows, markdown=False))
    print()
    print(notes(rows, markdown=False))
    print(f"\n{len(rows)} figures in {seconds:.0f} s; load average at end {facts['load average at end']}")
    if args.profile:
        for path in sorted(args.profile.glob("*.txt")):
            print("\n" + profiles.summarize(path, top=10))
    for failure in failures:
        print(f"FAILED {failure}")
    if not args.quick and not args.only:
        write_results(rows, facts, failures, seconds)
        print(f"wrote {RESULTS.relative_to(harness.ROOT)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
