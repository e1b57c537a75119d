"""Faults and intruders, round two (issue 14): what an outside attacker, a hostile draft
and a full disk could still break, each tried the way they would try it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp import web

from capcut_mate.agent.exporters import ExporterOptions, ExportFailed, ExportJob, ExportResult, Progress, load_exporter
from capcut_mate.agent.exporters.ffmpeg.addresses import AddressPolicy, AddressRefused
from capcut_mate.agent.exporters.ffmpeg.fetch import (
    MAX_DRAFT_FILES,
    Downloader,
    DownloadFailed,
    FetchLimits,
    list_draft,
)
from capcut_mate.agent.exporters.ffmpeg.paths import MAX_MATERIALS, FolderIndex
from capcut_mate.agent.runtime import AgentOptions, AgentRuntime
from capcut_mate.agent.service_client import ServiceClient
from capcut_mate.database.errors import DatabaseUnreachable, is_database_error, is_outage, reaching_the_database
from capcut_mate.database.store import QUERIES, Store
from capcut_mate.protocol.errors import ServiceError
from capcut_mate.server import video_store as video_store_module
from capcut_mate.server.app import create_app
from capcut_mate.server.app_keys import STORE, VIDEO_STORE
from capcut_mate.server.auth import AGENT_TOKEN, new_token
from capcut_mate.server.connections import ServiceRunner
from capcut_mate.server.maintenance import maintain_once
from capcut_mate.server.video_store import open_video_store
from support.agents import ProtocolAgent, register_agent, store_agent, until
from support.clients import draft_status, submit_draft
from support.drive import finished_days_ago
from support.processes import free_port

DRAFT = "https://drafts.example.com/get_draft?draft_id=round-two"


async def submit(client, draft_url: str = DRAFT) -> dict:
    return await submit_draft(client, draft_url)


async def status_of(client, draft_url: str = DRAFT) -> dict:
    return await draft_status(client, draft_url)


def video(job: ExportJob) -> ExportResult:
    job.output_path.write_bytes(b"\x00\x00\x00\x18ftypmp42 a video")
    return ExportResult(video_path=job.output_path)


class Agent:
    """An AgentRuntime on the test's loop, stopped (drained) at the end."""

    def __init__(self, client, token: str, exporter, work_root: Path, **options):
        self.service = ServiceClient(str(client.make_url("/")), token)
        self.runtime = AgentRuntime(self.service, exporter,
                                    AgentOptions(claim_wait_seconds=1, work_root=work_root, **options))
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Agent:
        self.task = asyncio.create_task(self.runtime.run())
        return self

    async def __aexit__(self, *_exc) -> None:
        if not self.runtime.hand_back_now.is_set():
            self.runtime.drain()
            self.runtime.drain()
        await asyncio.wait_for(self.task, 30)
        await self.service.close()


# --- 1. A hostile draft cannot freeze an agent ------------------------------------------------


def test_matching_materials_costs_the_sum_of_files_and_materials_not_their_product():
    files = [f"assets/video/clip-{n}.mp4" for n in range(MAX_DRAFT_FILES)]
    saved = [f"C:\\Users\\x\\Projects\\draft\\assets\\video\\clip-{n * 5}.mp4" for n in range(MAX_MATERIALS)]
    started = time.perf_counter()
    index = FolderIndex(files)
    found = [index.locate(path) for path in saved]
    elapsed = time.perf_counter() - started
    assert found == [f"assets/video/clip-{n * 5}.mp4" for n in range(MAX_MATERIALS)]
    # Matched one by one against every file, this took seconds of CPU (20 million comparisons).
    assert elapsed < 0.5, f"{elapsed:.2f} s"


def hostile_draft_server(files: int, materials: int) -> web.Application:
    """A get_draft that lists `files` files, and a draft_content.json with `materials` clips."""
    track = {"id": "t", "type": "video", "segments": [
        {"id": f"s{n}", "material_id": f"m{n}", "visible": True, "clip": None,
         "target_timerange": {"start": n * 1_000_000, "duration": 1_000_000},
         "source_timerange": {"start": 0, "duration": 1_000_000}, "extra_material_refs": [],
         "speed": 1.0, "volume": 1.0}
        for n in range(materials)]}
    content = {
        "canvas_config": {"width": 320, "height": 180}, "fps": 30, "duration": materials * 1_000_000,
        "materials": {"videos": [{"id": f"m{n}", "type": "video", "path": f"C:\\d\\hostile\\assets\\v{n}.mp4",
                                  "material_name": f"v{n}.mp4"} for n in range(materials)]},
        "tracks": [track],
    }

    async def get_draft(request: web.Request) -> web.Response:
        base = f"{request.url.origin()}/output/draft/hostile/"
        listed = ["draft_content.json", *(f"assets/other-{n}.mp4" for n in range(files - 1))]
        return web.json_response({"code": 0, "files": [base + name for name in listed]})

    async def draft_content(request: web.Request) -> web.Response:
        return web.json_response(content)

    app = web.Application()
    app.router.add_get("/get_draft", get_draft)
    app.router.add_get("/output/draft/hostile/draft_content.json", draft_content)
    return app


class Recorder:
    async def __call__(self, progress: int, stage: str | None = None, message: str | None = None) -> None:
        pass


