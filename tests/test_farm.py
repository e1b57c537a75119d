"""Service and export agents as real processes: the whole life of jobs, and what goes wrong."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from support.farm import EXPORT_COMMAND, Farm, process_alive
from support.processes import ServiceProcess, command_env

pytestmark = pytest.mark.slow

STAGES = [10, 20, 30, 50, 70, 90]


def draft(name: str) -> str:
    return f"https://drafts.example.com/openapi/capcut-mate/v1/get_draft?draft_id={name}"


async def events_of(store, job_id: int) -> list[tuple]:
    rows = await store.pool.fetch(
        "SELECT from_status, to_status, progress, attempt, agent FROM job_events WHERE job_id = $1 ORDER BY id",
        job_id,
    )
    return [tuple(r) for r in rows]


async def test_twenty_drafts_through_four_agents(farm: Farm):
    service = farm.start_service()
    drafts = [draft(f"e2e-{n}") for n in range(20)]
    for url in drafts:
        await farm.submit(service, url)
    # Polling runs from before the first agent starts, so it sees every job from its claim.
    # A client that polls slower than stages change cannot see each one (a round of 20 polls
    # took over a second on a loaded CI machine), so what polls see is checked for order, and
    # the history table, which records every report, for completeness.
    seen: dict[str, list[tuple[str, int, str]]] = {url: [] for url in drafts}

    async def poll_until_done() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            bodies = await asyncio.gather(*(farm.status(service, url) for url in drafts))
            for url, body in zip(drafts, bodies):
                snapshot = (body["status"], body["progress"], body["stage"])
                if not seen[url] or seen[url][-1] != snapshot:
                    seen[url].append(snapshot)
            if all(body["status"] in ("completed", "failed") for body in bodies):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(farm.logs())

    polling = asyncio.create_task(poll_until_done())
    await asyncio.sleep(0)  # its first round is under way before any agent claims
    for n in range(4):
        await farm.start_agent(f"agent-{n}", service, stage_seconds=1.0)
    await polling

    for url in drafts:
        statuses = [status for status, _, _ in seen[url]]
        progress = [value for _, value, _ in seen[url]]
        assert statuses[-1] == "completed", (url, seen[url])
        assert progress == sorted(progress), (url, seen[url])  # never backwards
        names = dict(zip(STAGES, ["开始处理", "草稿解析", "准备环境", "素材处理", "导出控制", "文件生成"]))
        running = [(value, stage) for status, value, stage in seen[url] if status == "processing"]
        assert running, (url, seen[url])
        assert all(names.get(value) == stage for value, stage in running), (url, seen[url])

        final = await farm.status(service, url)
        history = await events_of(farm.store, final["job_id"])
        reported = [progress for _, to_status, progress, _, _ in history if to_status == "processing"]
        assert reported == STAGES, (url, history)  # every stage, in order
        async with farm.http.get(final["video_url"]) as video:
            assert video.status == 200
            content = await video.read()
        assert content.startswith(b"\x00\x00\x00\x18ftypmp42") and url.encode() in content
    agents_used = await farm.store.pool.fetchval(
        "SELECT count(DISTINCT agent) FROM video_jobs WHERE status = 'completed'"
    )
    assert agents_used == 4


async def test_a_killed_agents_job_is_finished_by_another(farm: Farm, store):
    service = farm.start_service(lease_seconds="2")
    doomed = await farm.start_agent("doomed", service, stage_seconds=1.0)
    url = draft("sigkill")
    job_id = (await farm.submit(service, url))["job_id"]
    await farm.wait_for(service, url, lambda b: b["progress"] >= 30)

    doomed.kill()
    export_pid = farm.export_pid(job_id, 1)
    if export_pid:  # the export process outlives its agent; a dead box would take it too
        os.kill(export_pid, signal.SIGKILL)
    await farm.wait_for(service, url, lambda b: b["status"] == "pending", timeout=10)

    await farm.start_agent("rescuer", service, stage_seconds=0.05)
    final = await farm.wait_for(service, url, lambda b: b["status"] == "completed", timeout=30)
    job = await store.get_job(final["job_id"])
    assert (job.attempt, job.agent) == (2, "rescuer")

    story = await events_of(store, job_id)
    assert story[0] == (None, "pending", 0, 0, None)
    assert story[1] == ("pending", "processing", 10, 1, "doomed")
    lost = story.index(("processing", "pending", 0, 1, "doomed"))
    assert all(e[3] == 1 and e[4] == "doomed" for e in story[1:lost])
    assert story[lost + 1] == ("pending", "processing", 10, 2, "rescuer")
    assert [e[2] for e in story[lost + 1:]] == [10, 20, 30, 50, 70, 90, 100]
    assert story[-1] == ("processing", "completed", 100, 2, "rescuer")


async def test_cancel_a_pending_and_a_processing_job(farm: Farm, store):
    service = farm.start_service(lease_seconds="3")
    agent = await farm.start_agent("canceller", service, "--kill-grace-seconds", "2")
    running_url, queued_url = draft("hang-running"), draft("queued")
    running = await farm.submit(service, running_url)
    await farm.wait_for(service, running_url, lambda b: b["status"] == "processing")
    queued = await farm.submit(service, queued_url)
    for _ in range(100):
        export_pid = farm.export_pid(running["job_id"], 1)
        if export_pid:
            break
        await asyncio.sleep(0.05)
    assert export_pid and process_alive(export_pid)

    async with farm.http.post(f"{service.url}/v1/cancel_video", json={"draft_url": queued_url}) as r:
        body = await r.json()
    assert (body["status"], body["error_message"]) == ("failed", "任务已取消")
    async with farm.http.post(f"{service.url}/v1/cancel_video", json={"draft_url": running_url}) as r:
        assert (await r.json())["cancel_requested"] is True

    final = await farm.wait_for(service, running_url, lambda b: b["status"] == "failed", timeout=15)
    assert final["error_message"] == "任务已取消"
    for _ in range(100):
        if not process_alive(export_pid):
            break
        await asyncio.sleep(0.05)
    assert not process_alive(export_pid), "the export process was terminated"

    await asyncio.sleep(3.5)  # more than a lease: nothing brings either back
    for job_id in (running["job_id"], queued["job_id"]):
        job = await store.get_job(job_id)
        assert job.status == "failed" and job.error_message == "任务已取消"
        assert job.attempt == (1 if job_id == running["job_id"] else 0)
    assert agent.process.poll() is None  # the agent carries on


async def test_sigterm_lets_running_jobs_finish_and_claims_nothing_new(farm: Farm, store):
    service = farm.start_service()
    agent = await farm.start_agent("drainer", service, stage_seconds=0.4)
    url = draft("drain-finish")
    await farm.submit(service, url)
    await farm.wait_for(service, url, lambda b: b["progress"] >= 20)
    agent.signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    late = draft("after-sigterm")
    await farm.submit(service, late)
    assert agent.wait(30) == 0, agent.log()
    assert (await farm.status(service, url))["status"] == "completed"
    assert (await farm.status(service, late))["status"] == "pending"


async def test_sigterm_hands_back_what_cannot_finish_in_time(farm: Farm, store):
    service = farm.start_service()
    agent = await farm.start_agent("hander", service, "--drain-seconds", "1", "--kill-grace-seconds", "1")
    url = draft("hang-handback")
    job_id = (await farm.submit(service, url))["job_id"]
    await farm.wait_for(service, url, lambda b: b["status"] == "processing")
    for _ in range(100):
        if export_pid := farm.export_pid(job_id, 1):
            break
        await asyncio.sleep(0.05)
    agent.signal(signal.SIGTERM)
    assert agent.wait(30) == 0, agent.log()
    body = await farm.status(service, url)
    assert body["status"] == "pending", body
    job = await store.get_job(job_id)
    assert job.attempt == 1 and job.run_after > job.updated_at  # retryable, after its backoff
    assert not process_alive(export_pid)


async def test_a_finished_result_waits_out_a_service_outage(farm: Farm, store):
    service = farm.start_service()
    await farm.start_agent("patient", service, stage_seconds=0.5)
    url = draft("outage")
    job_id = (await farm.submit(service, url))["job_id"]
    await farm.wait_for(service, url, lambda b: b["progress"] >= 20)
    service.stop()
    await asyncio.sleep(4)  # the export finishes meanwhile; its result has nowhere to go
    assert (await store.get_job(job_id)).status == "processing"
    back = farm.start_service(port=service.port)
    final = await farm.wait_for(back, url, lambda b: b["status"] == "completed", timeout=60)
    assert (await store.get_job(final["job_id"])).attempt == 1


async def test_a_revoked_agent_stops(farm: Farm, store):
    service = farm.start_service()
    agent = await farm.start_agent("revokee", service)
    await asyncio.sleep(0.5)
    assert await store.revoke_agent("revokee")
    # Its parked claim ends within the claim wait; the next one is refused.
    assert agent.wait(20) == 2, agent.log()
    assert "rejected this agent's token" in agent.log()


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except FileNotFoundError:
        return []


async def test_serve_with_local_agents_runs_a_job_on_one_machine(tmp_path, database_url, store):
    env = command_env(database_url=database_url, data_dir=str(tmp_path / "data"))
    service = ServiceProcess(env, tmp_path / "serve.log", "--local-agents", "2", "--command", EXPORT_COMMAND)
    try:
        service.wait_ready()
        url = draft("local-agents")
        farm = Farm(tmp_path, database_url, store)
        try:
            await farm.submit(service, url)
            final = await farm.wait_for(service, url, lambda b: b["status"] == "completed", timeout=60)
            async with farm.http.get(final["video_url"]) as video:
                assert video.status == 200
        finally:
            await farm.http.close()
        assert len([a for a in await store.list_agents() if a.name.startswith("local-")]) == 2
        agents = children_of(service.process.pid)
        assert len(agents) == 2
    finally:
        assert service.stop() == 0, service.log()
    assert not [pid for pid in agents if process_alive(pid)], "the local agents stop with the service"


def test_the_agent_never_imports_the_server():
    probe = (
        "import sys, capcut_mate.agent.cli, capcut_mate.agent.runtime, capcut_mate.agent.exporters.command\n"
        "server_side = ('capcut_mate.server', 'capcut_mate.database', 'asyncpg')\n"
        "bad = sorted(m for m in sys.modules if m.startswith(server_side))\n"
        "print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
