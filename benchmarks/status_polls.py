"""gen_video_status under 64 concurrent clients, with 100,000 jobs in the table.

Reference: a bare aiohttp handler in a process of its own, answering the very JSON the
service answered, without the database; both get the same load (wrk, or the Python load
generator when wrk is missing), polling random drafts among the table's.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from benchmarks import fixtures, harness, load
from benchmarks.harness import Row

CLIENTS = 64
PREFIX = "status"
THROUGHPUT_GOAL = 0.6
P99_GOAL_MS = 20.0


def run(quick: bool) -> list[Row]:
    jobs = 10_000 if quick else 100_000
    seconds = 2 if quick else 20
    with harness.fresh_database() as dsn, harness.scratch_dir("status") as scratch:
        asyncio.run(fixtures.fill_history(dsn, jobs, events_per_job=0, prefix=PREFIX))
        with harness.service(dsn, scratch) as service:
            body = asyncio.run(_one_answer(service.url))
            with harness.CpuShares(*harness.process_tree(service.process.pid)) as cpu:
                measured = poll(f"{service.url}/v1/gen_video_status", jobs, seconds, scratch)
        port = harness.free_port()
        with harness.background_child("benchmarks.status_polls:serve_bare", port, body=body):
            bare = poll(f"http://127.0.0.1:{port}/v1/gen_video_status", jobs, seconds, scratch)
    how = (f"{measured['tool']}, {CLIENTS} connections, {seconds} s after a warm-up; {jobs:,} jobs in the table; "
           f"{cpu.summary(measured['requests_per_s'])}")
    return [
        Row(f"gen_video_status requests/s, {CLIENTS} clients", measured["requests_per_s"], "req/s",
            bare["requests_per_s"], "req/s (bare aiohttp handler)", goal=f"≥ {THROUGHPUT_GOAL}× bare handler",
            met=measured["requests_per_s"] >= THROUGHPUT_GOAL * bare["requests_per_s"], note=how),
        Row(f"gen_video_status latency p99, {CLIENTS} clients", measured["p99_ms"], "ms",
            goal=f"p99 ≤ {P99_GOAL_MS:g} ms", met=measured["p99_ms"] <= P99_GOAL_MS,
            note=f"p50 {measured['p50_ms']:.2f} ms; bare handler p50 {bare['p50_ms']:.2f} ms, "
                 f"p99 {bare['p99_ms']:.2f} ms"),
    ]


async def _one_answer(service_url: str) -> str:
    async with load.http_session(1) as session:
        answer = await load.status(session, service_url, fixtures.draft_url(f"{PREFIX}-1"))
    return json.dumps(answer, ensure_ascii=False)


def poll(url: str, jobs: int, seconds: float, scratch) -> dict:
    """Requests/s and p50/p99 of polls of random drafts, after a one-second warm-up."""
    before, after = json.dumps({"draft_url": fixtures.draft_url(f"{PREFIX}-")})[:-2], '"}'
    if harness.have_wrk():
        script = harness.wrk_post_script(scratch, before, after, jobs)
        harness.wrk(url, script, connections=CLIENTS, seconds=1)
        return {**harness.wrk(url, script, connections=CLIENTS, seconds=seconds), "tool": "wrk"}
    prefix = fixtures.draft_url(f"{PREFIX}-")
    harness.run_child("benchmarks.load:post_rate", url=url, draft_prefix=prefix, drafts=jobs,
                      connections=CLIENTS, seconds=1)
    result = harness.run_child("benchmarks.load:post_rate", url=url, draft_prefix=prefix, drafts=jobs,
                               connections=CLIENTS, seconds=seconds)
    return {**result, "tool": "Python aiohttp load generator (wrk not installed)"}


async def serve_bare(port: int, body: str) -> None:
    """The reference: read the request, answer the same JSON; no database, no middleware."""
    payload = body.encode()

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=payload, content_type="application/json", charset="utf-8")

    app = web.Application()
    app.router.add_post("/v1/gen_video_status", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()
