"""Resident memory of the service and of an agent, with 10,000 pending jobs and 64 agents.

Real processes, as the farm tests run them (tests/support/farm.py): `capcut-mate serve`,
and 64 `capcut-mate agent` processes running the command exporter with
tests/support/fake_export.py (a stage a second). Once every agent runs a job, VmRSS of the
service and of each agent process (its export child apart) is sampled twice a second;
the figures are the largest samples. --quick starts 4 agents, not 64.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from benchmarks import fixtures, harness
from benchmarks.harness import Row
from capcut_mate.database.store import Store
from support.farm import Farm

PENDING = 10_000
SERVICE_GOAL_MB, AGENT_GOAL_MB = 150, 60


def run(quick: bool) -> list[Row]:
    agents = 4 if quick else 64
    seconds = 3 if quick else 30
    with harness.fresh_database() as dsn, harness.scratch_dir("memory") as scratch:
        asyncio.run(fixtures.fill_pending(dsn, PENDING, "memory"))
        samples = asyncio.run(_sample(dsn, scratch, agents, seconds))
    service_peak, agent_peak = max(samples["service"]), max(samples["agent"])
    how = f"{PENDING:,} pending jobs, {agents} agent processes, sampled for {seconds} s once all were running jobs"
    return [
        Row(f"service resident memory, {agents} agents", service_peak, "MB", goal=f"≤ {SERVICE_GOAL_MB} MB",
            met=service_peak <= SERVICE_GOAL_MB,
            note=f"{how}; first sample {samples['service'][0]:.0f} MB, last {samples['service'][-1]:.0f} MB"),
        Row("agent resident memory (largest agent)", agent_peak, "MB", goal=f"≤ {AGENT_GOAL_MB} MB",
            met=agent_peak <= AGENT_GOAL_MB,
            note=f"median agent {sorted(samples['agent'])[len(samples['agent']) // 2]:.0f} MB"),
    ]


async def _sample(dsn: str, scratch: Path, agents: int, seconds: float) -> dict[str, list[float]]:
    store = await Store.open(dsn, pool_size=2)
    farm = Farm(scratch, dsn, store)
    try:
        service = farm.start_service()
        for n in range(agents):
            await farm.start_agent(f"agent-{n:02d}", service, stage_seconds=1.0)
        await _until_all_busy(store, agents, timeout=30 + agents)
        samples: dict[str, list[float]] = {"service": [], "agent": []}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            samples["service"].append(harness.rss_mb(service.process.pid))
            samples["agent"] += [harness.rss_mb(agent.process.pid) for agent in farm.agents]
            await asyncio.sleep(0.5)
        return samples
    finally:
        await farm.close()
        await store.close()


async def _until_all_busy(store: Store, agents: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await store.pool.fetchval("SELECT count(*) FROM capcut_mate.video_jobs WHERE status = 'processing'") < agents:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {agents} agents running jobs after {timeout} s")
        await asyncio.sleep(0.2)