@pytest.mark.parametrize(("files", "materials", "failure"), [
    (MAX_DRAFT_FILES + 1, 1, f"草稿下载失败: 草稿文件过多: {MAX_DRAFT_FILES + 1} 个 (最多 {MAX_DRAFT_FILES} 个)"),
    (10, MAX_MATERIALS + 1, f"导出草稿失败: 草稿素材过多 ({MAX_MATERIALS + 1} 个，最多 {MAX_MATERIALS} 个)"),
])
async def test_a_draft_over_the_file_or_material_limit_fails_at_once_and_says_why(
        aiohttp_server, tmp_path, files, materials, failure):
    server = await aiohttp_server(hostile_draft_server(files, materials))
    export = load_exporter("ffmpeg", ExporterOptions(allow_local_drafts=True))
    work = tmp_path / "work"
    work.mkdir()
    job = ExportJob(1, 1, str(server.make_url("/get_draft?draft_id=hostile")), "hostile", work, work / "out.mp4")
    started = time.monotonic()
    with pytest.raises(ExportFailed) as refused:
        await export(job, Recorder())
    assert refused.value.message == failure and not refused.value.retryable
    assert time.monotonic() - started < 10


async def test_an_export_that_hogs_its_thread_keeps_every_jobs_lease_and_hears_sigterm(service, store, tmp_path):
    """One export blocks (CPU-heavy, or a blocking call) for several lease periods; the
    other slot's job and the blocked job itself keep their leases; a stop is heard at once."""
    client = await service(lease_seconds=1)

    async def hog_or_not(job: ExportJob, progress: Progress) -> ExportResult:
        if job.draft_key == "hog":
            await progress(20)
            time.sleep(3.5)  # three and a half leases without yielding its loop
        else:
            for value in range(20, 90, 10):
                await progress(value)
                await asyncio.sleep(0.5)
        return video(job)

    hog_url, calm_url = (f"https://drafts.example.com/get_draft?draft_id={key}" for key in ("hog", "calm"))
    await submit(client, hog_url)
    await submit(client, calm_url)
    token = await register_agent(store, "hogger")
    async with Agent(client, token, hog_or_not, tmp_path / "work", concurrency=2):
        for url in (hog_url, calm_url):
            done = await until(lambda url=url: _finished(client, url), 20, f"{url} finished")
            assert done["status"] == "completed", done
    lost = await store.pool.fetchval(
        "SELECT count(*) FROM job_events WHERE from_status = 'processing' AND to_status <> 'processing'"
        " AND to_status <> 'completed'")
    assert lost == 0, "a lease was lost while one export hogged its thread"

    # A stop (SIGTERM, twice: hand back now) is heard while an export still hogs its thread.
    stuck_url = "https://drafts.example.com/get_draft?draft_id=hog-stuck"

    async def stuck(job: ExportJob, progress: Progress) -> ExportResult:
        await progress(20)
        time.sleep(6)
        return video(job)

    await submit(client, stuck_url)
    async with Agent(client, token, stuck, tmp_path / "work2") as agent:
        await until(lambda: _progress_at_least(client, stuck_url, 20), 10, "the export started")
        stopped_at = time.monotonic()
        agent.runtime.drain()
        agent.runtime.drain()
        await until(lambda: _status_is(client, stuck_url, "pending"), 10, "the job handed back")
        assert time.monotonic() - stopped_at < 2, "the stop waited for the hogging export"


async def _status_is(client, url, status):
    return (await status_of(client, url)).get("status") == status


async def _finished(client, url):
    body = await status_of(client, url)
    return body if body.get("status") in ("completed", "failed") else None


async def _progress_at_least(client, url, value):
    body = await status_of(client, url)
    return body.get("status") == "processing" and body["progress"] >= value


# --- 2. A full disk is a storage error, not a database outage ----------------------------------


async def test_a_full_video_disk_is_a_storage_error_and_the_agent_reports_it(client, store, tmp_path, caplog):
    videos = client.server.app[VIDEO_STORE]
    videos._open = lambda _path, mode: open("/dev/full", mode)  # the kernel answers ENOSPC on write
    token = await register_agent(store, "full-disk")
    agent = ProtocolAgent(client, token, "full-disk")
    await submit(client)
    (job,) = await agent.claim()
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"v" * 300_000)
    assert status == 507, body
    assert body["error"]["code"] == "STORAGE_FAILED" and "full" in body["error"]["details"]
    assert "database" not in json.dumps(body).lower()
    assert "database unreachable" not in caplog.text

    # An agent hears it as what it is: the attempt fails, retryable, with the reason; no endless re-upload.
    other = "https://drafts.example.com/get_draft?draft_id=full-disk"
    await submit(client, other)
    async with Agent(client, token, lambda job, progress: _video_soon(job), tmp_path / "work"):
        retried = await until(lambda: _requeued_with_reason(store, other), 15, "the upload's failure reported")
    assert "服务无法保存视频" in retried and "full" in retried


async def test_an_upload_whose_file_vanishes_is_a_storage_error(client, store):
    videos = client.server.app[VIDEO_STORE]

    def open_then_lose(path: Path, mode: str):
        file = open(path, mode)  # noqa: SIM115 - the store closes it
        path.unlink()  # someone else's cleanup removes it mid-upload
        return file

    videos._open = open_then_lose
    agent = ProtocolAgent(client, await register_agent(store, "vanishing"), "vanishing")
    await submit(client)
    (job,) = await agent.claim()
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"v" * 1000)
    assert status == 507 and "missing" in body["error"]["details"], body


async def _video_soon(job: ExportJob) -> ExportResult:
    return video(job)


async def _requeued_with_reason(store, draft_url):
    return await store.pool.fetchval(
        "SELECT e.message FROM job_events AS e JOIN video_jobs AS j ON j.id = e.job_id"
        " WHERE j.draft_url = $1 AND e.from_status = 'processing' AND e.to_status = 'pending'", draft_url)


