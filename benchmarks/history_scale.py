"""History at scale: 1,000,000 finished jobs and 10,000,000 events (--quick: 20,000 and 200,000).

The same measurements on the empty database and then on the filled one, each with a
freshly started service:
- claim latency: submit one job, then time an agent's claim of it (wait 0);
- gen_video_status latency: one client polling, one poll after another, the drafts the
  claim probe just ran (recent jobs, as clients poll them); on the filled database also
  random drafts of the history, so the lookups reach the whole table (in the note);
- `capcut-mate report --since 24h`, the command itself in a subprocess, start-up included.
The history is filled set-based (benchmarks/fixtures.py), spread over the last 60 days.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from benchmarks import fixtures, harness, load
from benchmarks.harness import Row

RATIO_GOAL = 1.2
REPORT_GOAL_SECONDS = 1.0
HISTORY_PREFIX = "hist"


def run(quick: bool) -> list[Row]:
    jobs, events_per_job = (20_000, 10) if quick else (1_000_000, 10)
    polls, claims, reports = (200, 20, 1) if quick else (3000, 300, 3)
    with harness.fresh_database() as dsn, harness.scratch_dir("history") as scratch:
        token = asyncio.run(harness.agent_tokens(dsn, 1))[0]
        empty = _measure(dsn, scratch, token, "empty", polls, claims, history=0)
        empty_report = _time_report(dsn, 1)
        filled_in = time.perf_counter()
        asyncio.run(fixtures.fill_history(dsn, jobs, events_per_job, prefix=HISTORY_PREFIX))
        fill_seconds = time.perf_counter() - filled_in
        filled = _measure(dsn, scratch, token, "filled", polls, claims, history=jobs)
        report_times = _time_report(dsn, reports)
    scale = f"{jobs:,} finished jobs, {jobs * events_per_job:,} events"
    report_seconds = statistics.median(report_times)
    return [
        _ratio_row(f"gen_video_status latency p50, {scale}", filled["status"], empty["status"],
                   note=f"{polls} polls from one client of recent drafts; the same of random drafts of the "
                        f"history: p50 {filled['history']['p50_ms']:.2f} ms, p99 {filled['history']['p99_ms']:.2f} "
                        f"ms; the fill took {fill_seconds:.0f} s, VACUUM ANALYZE included"),
        _ratio_row(f"claim latency p50, {scale}", filled["claim"], empty["claim"],
                   note=f"{claims} claims (wait 0) of a just-submitted job"),
        Row(f"`capcut-mate report --since 24h`, {scale}", report_seconds, "s", empty_report[0],
            "s (empty database)", goal=f"< {REPORT_GOAL_SECONDS:g} s", met=report_seconds < REPORT_GOAL_SECONDS,
            note="the command in a subprocess, Python start-up and schema check included; "
                 f"median of {len(report_times)}: " + ", ".join(f"{t:.2f} s" for t in report_times)),
    ]


def _ratio_row(figure: str, filled: dict, empty: dict, note: str) -> Row:
    p99_ratio = filled["p99_ms"] / empty["p99_ms"]
    return Row(figure, filled["p50_ms"], "ms", empty["p50_ms"], "ms (empty database)",
               goal=f"≤ {RATIO_GOAL}× empty", met=filled["p50_ms"] <= RATIO_GOAL * empty["p50_ms"],
               note=f"{note}; p99 {filled['p99_ms']:.2f} ms filled vs {empty['p99_ms']:.2f} ms empty "
                    f"({p99_ratio:.2f}×)")


def _measure(dsn: str, scratch: Path, token: str, label: str, polls: int, claims: int, history: int) -> dict:
    with harness.service(dsn, scratch) as service:
        return harness.run_child("benchmarks.history_scale:probe", url=service.url, token=token, label=label,
                                 polls=polls, claims=claims, history=history)


async def probe(url: str, token: str, label: str, polls: int, claims: int, history: int) -> dict:
    """Claim latency of `claims` fresh jobs; status latency of `polls` polls of those jobs'
    drafts, and with a history, of as many polls of random drafts of it."""
    async with load.http_session(2) as session:
        agent = load.HttpAgent(session, url, token)
        claim_times, drafts = [], []
        for n in range(claims + 5):  # the first five warm up
            draft_url = fixtures.draft_url(f"probe-{label}-{n}")
            await load.submit(session, url, draft_url)
            started = time.perf_counter()
            jobs = await agent.claim(wait=0)
            if n >= 5:
                claim_times.append(time.perf_counter() - started)
            for job in jobs:
                await agent.complete(job)
            drafts.append(draft_url)
        recent = await _poll_latency(session, url, polls, lambda: random.choice(drafts))
        history_drafts = await _poll_latency(
            session, url, polls if history else 0,
            lambda: fixtures.draft_url(f"{HISTORY_PREFIX}-{random.randint(1, history)}"))
    return {"claim": load.latency_summary(claim_times), "status": recent, "history": history_drafts}


async def _poll_latency(session: aiohttp.ClientSession, url: str, polls: int, next_draft: Callable[[], str]) -> dict:
    """p50/p99 of `polls` gen_video_status polls, one at a time, after 20 unmeasured."""
    times: list[float] = []
    for n in range(polls + 20 if polls else 0):
        draft_url = next_draft()
        started = time.perf_counter()
        await load.status(session, url, draft_url)
        if n >= 20:
            times.append(time.perf_counter() - started)
    return load.latency_summary(times)


def _time_report(dsn: str, times: int) -> list[float]:
    env = harness.command_env(database_url=dsn, log_level="WARNING")
    took = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "capcut_mate", "report", "--since", "24h"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
        took.append(time.perf_counter() - started)
    return took

