"""A soak run: `python -m benchmarks.soak --minutes 10` (fractions allowed: --minutes 1.5).

Two `capcut-mate serve` processes and 32 real `capcut-mate agent` processes (the command
exporter running tests/support/fake_export.py, half the agents on each service), on a
fresh database, for as long as asked. Meanwhile:
- the queue is kept fed: one job pending per agent, a tenth of them failing at 50 %
  (`…fail…` drafts) and a tenth asking for a retry (`…retry…`);
- every KILL_EVERY seconds a random agent gets SIGKILL, and a new one takes its place
  (its job comes back when its lease, LEASE_SECONDS, runs out);
- every CANCEL_EVERY seconds a random recent draft is cancelled.
Every REPORT_EVERY seconds it prints the jobs done, the invariant violations
(capcut_mate.invariant_violations over every draft submitted: must stay 0), the dead
tuples of video_jobs and job_events, and each service's resident memory; the last two
must stay flat (where the server runs with autovacuum off, the soak vacuums every
VACUUM_EVERY seconds in its place, and says so). Exits 1 if any invariant was ever violated. Printed, not run in CI.

Resident memory rises for a while whatever the code does (the allocator keeps what it
freed, and reuses it). With --trace-heap the services run with allocation tracing on and
each reading also prints what Python holds (a heap snapshot per service, on SIGUSR1):
a leak grows there; an allocator's settling does not. Tracing and its snapshots take
memory of their own: read resident memory from a run without it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import time
import tracemalloc
from pathlib import Path

import aiohttp

from benchmarks import fixtures, harness
from capcut_mate.database.store import Store
from capcut_mate.server.serve import HEAP_SNAPSHOTS
from support.farm import Farm

AGENTS = 32
SERVICES = 2
LEASE_SECONDS = 5
STAGE_SECONDS = 0.5
KILL_EVERY = 15.0
CANCEL_EVERY = 5.0
REPORT_EVERY = 30.0
VACUUM_EVERY = 60.0  # autovacuum's default naptime
# One frame: enough for the total, and quick to snapshot (the service pauses meanwhile).
TRACE_FRAMES = "1"

_DEAD_TUPLES = """
SELECT coalesce(sum(n_dead_tup) FILTER (WHERE relname = 'video_jobs'), 0) AS video_jobs,
       coalesce(sum(n_dead_tup) FILTER (WHERE relname LIKE 'job\\_events%'), 0) AS job_events
