"""From gen_video to an agent holding the job, with agents long-polling.

AGENTS agents wait in long-polling claims; a client submits one draft at a time. The
latency runs from the moment the submit is sent to the moment an agent's claim answer
with that draft arrives: the INSERT, its NOTIFY, the service's LISTEN connection waking
one waiting claim, that claim's query and its answer. Agent and client live in the same
child process, so both ends are read off one clock.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks import fixtures, harness, load
from benchmarks.harness import Row

AGENTS = 16
P50_GOAL_MS, P99_GOAL_MS = 5.0, 25.0


def run(quick: bool) -> list[Row]:
    submits = 50 if quick else 1000
    with harness.fresh_database() as dsn, harness.scratch_dir("claim-latency") as scratch:
        tokens = asyncio.run(harness.agent_tokens(dsn, AGENTS))
        with harness.service(dsn, scratch) as service:
            result = harness.run_child("benchmarks.claim_latency:submit_to_claim", url=service.url, tokens=tokens,
                                       submits=submits)
    return [
        Row(f"submit → claim latency p50, {AGENTS} agents long-polling", result["p50_ms"], "ms",
            goal=f"≤ {P50_GOAL_MS:g} ms", met=result["p50_ms"] <= P50_GOAL_MS,
            note=f"{result['samples']} submits one at a time, 20 ms apart, after 10 unmeasured"),
        Row(f"submit → claim latency p99, {AGENTS} agents long-polling", result["p99_ms"], "ms",
            goal=f"≤ {P99_GOAL_MS:g} ms", met=result["p99_ms"] <= P99_GOAL_MS),
    ]


async def submit_to_claim(url: str, tokens: list[str], submits: int, warmup: int = 10, gap: float = 0.02) -> dict:
    sent: dict[str, float] = {}
    claimed: dict[str, asyncio.Future] = {}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def arrival(draft_url: str) -> asyncio.Future:
        return claimed.setdefault(draft_url, loop.create_future())

    async with load.http_session(2 * len(tokens) + 2) as session:

        async def agent(token: str) -> None:
            http_agent = load.HttpAgent(session, url, token)
            while not stop.is_set():
                for job in await http_agent.claim(wait=2):
                    arrival(job["draft_url"]).set_result(time.perf_counter())
                    await http_agent.complete(job)

        agents = [asyncio.create_task(agent(token)) for token in tokens]
        await asyncio.sleep(1.0)  # every agent is waiting in a claim
        latencies = []
        for n in range(warmup + submits):
            draft_url = fixtures.draft_url(f"latency-{n}")
            sent[draft_url] = time.perf_counter()
            await load.submit(session, url, draft_url)
            claimed_at = await asyncio.wait_for(arrival(draft_url), 30)
            if n >= warmup:
                latencies.append(claimed_at - sent[draft_url])
            await asyncio.sleep(gap)
        stop.set()
        await asyncio.gather(*agents)
    return load.latency_summary(latencies)
