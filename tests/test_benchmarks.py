"""The benchmark code's own moving parts, without running a benchmark (`.ci/run` runs
`python -m benchmarks --quick` for that). Nothing here looks at a timing."""

from __future__ import annotations

import asyncio
import re
import sys
from collections import defaultdict
from pathlib import Path

import asyncpg

from capcut_mate.database.migrations import upgrade_to_head
from capcut_mate.database.store import QUERIES
from support.history import expected_stage_durations, expected_stage_endings, recorded_stage_endings
from support.postgres import throwaway_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ sits beside tests/, not installed
from benchmarks import fixtures, lifecycle, profiles  # noqa: E402
from benchmarks.__main__ import notes, table  # noqa: E402
from benchmarks.harness import Row  # noqa: E402


def test_the_pgbench_reference_runs_the_stores_statements_with_every_parameter_bound():
    script = lifecycle.pgbench_script()
    assert not re.search(r"\$\d", script), "a $n parameter was left unbound"
    for name in ("submit_job", "claim_jobs", "report_progress", "complete_job"):
        first_line = next(line for line in QUERIES[name].splitlines() if not line.startswith("--"))
        assert first_line in script, name
    assert script.count("UPDATE video_jobs\nSET progress") == 6


def test_the_table_shows_each_figure_with_its_reference_ratio_and_goal():
    rows = [
        Row("polls/s", 500.0, "req/s", 1000.0, "req/s (bare)", goal="≥ 0.6× bare", met=False, note="wrk"),
        Row("p99", 12.5, "ms", goal="≤ 20 ms", met=True),
    ]
    assert rows[0].ratio == 0.5
    text = table(rows, markdown=False)
    assert "0.50×" in text and "NO" in text and "yes" in text and "1,000 req/s (bare)" in text
    assert table(rows, markdown=True).count("\n") == 3
    assert notes(rows, markdown=True) == "- polls/s: wrk"


def test_a_profile_summary_names_the_functions_with_the_most_samples(tmp_path: Path):
    stacks = tmp_path / "status.txt"
    stacks.write_text("main (a.py:1);handler (b.py:2);query (c.py:3) 30\nmain (a.py:1);handler (b.py:2) 10\n")
    summary = profiles.summarize(stacks, top=2)
    assert "40 samples" in summary
    assert " 75.0%  query (c.py:3)" in summary and "100.0%  handler (b.py:2)" in summary


def test_the_benchmark_history_reads_like_one_the_service_wrote(postgres_url):
    """fill_history writes events past the triggers; its stage endings must be the ones the
    history trigger would have written, or the report benchmark measures another query."""

    async def read(dsn: str):
        connection = await asyncpg.connect(dsn)
        try:
            events = defaultdict(list)
            for row in await connection.fetch("SELECT * FROM capcut_mate.job_events ORDER BY id"):
                events[row["job_id"]].append(dict(row))
            stages = {tuple(r) for r in await connection.fetch("SELECT * FROM capcut_mate.stage_durations")}
            return events, stages
        finally:
            await connection.close()

    with throwaway_database(postgres_url) as dsn:
        upgrade_to_head(dsn)
        asyncio.run(fixtures.fill_history(dsn, 30, 10))
        events, stages = asyncio.run(read(dsn))
    assert sum(len(timeline) for timeline in events.values()) == 300
    assert recorded_stage_endings(events) == expected_stage_endings(events)
    assert stages == expected_stage_durations(events)
    assert len(stages) == 30 * 6