async def test_an_upload_cut_off_midway_is_no_outage(client, store, caplog):
    token = await register_agent(store, "cut-off")
    await submit(client)
    (job,) = await ProtocolAgent(client, token, "cut-off").claim()
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((f"PUT /agent/v1/jobs/{job['id']}/video?attempt=1 HTTP/1.1\r\nHost: {host}\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Length: 1000000\r\n\r\n").encode() + b"x" * 1000)
    await writer.drain()
    await asyncio.sleep(0.3)  # the service is reading the body now
    writer.transport.abort()  # the agent hangs up mid-body
    await until(lambda: _no_partial_upload(client), 5, "the partial upload cleared")
    assert "database unreachable" not in caplog.text
    assert (await status_of(client))["status"] == "processing"


async def _no_partial_upload(client):
    return not any((client.server.app[VIDEO_STORE].folder / ".incoming").iterdir())


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"), PermissionError(errno.EACCES, "Permission denied"),
    FileNotFoundError(errno.ENOENT, "No such file or directory"), ConnectionResetError(), TimeoutError(),
], ids=lambda error: type(error).__name__)
def test_an_oserror_is_an_outage_only_on_the_way_to_the_database(error):
    assert not is_outage(error) and not is_database_error(error)  # a disk, a client that hung up, …
    with pytest.raises(DatabaseUnreachable) as raised, reaching_the_database():
        raise error
    assert is_outage(raised.value)  # … and the same error from the store's connection to PostgreSQL


@pytest.mark.parametrize("route", ["upload", "video"])
async def test_a_video_store_oserror_is_never_answered_as_a_database_outage(client, store, caplog, route):
    """An OSError the video store raised without classifying it (a store's own bug) is an
    internal error, answered 500 once; never the 503 of an outage, which agents retry forever."""
    videos = client.server.app[VIDEO_STORE]

    async def broken(*_args, **_kwargs):
        raise OSError(errno.EIO, "Input/output error")

    if route == "upload":
        videos.save = broken
        agent = ProtocolAgent(client, await register_agent(store, "io-error"), "io-error")
        await submit(client)
        (job,) = await agent.claim()
        status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"a video")
    else:
        videos.response_for = broken
        response = await client.get("/videos/1-1-0123456789abcdef.mp4")
        status, body = response.status, await response.json()
    assert (status, body["error"]["code"]) == (500, "INTERNAL_ERROR"), body
    assert "database" not in json.dumps(body).lower() and "database unreachable" not in caplog.text


# --- 3. Compressed bodies are refused, never inflated ------------------------------------------


