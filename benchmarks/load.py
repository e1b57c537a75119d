"""Load in Python, for the figures wrk cannot make: clients and agents talking to the
service over HTTP, run inside a child process (benchmarks/child.py) so the load never
shares a process with the service."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp

from capcut_mate.protocol.agent import AGENT_PREFIX
from capcut_mate.protocol.jobs import STAGES

# The progress reports of one export: each stage as the fake exporter reports it.
EXPORT_REPORTS = list(STAGES.items())
VIDEO_URL = "https://videos.example.com/benchmark.mp4"


def http_session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def _post(session: aiohttp.ClientSession, url: str, body: dict, headers: dict | None = None) -> dict:
    async with session.post(url, json=body, headers=headers) as response:
        answer = await response.json(content_type=None)
        if response.status != 200 or answer.get("code", 0) != 0:
            raise RuntimeError(f"POST {url}: {response.status} {answer}")
        return answer


async def submit(session: aiohttp.ClientSession, service_url: str, draft_url: str) -> dict:
    return await _post(session, f"{service_url}/v1/gen_video", {"draft_url": draft_url})


async def status(session: aiohttp.ClientSession, service_url: str, draft_url: str) -> dict:
    return await _post(session, f"{service_url}/v1/gen_video_status", {"draft_url": draft_url})


class HttpAgent:
    """One export agent's protocol calls (AGENT_PROTOCOL.md), without an exporter."""

    def __init__(self, session: aiohttp.ClientSession, service_url: str, token: str):
        self.session = session
        self.base = service_url + AGENT_PREFIX
        self.headers = {"Authorization": f"Bearer {token}"}

    async def claim(self, *, wait: float = 0.0, max_jobs: int = 1) -> list[dict]:
        answer = await _post(self.session, f"{self.base}/claim", {"wait": wait, "max_jobs": max_jobs}, self.headers)
        return answer["jobs"]

    async def progress(self, job: dict, progress: int, stage: str | None = None) -> dict:
        body = {"attempt": job["attempt"], "progress": progress, "stage": stage}
        return await _post(self.session, f"{self.base}/jobs/{job['id']}/progress", body, self.headers)

    async def complete(self, job: dict) -> dict:
        body = {"attempt": job["attempt"], "video_url": VIDEO_URL}
        return await _post(self.session, f"{self.base}/jobs/{job['id']}/complete", body, self.headers)

    async def export(self, job: dict) -> None:
        """What an agent sends for one job: each stage's progress, then the result."""
        for progress, stage in EXPORT_REPORTS:
            await self.progress(job, progress, stage)
        await self.complete(job)


async def for_duration(seconds: float, workers: int, step: Callable[[int], Awaitable[int]]) -> dict:
    """Run `workers` loops of `step(worker)` for `seconds`; each step answers how many units
    of work it did. Counts only steps that finished in time; reports units per second and
    the steps' p50/p99 latency."""
    deadline = time.perf_counter() + seconds
    units = 0
    latencies: list[float] = []

    async def loop(worker: int) -> None:
        nonlocal units
        while (started := time.perf_counter()) < deadline:
            done = await step(worker)
            finished = time.perf_counter()
            if finished <= deadline:
                units += done
                latencies.append(finished - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop(worker) for worker in range(workers)))
    elapsed = min(time.perf_counter(), deadline) - started
    return {"per_second": units / elapsed, "units": units, **latency_summary(latencies)}


def latency_summary(seconds: list[float]) -> dict:
    if not seconds:
        return {"p50_ms": None, "p99_ms": None, "samples": 0}
    ordered = sorted(seconds)
    return {
        "p50_ms": ordered[len(ordered) // 2] * 1e3,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3,
        "samples": len(ordered),
    }


async def post_rate(url: str, draft_prefix: str, drafts: int, connections: int, seconds: float) -> dict:
    """wrk's job in Python, for machines without wrk: `connections` clients posting
    {"draft_url": <draft_prefix><n>} bodies, n random in 1…drafts, as fast as answers come."""
    async with http_session(connections) as session:

        async def one(_worker: int) -> int:
            body = {"draft_url": f"{draft_prefix}{random.randint(1, drafts)}"}
            async with session.post(url, json=body) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"POST {url}: {response.status}: a figure of failures would mean nothing")
                return 1

        result = await for_duration(seconds, connections, one)
    return {"requests_per_s": result["per_second"], "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"]}