FROM pg_stat_user_tables WHERE schemaname = 'capcut_mate'
"""


class Soak:
    def __init__(self, farm: Farm, store: Store, deadline: float, report_every: float, trace_heap: bool = False):
        self.farm, self.store = farm, store
        self.trace_heap = trace_heap
        self.deadline, self.report_every = deadline, report_every
        self.services = []
        self.submitted: list[str] = []
        self.generation = 0
        self.kills = self.cancels = 0
        self.readings: list[dict] = []

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    async def start(self, services: int, agents: int) -> None:
        # Tracing, when asked, in the services only (agents inherit the environment).
        if self.trace_heap:
            os.environ["PYTHONTRACEMALLOC"] = TRACE_FRAMES
        try:
            self.services = [self.farm.start_service(lease_seconds=str(LEASE_SECONDS)) for _ in range(services)]
        finally:
            os.environ.pop("PYTHONTRACEMALLOC", None)
        for n in range(agents):
            await self._start_agent(n)

    async def _start_agent(self, slot: int) -> None:
        self.generation += 1
        service = self.services[slot % len(self.services)]
        await self.farm.start_agent(f"soak-{slot:02d}-{self.generation}", service, stage_seconds=STAGE_SECONDS)

    async def feed(self, agents: int) -> None:
        """Keep one job pending per agent."""
        while self.running():
            pending = await self.store.pool.fetchval(
                "SELECT count(*) FROM capcut_mate.video_jobs WHERE status = 'pending'")
            for _ in range(max(agents - pending, 0)):
                n = len(self.submitted)
                kind = random.choices(["ok", "fail", "retry"], weights=[8, 1, 1])[0]
                draft_url = fixtures.draft_url(f"soak-{kind}-{n}")
                await self.farm.submit(random.choice(self.services), draft_url)
                self.submitted.append(draft_url)
            await asyncio.sleep(0.5)

    async def kill_agents(self) -> None:
        while self.running():
            await asyncio.sleep(KILL_EVERY)
            live = [(slot, agent) for slot, agent in enumerate(self.farm.agents) if agent.process.poll() is None]
            if live:
                slot, agent = random.choice(live)
                agent.kill()
                self.kills += 1
                await self._start_agent(slot)

    async def cancel_drafts(self) -> None:
        while self.running():
            await asyncio.sleep(CANCEL_EVERY)
            if not self.submitted:
                continue
            draft_url = random.choice(self.submitted[-AGENTS * 2:])
            service = random.choice(self.services)
            with contextlib.suppress(aiohttp.ClientError):
                async with self.farm.http.post(f"{service.url}/v1/cancel_video", json={"draft_url": draft_url}) as r:
                    self.cancels += r.status == 200

    async def vacuum_in_place_of_autovacuum(self) -> None:
        """Some servers run with autovacuum off (this project's CI server does); there dead
        tuples grow whatever the service does. Vacuuming as autovacuum would keeps the
        figure meaningful: what stays dead is what the service itself keeps from being
        removed (a transaction left open, a snapshot held)."""
        while self.running():
            await asyncio.sleep(VACUUM_EVERY)
            await self.store.pool.execute("VACUUM capcut_mate.video_jobs, capcut_mate.job_events")

    async def report(self, started: float) -> None:
        while self.running():
            await asyncio.sleep(min(self.report_every, max(self.deadline - time.monotonic(), 0.1)))
            await self.reading(started)

    async def reading(self, started: float) -> dict:
        statuses = await self.store.jobs_by_status()
        violations = await self.store.invariant_violations(self.submitted)
        dead = await self.store.pool.fetchrow(_DEAD_TUPLES)
        reading = {
            "elapsed": time.monotonic() - started,
            "done": statuses["completed"] + statuses["failed"],
            "violations": len(violations),
            "dead_jobs": dead["video_jobs"],
            "dead_events": dead["job_events"],
            "rss": [harness.rss_mb(service.process.pid) for service in self.services],
        }
        if self.trace_heap:
            reading["heap"] = await asyncio.gather(*(self._python_heap_mb(s.process.pid) for s in self.services))
        self.readings.append(reading)
        rss = " ".join(f"{mb:.0f}" for mb in reading["rss"])
        if self.trace_heap:
            rss += "  Python heap MB " + " ".join(f"{mb:.1f}" for mb in reading["heap"])
        print(f"{reading['elapsed']:6.0f} s  jobs done {reading['done']:6d} (completed {statuses['completed']}, "
              f"failed {statuses['failed']}, pending {statuses['pending']}, processing {statuses['processing']})  "
              f"violations {reading['violations']}  dead tuples video_jobs {reading['dead_jobs']} "
              f"job_events {reading['dead_events']}  service RSS MB {rss}  kills {self.kills} "
              f"cancels {self.cancels}", flush=True)
        for violation in violations[:5]:
            print(f"    {violation}", flush=True)
        return reading

    async def _python_heap_mb(self, pid: int) -> float:
        """What the service's Python holds now: it writes a tracemalloc snapshot on SIGUSR1."""
        folder = self.farm.tmp_path / "service-data" / HEAP_SNAPSHOTS
        before = set(folder.glob(f"{pid}-*.tracemalloc")) if folder.exists() else set()
        os.kill(pid, signal.SIGUSR1)
        for _ in range(600):
            await asyncio.sleep(0.1)
            written = set(folder.glob(f"{pid}-*.tracemalloc")) - before if folder.exists() else set()
            if written:
                (path,) = written
                snapshot = await asyncio.to_thread(tracemalloc.Snapshot.load, str(path))
                path.unlink()
                return sum(trace.size for trace in snapshot.traces) / 1e6
        raise RuntimeError(f"service {pid} wrote no heap snapshot in 60 s")


async def soak(dsn: str, scratch: Path, minutes: float, agents: int, services: int, report_every: float,
               trace_heap: bool = False) -> int:
    store = await Store.open(dsn, pool_size=4)
    farm = Farm(scratch, dsn, store)
    try:
        started = time.monotonic()
        print(f"starting {services} service process(es) and {agents} agent processes…", flush=True)
        soak = Soak(farm, store, started + minutes * 60, report_every, trace_heap)
        await soak.start(services, agents)
        print(f"running for {minutes:g} min (lease {LEASE_SECONDS} s, a kill every {KILL_EVERY:g} s, "
              f"a cancel every {CANCEL_EVERY:g} s)", flush=True)
        chores = [soak.feed(agents), soak.kill_agents(), soak.cancel_drafts(), soak.report(started)]
        if await store.pool.fetchval("SHOW autovacuum") == "off":
            print(f"autovacuum is off on this server: the soak vacuums video_jobs and job_events every "
                  f"{VACUUM_EVERY:g} s in its place", flush=True)
            chores.append(soak.vacuum_in_place_of_autovacuum())
        await asyncio.gather(*chores)
        last = await soak.reading(started)
        return _summary(soak.readings, last)
    finally:
        await farm.close()
        await store.close()


def _summary(readings: list[dict], last: dict) -> int:
    first = readings[0]
    heap = ""
    if "heap" in last:
        heap = (f"; Python heap MB {' '.join(f'{mb:.1f}' for mb in first['heap'])} → "
                f"{' '.join(f'{mb:.1f}' for mb in last['heap'])}")
    print(f"\n{last['done']} jobs done; dead tuples video_jobs {first['dead_jobs']} → {last['dead_jobs']}, "
          f"job_events {first['dead_events']} → {last['dead_events']}; service RSS MB "
          f"{' '.join(f'{mb:.0f}' for mb in first['rss'])} → {' '.join(f'{mb:.0f}' for mb in last['rss'])}{heap}")
    worst = max(reading["violations"] for reading in readings)
    print("invariants held throughout" if worst == 0 else f"INVARIANTS VIOLATED (up to {worst} at once)")
    return 0 if worst == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (fractions allowed; default 10)")
    parser.add_argument("--agents", type=int, default=AGENTS, help=f"agent processes (default {AGENTS})")
    parser.add_argument("--services", type=int, default=SERVICES, choices=(1, 2),
                        help=f"service processes (default {SERVICES})")
    parser.add_argument("--report-every", type=float, default=REPORT_EVERY, metavar="SECONDS",
                        help=f"seconds between readings (default {REPORT_EVERY:g})")
    parser.add_argument("--trace-heap", action="store_true",
                        help="run the services with allocation tracing and print what Python holds at each reading")
    args = parser.parse_args()
    with harness.fresh_database() as dsn, harness.scratch_dir("soak") as scratch:
        return asyncio.run(soak(dsn, scratch, args.minutes, args.agents, args.services, args.report_every,
                                args.trace_heap))


if __name__ == "__main__":
    sys.exit(main())