async def test_gzip_bombs_are_refused_at_once_and_the_service_stays_responsive(client):
    bomb = gzip.compress(b"\x00" * (256 * 1024 * 1024), compresslevel=9)  # 256 MB of zeros in ~250 KB
    bomb = bomb * 4  # about 1 MB: four gzip members back to back inflate to a GB

    async def send() -> tuple[int, dict]:
        response = await client.post("/v1/gen_video", data=bomb,
                                     headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        return response.status, await response.json()

    started = time.monotonic()
    bombs = [asyncio.create_task(send()) for _ in range(4)]
    health = time.monotonic()
    assert (await client.get("/healthz")).status == 200
    health = time.monotonic() - health
    answers = await asyncio.gather(*bombs)
    assert [status for status, _ in answers] == [415] * 4
    assert answers[0][1]["error"]["code"] == "UNSUPPORTED_CONTENT_ENCODING"
    assert time.monotonic() - started < 3 and health < 1


# --- 4. A long video_url completes the job ----------------------------------------------------


async def test_a_video_url_as_long_as_the_protocol_allows_completes_the_job(client, store):
    agent = ProtocolAgent(client, await register_agent(store, "long-url"), "long-url")
    await submit(client)
    (job,) = await agent.claim()
    long_url = "https://videos.example.com/" + "v" * (4096 - len("https://videos.example.com/"))
    assert await agent.complete(job, long_url) == (200, {"status": "completed"})
    assert await agent.complete(job, long_url) == (200, {"status": "completed"})  # its repeat, recognised
    assert (await status_of(client))["video_url"] == long_url


# --- 5. Submits racing cancels never answer 500 -------------------------------------------------


async def test_a_storm_of_submits_and_cancels_on_one_draft_never_fails(store, database_url):
    """Two service processes' pools, 40 clients, half submitting and half cancelling one
    draft. Before submits of a draft took turns, a few of these 4,000 calls raised."""
    draft = "https://drafts.example.com/get_draft?draft_id=storm"
    other = await Store.open(database_url, pool_size=20)
    errors: list[BaseException] = []

    async def storm(worker: int) -> None:
        mine = (store, other)[worker % 2]
        for n in range(100):
            try:
                await (mine.submit(draft) if (worker + n) % 2 else mine.cancel(draft))
            except ServiceError as error:
                if error.kind.http_status >= 500:
                    errors.append(error)
            except Exception as error:  # noqa: BLE001 - every other error is a finding here
                errors.append(error)

    try:
        await asyncio.gather(*(storm(worker) for worker in range(40)))
    finally:
        await other.close()
    assert errors == []
    assert await store.invariant_violations([draft]) == []


GATE = 1414  # the advisory lock class of the gates below


async def test_a_submit_whose_every_try_races_another_submit_still_answers(store, database_url, monkeypatch):
    """The interleaving the storm above only sometimes finds, forced at every try of one
    submit: when its statement takes its snapshot the draft has no active job, and before
    its insert looks for one, another submit of the draft commits a job. Two gates force it:
    one before each submit_job statement (where the draft's active job is cancelled) and a
    trigger in the insert, after the snapshot (where the other submit runs). Submits that
    take turns make the other one wait for this one instead."""
    gated = "https://gated.example.com/get_draft?draft_id=turns"
    other = "https://other.example.com/get_draft?draft_id=turns"  # the same draft key
    at_statement, go = asyncio.Queue(), asyncio.Queue()
    fetchrow = asyncpg.Connection.fetchrow

    async def gated_fetchrow(connection, query, *args, **kwargs):
        if query == QUERIES["submit_job"] and args[0] == gated:
            await at_statement.put(None)
            await go.get()
        return await fetchrow(connection, query, *args, **kwargs)

    await store.pool.execute(f"""
        CREATE SEQUENCE capcut_mate.test_gate_tries;
        CREATE FUNCTION capcut_mate.test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.draft_url = '{gated}' THEN
                PERFORM pg_advisory_xact_lock({GATE}, nextval('capcut_mate.test_gate_tries')::integer);
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER test_gate BEFORE INSERT ON capcut_mate.video_jobs
            FOR EACH ROW EXECUTE FUNCTION capcut_mate.test_gate();
    """)
    holder, racer = await asyncpg.connect(database_url), None
    try:
        for gate in range(1, 7):  # more than any number of tries
            await holder.execute("SELECT pg_advisory_lock($1, $2)", GATE, gate)
        monkeypatch.setattr(asyncpg.Connection, "fetchrow", gated_fetchrow)
        submit = asyncio.create_task(store.submit(gated))
        for gate in range(1, 7):
            await until(partial(_done_or, submit, _not_empty, at_statement), 5, "the submit's next statement")
            if submit.done():
                break
            await at_statement.get()
            with contextlib.suppress(ServiceError):
                await store.cancel(other)  # no active job at the statement's snapshot
            await go.put(None)
            await until(partial(_done_or, submit, _waiting_for_locks, store, 1), 5, "the submit in its insert")
            racer = asyncio.create_task(store.submit(other))  # commits a job, or waits its turn
            await until(partial(_done_or, racer, _waiting_for_locks, store, 2), 5, "the other submit")
            await holder.execute("SELECT pg_advisory_unlock($1, $2)", GATE, gate)
        job, created = await asyncio.wait_for(submit, 5)
        assert created and (await asyncio.wait_for(racer, 5))[0].id == job.id
    finally:
        monkeypatch.undo()
        await holder.close()
        await store.pool.execute("DROP TRIGGER test_gate ON capcut_mate.video_jobs;"
                                 " DROP FUNCTION capcut_mate.test_gate(); DROP SEQUENCE capcut_mate.test_gate_tries")
    assert await store.invariant_violations([gated]) == []  # the other submit got its job


async def _not_empty(queue: asyncio.Queue) -> bool:
    return not queue.empty()


async def _waiting_for_locks(store, count: int) -> bool:
    return await store.pool.fetchval(
        "SELECT count(*) >= $1 FROM pg_locks WHERE NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", count)


# --- 6. Retention removes the videos it no longer points to -------------------------------------


async def test_retention_removes_the_stored_videos_of_the_jobs_it_prunes(client, store, settings):
    agent = ProtocolAgent(client, await register_agent(store, "pruned"), "pruned")
    await submit(client)
    (job,) = await agent.claim()
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"an old video")
    assert status == 200
    assert await agent.complete(job, body["video_url"]) == (200, {"status": "completed"})
    name = body["video_url"].rsplit("/", 1)[1]
    kept = await submit(client, "https://drafts.example.com/get_draft?draft_id=kept")  # another, recent job
    assert (await client.get(f"/videos/{name}")).status == 200
    await finished_days_ago(store, job["id"], 40)
    result = await maintain_once(store, 30, client.server.app[VIDEO_STORE])
    assert result.jobs_deleted == 1
    assert not (settings.videos_path / name).exists()
    assert (await client.get(f"/videos/{name}")).status == 404
    assert (await status_of(client, "https://drafts.example.com/get_draft?draft_id=kept"))["job_id"] == kept["job_id"]


async def _uploaded(client, store, name: str, draft: str, *, complete: bool = True) -> tuple[dict, str]:
    """A job of its own agent, its attempt's video uploaded (and completed with it)."""
    agent = ProtocolAgent(client, await register_agent(store, name), name)
    await submit(client, draft)
    (job,) = await agent.claim()
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt={job['attempt']}", data=name.encode())
    assert status == 200, body
    if complete:
        assert await agent.complete(job, body["video_url"]) == (200, {"status": "completed"})
    return job, body["video_url"].rsplit("/", 1)[1]


async def test_a_prune_that_dies_before_its_videos_go_leaves_none_after_the_next_upkeep(
        client, store, settings, monkeypatch):
    job, name = await _uploaded(client, store, "pruned", DRAFT)
    await finished_days_ago(store, job["id"], 40)
    videos, prune = client.server.app[VIDEO_STORE], store.prune

    async def dies_once_the_jobs_are_gone(*args, **kwargs):
        await prune(*args, **kwargs)
        raise ConnectionResetError("the service process was killed")  # with the jobs deleted, the videos not

    monkeypatch.setattr(store, "prune", dies_once_the_jobs_are_gone)
    with pytest.raises(ConnectionResetError):
        await maintain_once(store, 30, videos)
    monkeypatch.undo()
    assert await store.get_job(job["id"]) is None and (settings.videos_path / name).exists()
    await maintain_once(store, 30, videos)  # the next upkeep, in this process or another
    assert not (settings.videos_path / name).exists()


