"""The agent runtime against a live service, with exporters that misbehave.

The runtime runs in the test's own event loop here (the real-process tests are in
test_farm.py); each exporter below is a plugin of the kind docs/exporters.md describes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from capcut_mate.agent.exporters import ExporterOptions, ExportFailed, ExportJob, ExportResult, Progress, load_exporter
from capcut_mate.agent.runtime import AgentOptions, AgentRuntime
from capcut_mate.agent.service_client import ServiceClient
from capcut_mate.protocol.agent import ClaimRequest
from support.agents import register_agent
from support.processes import free_port

DRAFT = "https://drafts.example.com/get_draft?draft_id=runtime"


async def run_one_job(client, store, exporter, tmp_path: Path) -> dict:
    """Submit one draft, let an agent with `exporter` take it, and answer its final status."""
    token = await register_agent(store, "runtime")
    await client.post("/v1/gen_video", json={"draft_url": DRAFT})
    service = ServiceClient(str(client.make_url("/")), token)
    runtime = AgentRuntime(service, exporter, AgentOptions(claim_wait_seconds=1, work_root=tmp_path / "work"))
    running = asyncio.create_task(runtime.run())
    try:
        for _ in range(200):
            body = await (await client.post("/v1/gen_video_status", json={"draft_url": DRAFT})).json()
            if body["status"] in ("completed", "failed"):
                return body
            await asyncio.sleep(0.05)
        raise AssertionError(f"job never finished: {body}")
    finally:
        runtime.drain()
        await asyncio.wait_for(running, 10)
        await service.close()


async def history(store) -> list[tuple]:
    rows = await store.pool.fetch("SELECT to_status, progress, stage, message FROM job_events ORDER BY id")
    return [tuple(r) for r in rows]


def video(job: ExportJob) -> ExportResult:
    job.output_path.write_bytes(b"\x00\x00\x00\x18ftypmp42 a video")
    return ExportResult(video_path=job.output_path)


async def test_every_reported_stage_reaches_the_history_before_the_result(client, store, tmp_path):
    async def hurried(job: ExportJob, progress: Progress) -> ExportResult:
        for value in (10, 20, 30, 50, 70, 90):
            await progress(value)  # no pause at all: the result comes right after
        return video(job)

    assert (await run_one_job(client, store, hurried, tmp_path))["status"] == "completed"
    assert [p for status, p, _, _ in await history(store) if status == "processing"] == [10, 20, 30, 50, 70, 90]


async def test_whatever_an_exporter_reports_is_made_fit_to_send(client, store, tmp_path):
    async def sloppy(job: ExportJob, progress: Progress) -> ExportResult:
        await progress(5)  # below the range
        await progress(40, "素材" * 50, "a\x00b" + "x" * 5000)  # a stage too long, NUL, a message too long
        await progress(120)  # above it
        return video(job)

    assert (await run_one_job(client, store, sloppy, tmp_path))["status"] == "completed"
    steps = [row for row in await history(store) if row[0] == "processing"]
    assert [p for _, p, _, _ in steps] == [10, 40, 90]
    _, _, stage, message = steps[1]
    assert stage == ("素材" * 50)[:64]
    assert message.startswith("a b") and len(message) == 2000


async def test_an_export_failure_with_odd_bytes_still_fails_the_job(client, store, tmp_path):
    async def broken(job: ExportJob, progress: Progress) -> ExportResult:
        raise ExportFailed("导出草稿失败: bad\x00byte\n in the log")

    body = await run_one_job(client, store, broken, tmp_path)
    assert (body["status"], body["error_message"]) == ("failed", "导出草稿失败: bad byte  in the log")


async def test_an_exporter_crash_fails_the_job(client, store, tmp_path):
    async def crashes(job: ExportJob, progress: Progress) -> ExportResult:
        raise ZeroDivisionError("division by zero")

    body = await run_one_job(client, store, crashes, tmp_path)
    assert (body["status"], body["error_message"]) == ("failed", "导出草稿失败: division by zero")


async def test_a_result_that_is_no_video_url_fails_the_job_instead_of_stranding_it(client, store, tmp_path):
    async def elsewhere(job: ExportJob, progress: Progress) -> ExportResult:
        return ExportResult(video_url="s3://bucket/out.mp4")

    body = await run_one_job(client, store, elsewhere, tmp_path)
    assert body["status"] == "failed"
    assert body["error_message"] == "导出草稿失败: 导出结果的视频地址无效: s3://bucket/out.mp4"


async def test_a_refused_upload_fails_the_job_with_the_reason(service, store, tmp_path):
    small_uploads = await service(max_video_bytes=10)

    async def too_big(job: ExportJob, progress: Progress) -> ExportResult:
        return video(job)  # 24 bytes, over the service's limit of 10

    body = await run_one_job(small_uploads, store, too_big, tmp_path)
    assert body["status"] == "failed"
    assert "413" in body["error_message"] and "PAYLOAD_TOO_LARGE" in body["error_message"]


async def test_a_module_function_plugin_is_a_factory_of_the_agents_options(client, store, tmp_path):
    exporter = load_exporter("support.plugin_exporter:make_exporter", ExporterOptions(command="echo"))
    assert (await run_one_job(client, store, exporter, tmp_path))["status"] == "completed"
    assert ("processing", 50, "plugin", "made with command=echo") in await history(store)


@pytest.mark.parametrize(
    ("name", "complaint"),
    [("no-such-exporter", "unknown exporter"), ("support.plugin_exporter:NOT_A_FACTORY", "not callable"),
     ("command", "needs --command")],
)
def test_a_bad_exporter_name_is_refused_before_any_claim(name, complaint):
    with pytest.raises((ValueError, TypeError)) as raised:
        load_exporter(name, ExporterOptions())
    assert complaint in str(raised.value)


async def test_an_agent_moves_on_to_a_service_process_that_answers(client, store):
    token = await register_agent(store, "roamer")
    await client.post("/v1/gen_video", json={"draft_url": DRAFT})
    gone = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    service = ServiceClient([gone, str(client.make_url("/"))], token)
    try:
        answer = await asyncio.wait_for(
            service.claim(ClaimRequest(wait=0), keep_trying=lambda: True), 10)
    finally:
        await service.close()
    assert [job.draft_url for job in answer.jobs] == [DRAFT]


async def test_a_server_that_is_not_capcut_mate_is_quoted_in_a_few_words_on_one_line(aiohttp_server):
    from aiohttp import web

    from capcut_mate.agent.service_client import ServiceRefused

    page = "<!DOCTYPE HTML>\n<html>\n<head><title>501 Not Implemented</title></head>\n" + "<p>filler</p>\n" * 200
    async def not_implemented(request: web.Request) -> web.Response:
        return web.Response(status=501, text=page)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_implemented)
    server = await aiohttp_server(app)
    service = ServiceClient(str(server.make_url("/")), "cmat_x_y")
    try:
        with pytest.raises(ServiceRefused) as refused:
            await service.claim(ClaimRequest(wait=0), keep_trying=lambda: True)
    finally:
        await service.close()
    message = str(refused.value)
    assert message.startswith("501 HTTP_501: <!DOCTYPE HTML> <html>") and "\n" not in message
    assert len(message) < 160


def test_a_host_name_that_does_not_resolve_is_described_in_words():
    import socket

    import aiohttp

    from capcut_mate.agent.service_client import describe_network_error

    key = type("Key", (), {"host": "jobs.invalid", "port": 8000, "ssl": None})()
    error = aiohttp.ClientConnectorError(key, socket.gaierror(-2, "Name or service not known"))
    assert describe_network_error(error) == "cannot connect to jobs.invalid:8000 (Name or service not known)"
