"""The store as a queue: claim + complete of 50,000 no-op jobs, against pgqueuer.

Both sides run in a child process of their own on the same PostgreSQL server, each in a
fresh database, with the same concurrency: CONSUMERS consumers, each on its own
connection, taking up to BATCH jobs per dequeue (pgqueuer's default batch size).

- The store: each consumer calls Store.claim(max_jobs=BATCH), then Store.complete for each
  job it got, until a claim comes back empty. Every claim and complete goes through the
  state machine's triggers and writes its history event.
- pgqueuer (the `bench` extra): CONSUMERS QueueManagers with a no-op entrypoint, run in
  drain mode (each stops when the queue is empty), each on its own connection.

Jobs are queued before the clock starts, set-based for the store and with pgqueuer's
batch enqueue for pgqueuer.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import asyncpg

from benchmarks import fixtures, harness
from benchmarks.harness import Row
from capcut_mate.database.store import AgentCredentials, Store
from support.agents import store_agent  # tests/ is on the path once benchmarks.harness is imported

CONSUMERS = 16
BATCH = 10
GOAL = 1.0
VIDEO_URL = "https://videos.example.com/noop.mp4"


def run(quick: bool) -> list[Row]:
    jobs = 5_000 if quick else 50_000
    with harness.fresh_database() as dsn:
        asyncio.run(fixtures.fill_pending(dsn, jobs, "queue"))
        before = harness.commits(dsn)
        with harness.CpuShares() as cpu:
            ours = harness.run_child("benchmarks.queue_throughput:drain_store", dsn=dsn, consumers=CONSUMERS,
                                     batch=BATCH)
        our_commits = (harness.commits(dsn) - before) / ours["jobs"]
    figure = f"store claim + complete of {jobs:,} no-op jobs, {CONSUMERS} consumers × batch {BATCH}"
    note = (f"store: {ours['jobs']:,} jobs in {ours['seconds']:.1f} s, {our_commits:.2f} commits per job "
            f"({cpu.summary(ours['jobs_per_s'], 'job')}; the load: the consumers)")
    try:
        import pgqueuer  # noqa: F401  (only to tell whether the bench extra is installed)
    except ImportError:
        return [Row(figure, ours["jobs_per_s"], "jobs/s", goal=f"≥ {GOAL}× pgqueuer", met=None,
                    note=note + "; pgqueuer not installed (pip install -e '.[bench]'): no reference")]
    with harness.fresh_database(migrate=False) as pgq_dsn:
        before = harness.commits(pgq_dsn)
        with harness.CpuShares() as their_cpu:
            theirs = harness.run_child("benchmarks.queue_throughput:drain_pgqueuer", dsn=pgq_dsn, jobs=jobs,
                                       consumers=CONSUMERS, batch=BATCH)
        # Their schema install and batched enqueue count too: about a dozen, next to the jobs' commits.
        their_commits = (harness.commits(pgq_dsn) - before) / theirs["jobs"]
    return [
        Row(figure, ours["jobs_per_s"], "jobs/s", theirs["jobs_per_s"], f"jobs/s (pgqueuer {theirs['version']})",
            goal=f"≥ {GOAL}× pgqueuer", met=ours["jobs_per_s"] >= GOAL * theirs["jobs_per_s"],
            note=f"{note}; pgqueuer: {theirs['jobs']:,} jobs in {theirs['seconds']:.1f} s, {their_commits:.2f} "
                 f"commits per job, same server, {CONSUMERS} QueueManagers in drain mode "
                 f"({their_cpu.summary(theirs['jobs_per_s'], 'job')}; the load: pgqueuer)"),
    ]


async def drain_store(dsn: str, consumers: int, batch: int) -> dict:
    store = await Store.open(dsn, pool_size=consumers)
    done = 0

    async def consume(agent: AgentCredentials) -> None:
        nonlocal done
        while jobs := await store.claim(agent, [], max_jobs=batch, lease_seconds=60):
            for job in jobs:
                await store.complete(job.id, job.attempt, agent, video_url=VIDEO_URL)
            done += len(jobs)

    try:
        agents = [await store_agent(store, f"consumer-{n}") for n in range(consumers)]
        await _fill_pool(store.pool, consumers)
        started = time.perf_counter()
        await asyncio.gather(*(consume(agent) for agent in agents))
        seconds = time.perf_counter() - started
    finally:
        await store.close()
    return {"jobs": done, "seconds": seconds, "jobs_per_s": done / seconds}


async def _fill_pool(pool: asyncpg.Pool, size: int) -> None:
    """Open every connection before the clock starts, as pgqueuer's side does."""
    connections = [await pool.acquire() for _ in range(size)]
    for connection in connections:
        await pool.release(connection)


async def drain_pgqueuer(dsn: str, jobs: int, consumers: int, batch: int) -> dict:
    import pgqueuer
    from pgqueuer import QueueManager
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.models import Job
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    connections = [await asyncpg.connect(dsn) for _ in range(consumers)]
    try:
        queries = Queries(AsyncpgDriver(connections[0]))
        await queries.install()  # what `pgq install` does
        for start in range(0, jobs, 5000):
            count = min(5000, jobs - start)
            await queries.enqueue(["noop"] * count, [None] * count, [0] * count)
        done = 0
        managers = []
        for connection in connections:
            manager = QueueManager(Queries(AsyncpgDriver(connection)))

            @manager.entrypoint("noop")
            async def noop(job: Job) -> None:
                nonlocal done
                done += 1

            managers.append(manager)
        started = time.perf_counter()
        await asyncio.gather(*(
            manager.run(batch_size=batch, mode=QueueExecutionMode.drain, dequeue_timeout=timedelta(seconds=1))
            for manager in managers
        ))
        seconds = time.perf_counter() - started
        left = await connections[0].fetchval("SELECT count(*) FROM pgqueuer")
    finally:
        for connection in connections:
            await connection.close()
    if left:
        raise RuntimeError(f"pgqueuer left {left} jobs in its queue")
    return {"jobs": done, "seconds": seconds, "jobs_per_s": done / seconds, "version": pgqueuer.__version__}