async def test_upkeep_removes_the_stored_videos_no_job_can_show_and_keeps_the_rest(client, store, settings):
    shown, shown_name = await _uploaded(client, store, "shown", DRAFT)
    running, running_name = await _uploaded(client, store, "running", DRAFT + "-running", complete=False)
    lost, lost_name = await _uploaded(client, store, "lost", DRAFT + "-lost", complete=False)
    await store.pool.execute("UPDATE capcut_mate.video_jobs SET lease_expires_at = now() WHERE id = $1", lost["id"])
    assert [lease.job_id for lease in await store.expire_leases()] == [lost["id"]]  # its agent died before complete
    gone = settings.videos_path / f"{lost['id'] + 1000}-1-{'c' * 16}.mp4"  # of a job no longer there
    gone.write_bytes(b"an orphan")
    await maintain_once(store, 0, client.server.app[VIDEO_STORE])
    assert sorted(path.name for path in settings.videos_path.iterdir() if path.is_file()) == sorted(
        [shown_name, running_name])



async def test_a_second_process_starting_on_the_same_video_folder_keeps_uploads_in_flight(
        client, store, settings, tmp_path):
    token = await register_agent(store, "sharing")
    await submit(client)
    (job,) = await ProtocolAgent(client, token, "sharing").claim()
    body = b"frame" * 200_000
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((f"PUT /agent/v1/jobs/{job['id']}/video?attempt=1 HTTP/1.1\r\nHost: {host}\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
                 + body[:600_000])
    await writer.drain()
    incoming = settings.videos_path / ".incoming"
    await until(lambda: _any_file(incoming), 5, "the upload began")
    stale = incoming / "0-1-0000000000000000.mp4.part"  # a process that died mid-upload, long ago
    stale.write_bytes(b"left over")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))

    await open_video_store(settings).start()  # a second service process starts on the same folder

    writer.write(body[600_000:])
    await writer.drain()
    answer = await reader.read(65536)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert not stale.exists()
    stored = json.loads(answer.split(b"\r\n\r\n", 1)[1])["video_url"].rsplit("/", 1)[1]
    assert (settings.videos_path / stored).read_bytes() == body


async def _any_file(folder: Path):
    return folder.is_dir() and any(folder.iterdir())


async def test_concurrent_readiness_checks_of_processes_sharing_a_folder_all_pass(settings, monkeypatch):
    """Each check writes a probe of its own name, so none removes another's (and one process's
    concurrent checks share one probe); every check is a fresh one here, none answered from before."""
    monkeypatch.setattr(video_store_module, "READY_FOR_SECONDS", 0.0)
    stores = [open_video_store(settings), open_video_store(settings)]  # two processes, one folder
    answers = []
    for _ in range(40):
        answers += await asyncio.gather(*(store.check() for store in stores for _ in range(5)))
    assert answers == [None] * 400
    assert list((settings.videos_path / ".incoming").iterdir()) == []


async def test_readyz_says_why_the_video_folder_fails_but_not_where_it_is(client, settings, caplog):
    incoming = settings.videos_path / ".incoming"
    incoming.rmdir()
    incoming.write_bytes(b"not a folder")  # the probe cannot be written
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503 and body["video_store"].startswith("the video store failed"), body
    assert str(settings.videos_path) not in json.dumps(body) and str(settings.videos_path) in caplog.text


# --- 8. A draft_id with no value is refused; different drafts never share a key -------------------

UNDECODABLE = [f"https://{host}.example.com/get_draft?draft_id={escape}"
               for host, escape in (("a", "%ff%ff"), ("b", "%fe%fe"), ("c", "%80%80"), ("d", "x%C3"))]


@pytest.mark.parametrize("route", ["gen_video", "gen_video_status", "cancel_video"])
async def test_a_draft_id_that_is_not_utf8_is_refused_and_changes_nothing(client, store, route):
    for url in UNDECODABLE:
        response = await client.post(f"/v1/{route}", json={"draft_url": url}, headers={"Accept-Language": "en"})
        body = await response.json()
        assert (response.status, body["code"], body["error"]["code"]) == (400, 2001, "VALIDATION_ERROR"), body
        assert "draft_id" in body["error"]["details"] and "UTF-8" in body["error"]["details"]
    assert await store.pool.fetchval("SELECT count(*) FROM capcut_mate.video_jobs") == 0


async def test_no_url_can_name_another_urls_key_as_its_draft_id(client):
    """The audit's attack: a URL whose draft_id is a victim's whole URL. The victim's URL, its
    draft_id undecodable, is refused instead of being keyed by itself, so no job is shared."""
    victim = "https://victim.example.com/get_draft?draft_id=%ff%fe"
    evil = "https://evil.example.com/get_draft?draft_id=" + quote(victim, safe="")
    attackers = await submit(client, evil)
    assert (await client.post("/v1/gen_video", json={"draft_url": victim})).status == 400
    assert (await client.post("/v1/gen_video_status", json={"draft_url": victim})).status == 400
    assert (await status_of(client, evil))["job_id"] == attackers["job_id"]


# --- 9. Errors do not leak internals -------------------------------------------------------------


