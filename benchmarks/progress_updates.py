"""Progress reports from 64 agents, and how many of video_jobs' updates stay HOT.

Each agent (Python, in a child process) claims a job, reports progress 11, 12, … 90 (each
a change, so each writes a history event), completes it and claims the next. The figure
counts progress calls per second. The HOT share is n_tup_hot_upd / n_tup_upd of
video_jobs over the run, claims and completes included (they change indexed columns and
can never be HOT). Reference: pgbench's built-in simple-update, 64 clients, same server.
"""

from __future__ import annotations

import asyncio

from benchmarks import fixtures, harness, load
from benchmarks.harness import Row

AGENTS = 64
GOAL = 0.5
HOT_GOAL = 0.90
FIRST, LAST = 11, 90


def run(quick: bool) -> list[Row]:
    seconds = 2 if quick else 30
    with harness.fresh_database() as dsn, harness.scratch_dir("progress") as scratch:
        asyncio.run(fixtures.fill_pending(dsn, 2_000 if quick else 20_000, "progress"))
        tokens = asyncio.run(harness.agent_tokens(dsn, AGENTS))
        before = harness.table_stats(dsn, "video_jobs")
        with harness.service(dsn, scratch) as service:
            with harness.CpuShares(*harness.process_tree(service.process.pid)) as cpu:
                measured = harness.run_child("benchmarks.progress_updates:agents", url=service.url,
                                             tokens=tokens, seconds=seconds)
        after = harness.table_stats(dsn, "video_jobs")  # the service's connections have closed
    with harness.fresh_database(migrate=False) as pgbench_dsn:
        harness.pgbench_init(pgbench_dsn, scale=1)
        reference = harness.pgbench(pgbench_dsn, "-b", "simple-update", "-M", "prepared", clients=AGENTS,
                                    seconds=seconds)
    updates = after["n_tup_upd"] - before["n_tup_upd"]
    hot = (after["n_tup_hot_upd"] - before["n_tup_hot_upd"]) / updates if updates else 0.0
    return [
        Row(f"progress updates/s, {AGENTS} agents", measured["per_second"], "updates/s", reference["tps"],
            "tps (pgbench simple-update)", goal=f"≥ {GOAL}× pgbench", met=measured["per_second"] >= GOAL *
            reference["tps"],
            note=f"Python aiohttp agents in a child process, {seconds} s after a 1 s warm-up; p50 "
                 f"{measured['p50_ms']:.1f} ms, p99 {measured['p99_ms']:.1f} ms per call; pgbench -M prepared, "
                 f"scale 1, {AGENTS} clients; {cpu.summary(measured['per_second'], 'update')}"),
        Row("HOT updates of video_jobs during that run", hot * 100, "%", goal=f"≥ {HOT_GOAL:.0%}",
            met=hot >= HOT_GOAL, note=f"{updates:,} updates (pg_stat_user_tables), claims and completes included"),
    ]


async def agents(url: str, tokens: list[str], seconds: float) -> dict:
    async with load.http_session(len(tokens)) as session:
        http_agents = [load.HttpAgent(session, url, token) for token in tokens]
        running: list[dict | None] = [None] * len(tokens)
        progress = [LAST] * len(tokens)

        async def report(worker: int) -> int:
            agent = http_agents[worker]
            if progress[worker] >= LAST:  # done with this job (or none yet): the next one
                if running[worker] is not None:
                    await agent.complete(running[worker])
                jobs = await agent.claim(wait=1)
                running[worker] = jobs[0] if jobs else None
                progress[worker] = FIRST - 1
                if not jobs:
                    return 0
            progress[worker] += 1
            await agent.progress(running[worker], progress[worker])
            return 1

        await load.for_duration(1, len(tokens), report)  # warm-up
        return await load.for_duration(seconds, len(tokens), report)