async def test_a_failure_shown_to_clients_names_no_path_of_the_agent(client, store, tmp_path):
    async def leaky(job: ExportJob, progress: Progress) -> ExportResult:
        raise ExportFailed(f"导出草稿失败: ffmpeg: {job.work_dir.resolve()}/draft/assets/a.mp4: Invalid data")

    await submit(client)
    async with Agent(client, await register_agent(store, "leaky"), leaky, tmp_path / "secret-work-root"):
        failed = await until(lambda: _finished(client, DRAFT), 10, "the job failed")
    assert failed["status"] == "failed"
    assert "secret-work-root" not in failed["error_message"] and str(tmp_path) not in failed["error_message"]
    assert failed["error_message"] == "导出草稿失败: ffmpeg: draft/assets/a.mp4: Invalid data"


async def test_no_absolute_path_of_the_agents_machine_reaches_a_client(client, store, tmp_path, monkeypatch):
    """Its temp and home folders, ffmpeg's own path (on PATH, or $CAPCUT_MATE_FFMPEG) and its
    Python environment are cut as its work folder is; the paths and URLs of the draft stay."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", f"/opt/tools/bin{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CAPCUT_MATE_FFMPEG", "/srv/secret-ffmpeg/bin/ffmpeg")
    leaks = [f"{tempfile.gettempdir()}/tmp-x1/frame.png", f"{tmp_path}/home/.fonts/zh.ttf", "/opt/tools/bin/ffprobe",
             "/srv/secret-ffmpeg/bin/ffmpeg", f"{sys.prefix}/lib/imageio_ffmpeg/binaries/ffmpeg-linux64"]
    kept = r"C:\Users\alice\Movies\a.mp4 http://127.0.0.1:8000/tmp/get_draft?draft_id=x"

    async def leaky(job: ExportJob, progress: Progress) -> ExportResult:
        raise ExportFailed("导出草稿失败: " + "; ".join(f"'{path}'" for path in leaks) + " " + kept)

    await submit(client)
    async with Agent(client, await register_agent(store, "leaky"), leaky, tmp_path / "work"):
        failed = await until(lambda: _finished(client, DRAFT), 10, "the job failed")
    assert failed["error_message"] == ("导出草稿失败: 'tmp-x1/frame.png'; '.fonts/zh.ttf'; 'ffprobe'; 'ffmpeg'; "
                                       "'lib/imageio_ffmpeg/binaries/ffmpeg-linux64' " + kept)


@pytest.mark.parametrize("path", ["draft_content.json%00.txt", "a" * 5000, "x/" * 2500 + "y"])
async def test_a_sample_file_path_the_os_refuses_is_a_404_not_a_500(client, caplog, path):
    """A NUL, a name longer than the OS takes (ENAMETOOLONG), a path too long: no such file."""
    response = await client.get("/samples/files/demo/" + path)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "NOT_FOUND"
    assert "Traceback" not in caplog.text


@pytest.fixture
async def real_server(settings):
    """The service behind its own runner (as `capcut-mate serve` runs it), on a loopback port."""

    async def start(**changes):
        changed = settings.model_copy(update=changes)
        runner = ServiceRunner(create_app(changed, changed.database_url),
                               header_timeout=changed.header_timeout_seconds)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return port

    runners: list[ServiceRunner] = []
    yield start
    for runner in runners:
        await runner.cleanup()


async def raw_exchange(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), wait)
    finally:
        writer.close()


async def test_malformed_requests_get_the_envelope_not_aiohttps_plain_text(real_server):
    port = await real_server()
    answer = await raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and head[9:12] == b"400" and b"application/json" in head
    assert json.loads(body)["error"]["code"] == "VALIDATION_ERROR"


async def test_an_expectation_the_service_cannot_meet_gets_the_envelope(real_server):
    port = await real_server()
    answer = await raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 417") and b"application/json" in head and b"X-Request-ID" in head, head
    assert json.loads(body)["error"]["code"] == "EXPECTATION_FAILED"
    continued = await raw_exchange(port, b"POST /v1/gen_video HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                         b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    assert continued.startswith(b"HTTP/1.1 100 Continue"), continued[:100]


# --- 10. IPv4 inside IPv6, and unusual IPv4 spellings --------------------------------------------


@pytest.mark.parametrize("url", [
    "http://[::7f00:1]/d", "http://[64:ff9b::7f00:1]/d", "http://[64:ff9b:1::a00:1]/d", "http://[2002:7f00:1::]/d",
    "http://[::ffff:0:7f00:1]/d", "http://[fec0::1]/d", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/d",
    "http://[::a9fe:a9fe]/d",
])
def test_ipv6_forms_of_internal_ipv4_addresses_are_refused(url):
    with pytest.raises(AddressRefused):
        AddressPolicy().check_url(url)


def test_ipv6_forms_of_public_ipv4_addresses_pass():
    AddressPolicy().check_url("http://[64:ff9b::808:808]/d")
    AddressPolicy().check_url("http://[2606:4700:4700::1111]/d")


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "017700000001"])
async def test_unusual_ipv4_spellings_are_refused_as_final(host, tmp_path):
    async with Downloader(AddressPolicy(), FetchLimits(attempts=4, backoff_seconds=5)) as downloader:
        started = time.monotonic()
        with pytest.raises(DownloadFailed) as refused:
            await downloader.get_json(f"http://{host}:9/get_draft")
    assert not refused.value.retryable and "IPv4" in refused.value.detail
    assert time.monotonic() - started < 1, "refused without retrying"


# Hosts that yarl folds (NFKC, IDNA) into an internal address: full-width digits, ideographic,
# full-width and half-width full stops, circled and mathematical digits, and a folded hex form.
FOLDED_HOSTS = ["１２７.０.０.１", "127。0。0。1", "①②⑦.0.0.1", "１６９.２５４.１６９.２５４", "127．0．0．1",
                "127｡0｡0｡1", "𝟏𝟐𝟕.0.0.1", "１０.０.０.１", "０ｘ７ｆ.１"]


def counting_server(asked: list[str], listed: list[str] = (), redirect_to: str | None = None) -> web.Application:
    """A draft server on 127.0.0.1 that notes every request it gets."""

    async def answer(request: web.Request) -> web.Response:
        asked.append(request.path)
        if request.path == "/redirect" and redirect_to:
            raise web.HTTPFound(redirect_to)
        return web.json_response({"code": 0, "files": list(listed) or ["draft_content.json"]})

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    return app


@pytest.mark.parametrize("host", FOLDED_HOSTS)
async def test_hosts_that_fold_into_internal_addresses_are_refused_as_final(host, aiohttp_server):
    asked: list[str] = []
    server = await aiohttp_server(counting_server(asked))
    async with Downloader(AddressPolicy(), FetchLimits(attempts=4, backoff_seconds=5)) as downloader:
        started = time.monotonic()
        with pytest.raises(DownloadFailed) as refused:
            await downloader.get_json(f"http://{host}:{server.port}/get_draft?draft_id=x")
    assert not refused.value.retryable and time.monotonic() - started < 1
    assert asked == [], "nothing was fetched from the internal address"


async def test_listed_files_and_redirects_are_judged_as_the_client_connects(aiohttp_server, tmp_path):
    internal: list[str] = []
    port = (await aiohttp_server(counting_server(internal))).port  # not the agent's own service
    asked: list[str] = []
    service = await aiohttp_server(counting_server(asked, listed=[f"http://①②⑦.0.0.1:{port}/draft_content.json"],
                                                   redirect_to=f"http://127。0。0。1:{port}/get_draft"))
    origin = f"http://127.0.0.1:{service.port}"
    limits = FetchLimits(attempts=4, backoff_seconds=5)
    async with Downloader(AddressPolicy(trusted_origins=(origin,)), limits) as downloader:
        folder = await list_draft(origin + "/get_draft?draft_id=x", "x", downloader)
        with pytest.raises(DownloadFailed) as listed:
            await folder.fetch("draft_content.json", downloader, tmp_path)
        with pytest.raises(DownloadFailed) as redirected:
            await downloader.get_json(origin + "/redirect")
    assert not listed.value.retryable and not redirected.value.retryable
    assert "内网" in listed.value.detail and "内网" in redirected.value.detail
    assert internal == [] and asked == ["/get_draft", "/redirect"]


async def test_gen_video_takes_a_folded_host_and_the_agent_refuses_it_once(client, store, aiohttp_server, tmp_path):
    """The service judges a draft_url's form only (the OpenAPI pattern); whether an address may
    be fetched is each agent's rule (its --server, --allow-local-drafts), judged in one place."""
    asked: list[str] = []
    draft = f"http://１２７.０.０.１:{(await aiohttp_server(counting_server(asked))).port}/get_draft?draft_id=folded"
    assert (await submit(client, draft))["code"] == 0
    export = load_exporter("ffmpeg", ExporterOptions(server_urls=(str(client.make_url("/")),)))
    async with Agent(client, await register_agent(store, "folded"), export, tmp_path / "work"):
        failed = await until(lambda: _finished(client, draft), 10, "the job failed")
    assert failed["status"] == "failed" and asked == []
    assert failed["error_message"].startswith("草稿下载失败: 127.0.0.1 是内网或保留地址")
    assert (await store.find_job_for_draft(draft)).attempt == 1, "refused as final, never retried"


# --- 11. Read deadlines ---------------------------------------------------------------------------


async def test_headers_that_never_finish_lose_their_connection(real_server):
    port = await real_server(header_timeout_seconds=0.5)
    started = time.monotonic()
    answer = await raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", wait=5)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 3
    # A connection that sends nothing at all is closed too.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await asyncio.wait_for(reader.read(65536), 5) is not None
    writer.close()


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
    return head + await reader.readexactly(length)


@pytest.mark.parametrize("first", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/gen_video HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
])
async def test_a_request_begun_in_the_packet_of_the_one_before_has_the_header_deadline(real_server, first):
    port = await real_server(header_timeout_seconds=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(first + b"GET /healthz HTTP/1.1\r\nHo")  # in one packet
    assert (await read_answer(reader)).startswith((b"HTTP/1.1 200", b"HTTP/1.1 400"))
    late = await asyncio.wait_for(reader.read(), 5)  # then the service closes the connection
    writer.close()
    assert late.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 3, late[:100]
    # A connection idle between whole requests has no late request: it waits for the next one.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(2):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_answer(reader)).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(1.2)
    writer.close()


async def test_a_trickled_body_gets_408_and_its_connection_back(real_server):
    port = await real_server(body_timeout_seconds=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /v1/gen_video HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{")
    started = time.monotonic()
    for _ in range(8):  # one byte every 0.2 s: never idle long, never done
        await asyncio.sleep(0.2)
        if writer.is_closing():
            break
        writer.write(b" ")
        with_answer = reader.at_eof() or bool(reader._buffer)  # noqa: SLF001 - has anything come back yet?
        if with_answer:
            break
    answer = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 3


# --- 13. A revoked token's attempts stay fenced off -----------------------------------------------


async def test_a_new_agent_of_a_revoked_name_cannot_finish_the_old_tokens_attempt(client, store):
    old = ProtocolAgent(client, await register_agent(store, "render-01"), "render-01")
    await submit(client)
    (job,) = await old.claim()
    assert await store.revoke_agent("render-01")
    new = ProtocolAgent(client, await register_agent(store, "render-01"), "render-01")  # the name, added again
    status, body = await new.complete(job)
    assert status == 409 and body["error"]["code"] == "LEASE_LOST"
    assert (await new.progress(job, 50))[0] == 409
    assert (await old.complete(job))[0] == 401
    after = await status_of(client)
    assert after["status"] == "pending" and after["video_url"] == ""
    (again,) = await new.claim()
    assert (again["id"], again["attempt"]) == (job["id"], 2)


async def test_a_claim_authenticated_before_a_revoke_takes_nothing_after_it(client, store):
    """The race of the audit, forced: the claim passes authentication, the revoke commits,
    then the claim's statement runs. It must find the token gone, not the name still there."""
    old = ProtocolAgent(client, await register_agent(store, "render-01"), "render-01")
    await submit(client)
    service_store = client.server.app[STORE]
    touch = service_store.touch_agent

    async def revoked_meanwhile(agent_id, **seen):  # runs between authentication and the claim
        service_store.touch_agent = touch
        await touch(agent_id, **seen)
        assert await store.revoke_agent("render-01")

    service_store.touch_agent = revoked_meanwhile
    assert await old.claim() == []
    assert (await status_of(client))["status"] == "pending"
    new = ProtocolAgent(client, await register_agent(store, "render-01"), "render-01")
    (job,) = await new.claim()
    assert job["attempt"] == 1
    assert await new.complete(job) == (200, {"status": "completed"})


async def _revoke_waits(store) -> bool:
    return await store.pool.fetchval(
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%revoked_at%'"
        " AND datname = current_database())")


async def _claim_waits(store) -> bool:
    return await store.pool.fetchval(
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%holder%'"
        " AND datname = current_database())")


async def test_a_revoke_waits_for_a_claim_in_flight_and_ends_the_attempt_it_started(store):
    agent = await store_agent(store, "render-01")
    job, _ = await store.submit(DRAFT)
    async with store.pool.acquire() as connection:
        in_flight = connection.transaction()
        await in_flight.start()
        (claimed,) = await Store(connection).claim(agent, [], max_jobs=1, lease_seconds=30)  # not yet committed
        revoke = asyncio.create_task(store.revoke_agent("render-01"))
        await until(partial(_done_or, revoke, _revoke_waits, store), 5, "the revoke waiting for the claim")
        await in_flight.commit()
    assert await revoke
    after = await store.get_job(job.id)
    assert (after.status, after.attempt, after.agent) == ("pending", 1, None)


async def test_a_claim_waits_for_a_revoke_in_flight_and_takes_nothing(store):
    agent = await store_agent(store, "render-01")
    await store.submit(DRAFT)
    async with store.pool.acquire() as connection:
        async with connection.transaction():
            await connection.fetchval(QUERIES["revoke_agent"], "render-01")  # the revoke, not yet committed
            claim = asyncio.create_task(store.claim(agent, [], max_jobs=1, lease_seconds=30))
            await until(partial(_done_or, claim, _claim_waits, store), 5, "the claim waiting for the revoke")
    assert await claim == []
    assert (await store.find_job_for_draft(DRAFT)).status == "pending"


async def _done_or(task: asyncio.Task, waiting, *args) -> bool:
    return task.done() or await waiting(*args)


async def test_a_token_changed_behind_the_stores_back_still_fences_its_attempts(client, store):
    """The fence is the token that claimed the attempt, not the agent's name: even when a
    name gets a new token without the store ending its attempts (psql), the new token
    writes nothing for them."""
    old = ProtocolAgent(client, await register_agent(store, "render-01"), "render-01")
    await submit(client)
    (job,) = await old.claim()
    fresh = new_token(AGENT_TOKEN)
    await store.pool.execute("UPDATE capcut_mate.agents SET token_id = $2, token_hash = $3 WHERE name = $1",
                             "render-01", fresh.token_id, fresh.token_hash)
    new = ProtocolAgent(client, fresh.token, "render-01")
    assert (await new.progress(job, 50))[0] == 409
    assert (await new.complete(job))[0] == 409
    assert (await new.fail(job))[0] == 409
    status, _ = await new.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"not mine")
    assert status == 409
    assert (await status_of(client))["status"] == "processing"


# --- 14. Status polls need no statistics -------------------------------------------------------------


async def test_a_poll_for_an_old_draft_reads_a_handful_of_pages_on_a_never_analysed_table(store):
    async with store.pool.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL statement_timeout = 0")  # a bulk load, not a request: no deadline
        await connection.execute("""
            INSERT INTO capcut_mate.video_jobs (draft_url, draft_key)
            SELECT 'https://drafts.example.com/get_draft?draft_id=bulk-' || n, 'bulk-' || n
            FROM generate_series(1, 20000) AS n
        """, timeout=300)
    oldest = "https://drafts.example.com/get_draft?draft_id=bulk-1"
    plan = await store.pool.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + QUERIES["find_job_for_draft"],
                                     oldest, "bulk-1")
    top = json.loads(plan)[0]["Plan"]
    pages = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
    assert pages < 40, f"{pages} pages read for one poll"
    job = await store.find_job_for_draft(oldest)
    assert job is not None and job.draft_key == "bulk-1"

