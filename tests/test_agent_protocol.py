"""AGENT_PROTOCOL.md over HTTP: identity, claims, leases and fencing, uploads, results."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from capcut_mate.protocol.jobs import JobStatus
from capcut_mate.server import auth
from capcut_mate.server.app_keys import WAKEUPS
from support.agents import ProtocolAgent, register_agent, store_agent

DRAFT = "https://drafts.example.com/get_draft?draft_id=protocol"


@pytest.fixture
async def agent(client, store):
    return ProtocolAgent(client, await register_agent(store, "render-01"), "render-01")


@pytest.fixture
async def other_agent(client, store):
    return ProtocolAgent(client, await register_agent(store, "render-02"), "render-02")


async def submit(client, draft: str = DRAFT, **fields) -> dict:
    response = await client.post("/v1/gen_video", json={"draft_url": draft, **fields})
    assert response.status == 200
    return await response.json()


async def row(store, job_id: int):
    return await store.pool.fetchrow("SELECT * FROM video_jobs WHERE id = $1", job_id)


# --- identity --------------------------------------------------------------------------

ROUTES = [
    ("POST", "/claim", {"wait": 0}),
    ("POST", "/jobs/1/progress", {"attempt": 1, "progress": 20}),
    ("PUT", "/jobs/1/video?attempt=1", None),
    ("POST", "/jobs/1/video/direct", {"attempt": 1, "size": 10}),
    ("POST", "/jobs/1/video/direct/complete",
     {"attempt": 1, "name": "1-1-0000000000000000.mp4", "upload_id": "u", "size": 1,
      "parts": [{"number": 1, "etag": "e"}]}),
    ("POST", "/jobs/1/video/direct/abort", {"attempt": 1, "name": "1-1-0000000000000000.mp4", "upload_id": "u"}),
    ("POST", "/jobs/1/complete", {"attempt": 1, "video_url": "https://v.example.com/a.mp4"}),
    ("POST", "/jobs/1/fail", {"attempt": 1, "error_message": "x"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer cmat_000000000000_forged-secret"],
    ids=["missing", "empty", "malformed", "wrong-scheme", "unknown"],
)
async def test_calls_without_a_valid_token_get_401(client, store, method, path, body, authorization):
    await submit(client)
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.request(method, "/agent/v1" + path, json=body, headers=headers)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "UNAUTHORIZED"
    assert (await store.find_job_for_draft(DRAFT)).status is JobStatus.PENDING


async def test_a_right_token_id_with_a_wrong_secret_gets_401(client, store):
    token = await register_agent(store, "render-09")
    forged = token[: token.rindex("_") + 1] + "x" * 43
    response = await client.post("/agent/v1/claim", json={}, headers={"Authorization": f"Bearer {forged}"})
    assert response.status == 401


async def test_revoked_agents_get_401(client, store, agent):
    assert await store.revoke_agent("render-01")
    status, body = await agent.call("POST", "/claim", {"wait": 0})
    assert (status, body["code"]) == (401, 1004)


async def test_the_agents_name_comes_from_its_token(client, store, agent):
    await submit(client)
    (job,) = await agent.claim(agent="someone-else")
    assert (await row(store, job["id"]))["agent"] == "render-01"
    listed = {a.name: a for a in await store.list_agents()}
    assert listed["render-01"].last_seen_at is not None


# --- claims ----------------------------------------------------------------------------


async def test_claim_answers_with_the_protocols_fields(client, agent, settings):
    submitted = await submit(client, priority=7, requirements=["gpu"])
    (job,) = await agent.claim(tags=["gpu"])
    assert job["id"] == submitted["job_id"]
    assert (job["attempt"], job["draft_url"], job["draft_key"], job["priority"], job["requirements"]) == (
        1, DRAFT, "protocol", 7, ["gpu"]
    )
    assert job["lease_seconds"] == settings.lease_seconds
    assert job["lease_expires_at"].endswith("Z")


async def test_registered_tags_count_with_the_claimed_ones(client, store):
    agent = ProtocolAgent(client, await register_agent(store, "jy-box", ["jianying-6"]), "jy-box")
    await submit(client, requirements=["jianying-6", "win"])
    assert await agent.claim(tags=[]) == []
    assert len(await agent.claim(tags=["win"])) == 1


async def test_wait_zero_answers_at_once(agent):
    started = time.monotonic()
    assert await agent.claim(wait=0) == []
    assert time.monotonic() - started < 0.5


async def test_a_waiting_claim_gets_a_job_submitted_later_well_under_a_second(client, agent):
    waiting = asyncio.create_task(agent.claim(wait=10))
    await asyncio.sleep(0.3)  # the claim is parked now
    submitted_at = time.monotonic()
    await submit(client)
    jobs = await asyncio.wait_for(waiting, 5)
    latency = time.monotonic() - submitted_at
    assert len(jobs) == 1
    assert latency < 0.5, latency


async def test_a_waiting_claim_with_nothing_to_do_answers_empty_after_its_wait(agent):
    started = time.monotonic()
    assert await agent.claim(wait=1) == []
    assert 0.9 <= time.monotonic() - started < 3


async def test_a_notification_wakes_a_claim_whose_tags_fit(client, store):
    plain = ProtocolAgent(client, await register_agent(store, "plain"), "plain")
    gpu = ProtocolAgent(client, await register_agent(store, "gpu-box"), "gpu-box")
    plain_waiting = asyncio.create_task(plain.claim(wait=3))
    await asyncio.sleep(0.1)
    gpu_waiting = asyncio.create_task(gpu.claim(wait=3, tags=["gpu"]))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await submit(client, requirements=["gpu"])
    assert len(await asyncio.wait_for(gpu_waiting, 5)) == 1
    assert time.monotonic() - started < 0.5
    assert await plain_waiting == []


async def test_claims_keep_working_when_the_listen_connection_drops(client, store, agent):
    wakeups = client.app[WAKEUPS]
    for _ in range(50):
        if wakeups.listening:
            break
        await asyncio.sleep(0.05)
    killed = await store.pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'capcut-mate-listener' AND datname = current_database()"
    )
    assert killed == 1
    waiting = asyncio.create_task(agent.claim(wait=10))
    await asyncio.sleep(0.1)
    submitted_at = time.monotonic()
    await submit(client)
    assert len(await asyncio.wait_for(waiting, 5)) == 1
    assert time.monotonic() - submitted_at < 2.5  # the fallback poll, or the reconnected listener
    for _ in range(100):
        if wakeups.listening:
            break
        await asyncio.sleep(0.05)
    assert wakeups.listening, "the LISTEN connection comes back by itself"


# --- progress, leases and fencing --------------------------------------------------------


async def test_progress_extends_the_lease_and_reports_the_stage(client, store, agent):
    await submit(client)
    (job,) = await agent.claim()
    before = (await row(store, job["id"]))["lease_expires_at"]
    await asyncio.sleep(0.05)
    status, answer = await agent.progress(job, 50, stage="素材处理", message="12/40 clips")
    assert (status, answer["cancel"]) == (200, False)
    current = await row(store, job["id"])
    assert current["lease_expires_at"] > before
    assert (current["progress"], current["stage"]) == (50, "素材处理")
    event = await store.pool.fetchrow("SELECT * FROM job_events WHERE job_id = $1 ORDER BY id DESC LIMIT 1", job["id"])
    assert (event["progress"], event["message"]) == (50, "12/40 clips")
    status_body = await (await client.post("/v1/gen_video_status", json={"draft_url": DRAFT})).json()
    assert (status_body["status"], status_body["progress"], status_body["stage"]) == ("processing", 50, "素材处理")


@pytest.mark.parametrize("progress", [9, 91, 100, 0, -5, "50", 50.5, None])
async def test_progress_outside_10_to_90_is_refused(client, store, agent, progress):
    await submit(client)
    (job,) = await agent.claim()
    status, body = await agent.progress(job, progress)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


async def test_progress_never_goes_down(client, store, agent):
    await submit(client)
    (job,) = await agent.claim()
    assert (await agent.progress(job, 70))[0] == 200
    status, body = await agent.progress(job, 50)
    assert (status, body["error"]["code"]) == (400, "PROGRESS_REGRESSION")
    assert (await agent.progress(job, 70))[0] == 200  # the same value is a heartbeat


async def test_unknown_jobs_are_404(agent):
    for call in (
        agent.progress({"id": 999999, "attempt": 1}, 20),
        agent.complete({"id": 999999, "attempt": 1}),
        agent.fail({"id": 999999, "attempt": 1}),
        agent.call("PUT", "/jobs/999999/video?attempt=1", data=b"video"),
        agent.progress({"id": 10**19, "attempt": 1}, 20),  # past bigint
    ):
        status, body = await call
        assert (status, body["error"]["code"]) == (404, "JOB_NOT_FOUND")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/progress", {"attempt": 1, "progress": 20, "stage": "a\u0000b"}),
        ("/progress", {"attempt": 1, "progress": 20, "message": "\u0000"}),
        ("/progress", {"attempt": 2**31, "progress": 20}),
        ("/fail", {"attempt": 1, "error_message": "bad\u0000byte"}),
        ("/complete", {"attempt": 2**31, "video_url": "https://v.example.com/a.mp4"}),
    ],
)
async def test_values_postgres_cannot_hold_are_400_not_500(client, store, agent, path, body):
    await submit(client)
    (job,) = await agent.claim()
    raw = json.dumps(body).encode()  # NUL travels as the JSON escape \\u0000
    response = await client.post(f"/agent/v1/jobs/{job['id']}{path}", data=raw, headers=agent.headers)
    assert response.status == 400, await response.text()
    assert (await row(store, job["id"]))["progress"] == 10


async def test_claim_hostname_with_nul_is_400(agent):
    status, body = await agent.call("POST", "/claim", {"wait": 0, "hostname": "box\u0000"})
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


async def test_a_stale_agent_gets_409_and_changes_nothing(client, store, agent, other_agent, settings):
    await submit(client)
    (stale,) = await store.claim(await store_agent(store, agent.name), [], max_jobs=1, lease_seconds=1)
    stale_job = {"id": stale.id, "attempt": stale.attempt}
    await asyncio.sleep(1.1)
    await store.expire_leases()
    (fresh,) = await other_agent.claim()
    assert (fresh["id"], fresh["attempt"]) == (stale.id, 2)
    await other_agent.progress(fresh, 30)
    before = await row(store, stale.id)
    events_before = await store.pool.fetchval("SELECT count(*) FROM job_events")

    for call in (
        agent.progress(stale_job, 50),
        agent.complete(stale_job),
        agent.fail(stale_job),
        agent.call("PUT", f"/jobs/{stale.id}/video?attempt=1", data=b"video"),
        # Even with the current attempt number, another agent's lease is not yours.
        agent.progress(fresh, 50),
        agent.complete(fresh),
    ):
        status, body = await call
        assert (status, body["error"]["code"]) == (409, "LEASE_LOST")
    assert await row(store, stale.id) == before
    assert await store.pool.fetchval("SELECT count(*) FROM job_events") == events_before


async def test_complete_and_its_exact_repeat(client, store, agent):
    await submit(client)
    (job,) = await agent.claim()
    assert await agent.complete(job, "https://v.example.com/1.mp4") == (200, {"status": "completed"})
    assert await agent.complete(job, "https://v.example.com/1.mp4") == (200, {"status": "completed"})
    status, body = await agent.complete(job, "https://v.example.com/other.mp4")
    assert (status, body["error"]["code"]) == (409, "LEASE_LOST")
    assert (await row(store, job["id"]))["video_url"] == "https://v.example.com/1.mp4"


async def test_fail_and_its_exact_repeat(client, store, agent):
    await submit(client)
    (job,) = await agent.claim()
    assert await agent.fail(job, "导出草稿失败: 坏了") == (200, {"status": "failed"})
    assert await agent.fail(job, "导出草稿失败: 坏了") == (200, {"status": "failed"})
    assert (await agent.fail(job, "something else"))[0] == 409
    assert (await agent.complete(job))[0] == 409


async def test_a_retryable_failure_goes_back_to_the_queue_with_a_backoff(client, store, agent):
    await submit(client)
    (job,) = await agent.claim()
    status, body = await agent.fail(job, "network blip", retryable=True)
    assert (status, body["status"]) == (200, "pending")
    assert body["retry_at"].endswith("Z")
    assert await agent.fail(job, "network blip", retryable=True) == (200, body)  # its repeat
    current = await row(store, job["id"])
    assert (current["status"], current["attempt"], current["error_message"]) == ("pending", 1, None)


async def test_a_retryable_failure_on_the_last_attempt_fails(service, store):
    client = await service(max_attempts=1)
    agent = ProtocolAgent(client, await register_agent(store, "last-try"), "last-try")
    await submit(client)
    (job,) = await agent.claim()
    assert await agent.fail(job, "network blip", retryable=True) == (200, {"status": "failed"})


@pytest.mark.parametrize(
    "body",
    [
        {"attempt": 1},
        {"attempt": 0, "video_url": "https://v.example.com/a.mp4"},
        {"attempt": 1, "video_url": "ftp://v.example.com/a.mp4"},
        {"attempt": "1", "video_url": "https://v.example.com/a.mp4"},
    ],
)
async def test_bad_complete_bodies_are_400(client, store, agent, body):
    await submit(client)
    (job,) = await agent.claim()
    status, answer = await agent.call("POST", f"/jobs/{job['id']}/complete", body)
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert (await row(store, job["id"]))["status"] == "processing"


async def test_a_cancel_wins_over_a_late_complete(client, store, agent):
    await submit(client)
    (job,) = await agent.claim()
    await client.post("/v1/cancel_video", json={"draft_url": DRAFT})
    assert await agent.complete(job, "https://v.example.com/late.mp4") == (200, {"status": "failed"})
    assert await agent.complete(job, "https://v.example.com/late.mp4") == (200, {"status": "failed"})  # repeat
    body = await (await client.post("/v1/gen_video_status", json={"draft_url": DRAFT})).json()
    assert (body["status"], body["error_message"], body["video_url"]) == ("failed", "任务已取消", "")


async def test_a_claim_waiting_when_its_agent_is_revoked_takes_nothing(client, store, agent):
    waiting = asyncio.create_task(agent.claim(wait=5))
    await asyncio.sleep(0.3)
    assert await store.revoke_agent(agent.name)
    await submit(client)
    assert await asyncio.wait_for(waiting, 5) == []
    assert (await store.find_job_for_draft(DRAFT)).status is JobStatus.PENDING


async def test_cancel_reaches_the_agent_through_progress(client, store, agent):
    await submit(client)
    (job,) = await agent.claim()
    await client.post("/v1/cancel_video", json={"draft_url": DRAFT})
    status, answer = await agent.progress(job, 30)
    assert (status, answer["cancel"]) == (200, True)
    assert await agent.fail(job, "stopped on cancel", retryable=True) == (200, {"status": "failed"})
    body = await (await client.post("/v1/gen_video_status", json={"draft_url": DRAFT})).json()
    assert (body["status"], body["error_message"]) == ("failed", "任务已取消")


# --- the reaper ------------------------------------------------------------------------


@pytest.fixture
async def quick_client(service):
    """The service with one-second leases and a fast reaper."""
    return await service(lease_seconds=1, reaper_interval_seconds=0.1)


async def wait_for_status(store, job_id: int, status: str, timeout: float = 5) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = await row(store, job_id)
        if current["status"] == status:
            return current
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} is {current['status']}, not {status}")


async def test_the_reaper_requeues_a_silent_agents_job(quick_client, store):
    agent = ProtocolAgent(quick_client, await register_agent(store, "silent"), "silent")
    await submit(quick_client)
    (job,) = await agent.claim()
    requeued = await wait_for_status(store, job["id"], "pending")
    assert (requeued["attempt"], requeued["agent"]) == (1, None)
    story = await store.pool.fetch(
        "SELECT from_status, to_status, attempt, agent FROM job_events WHERE job_id = $1 ORDER BY id", job["id"]
    )
    assert [tuple(e) for e in story][-1] == ("processing", "pending", 1, "silent")


async def test_the_reaper_fails_a_cancelled_job_whose_agent_never_answers(quick_client, store):
    agent = ProtocolAgent(quick_client, await register_agent(store, "deaf"), "deaf")
    await submit(quick_client)
    (job,) = await agent.claim()
    await quick_client.post("/v1/cancel_video", json={"draft_url": DRAFT})
    failed = await wait_for_status(store, job["id"], "failed")
    assert failed["error_message"] == "任务已取消"


async def test_the_reaper_fails_jobs_whose_attempts_are_used_up(service, store):
    client = await service(lease_seconds=1, reaper_interval_seconds=0.1, max_attempts=1)
    agent = ProtocolAgent(client, await register_agent(store, "flaky"), "flaky")
    await submit(client)
    (job,) = await agent.claim()
    failed = await wait_for_status(store, job["id"], "failed")
    assert failed["error_message"] == "导出代理失联"


async def test_a_reaper_never_waits_on_a_locked_job(store):
    for n in range(5):
        await store.submit(f"https://drafts.example.com/get_draft?draft_id=locked-{n}")
    claimed = await store.claim(await store_agent(store, "gone"), [], max_jobs=5, lease_seconds=1)
    await asyncio.sleep(1.1)
    async with store.pool.acquire() as blocker, blocker.transaction():
        # Someone holds one expired job's row (a slow agent call, an operator in psql).
        await blocker.execute("SELECT 1 FROM video_jobs WHERE id = $1 FOR UPDATE", claimed[0].id)
        started = time.monotonic()
        reaped = await asyncio.wait_for(store.expire_leases(), 3)
        assert time.monotonic() - started < 1
        assert sorted(lease.job_id for lease in reaped) == sorted(job.id for job in claimed[1:])
    assert [lease.job_id for lease in await store.expire_leases()] == [claimed[0].id]


async def test_the_queue_timeout_counts_from_when_a_job_last_became_claimable(store):
    # Both were submitted two days ago; one has waited all that time, the other just came
    # back to the queue (its run_after is now, as after a lost lease).
    await store.pool.execute(
        "INSERT INTO video_jobs (draft_url, draft_key, created_at, run_after) VALUES"
        " ('https://d.example.com/waited', 'waited', now() - interval '2 days', now() - interval '2 days'),"
        " ('https://d.example.com/back', 'back', now() - interval '2 days', now())"
    )
    waited = (await store.find_job_for_draft("https://d.example.com/waited")).id
    assert await store.expire_pending_jobs(86400) == [waited]
    assert (await store.get_job(waited)).error_message == "任务排队超时"
    assert (await store.find_job_for_draft("https://d.example.com/back")).status is JobStatus.PENDING


async def test_concurrent_reapers_reap_each_lease_once(store):
    for n in range(60):
        await store.submit(f"https://drafts.example.com/get_draft?draft_id=reap-{n}")
    await store.claim(await store_agent(store, "gone"), [], max_jobs=60, lease_seconds=1)
    await asyncio.sleep(1.1)
    results = await asyncio.gather(*(store.expire_leases(batch=7) for _ in range(6)))
    while more := await store.expire_leases(batch=7):
        results.append(more)
    reaped = [lease.job_id for batch in results for lease in batch]
    assert sorted(reaped) == sorted(set(reaped)) and len(reaped) == 60
    requeues = await store.pool.fetchval(
        "SELECT count(*) FROM job_events WHERE from_status = 'processing' AND to_status = 'pending'"
    )
    assert requeues == 60


# --- videos ----------------------------------------------------------------------------


async def test_uploaded_videos_are_stored_under_generated_names_and_served(client, store, agent, settings):
    await submit(client)
    (job,) = await agent.claim()
    video = bytes(range(256)) * 4096
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=video)
    assert status == 200
    url = body["video_url"]
    name = url.rsplit("/", 1)[1]
    assert url.startswith(str(client.make_url("/videos/"))) and name.startswith(f"{job['id']}-1-")
    assert (settings.videos_path / name).read_bytes() == video
    assert await agent.complete(job, url) == (200, {"status": "completed"})
    downloaded = await client.get(f"/videos/{name}")
    assert downloaded.status == 200 and await downloaded.read() == video


async def test_uploads_refuse_lost_leases_empty_bodies_and_oversize(service, settings, store):
    client = await service(max_video_bytes=1000)
    agent = ProtocolAgent(client, await register_agent(store, "uploader"), "uploader")
    await submit(client)
    (job,) = await agent.claim()
    assert (await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=2", data=b"x"))[0] == 409
    assert (await agent.call("PUT", f"/jobs/{job['id']}/video", data=b"x"))[0] == 400
    assert (await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b""))[0] == 400
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"x" * 5000)
    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert [p.name for p in settings.videos_path.iterdir() if p.is_file()] == []


# --- many agents at once ---------------------------------------------------------------


async def test_32_agents_over_2000_jobs_process_each_once_and_lose_none(client, store):
    drafts = [f"https://drafts.example.com/get_draft?draft_id=farm-{n}" for n in range(2000)]
    await store.pool.executemany(
        "INSERT INTO video_jobs (draft_url, draft_key) VALUES ($1, $2)",
        [(url, url.rsplit("=", 1)[1]) for url in drafts],
    )
    agents = [ProtocolAgent(client, await register_agent(store, f"farm-{n:02d}"), f"farm-{n:02d}") for n in range(32)]
    done: list[tuple[str, int]] = []

    async def work(agent: ProtocolAgent) -> None:
        while jobs := await agent.claim(max_jobs=4):
            for job in jobs:
                assert (await agent.progress(job, 50))[0] == 200
                assert (await agent.complete(job))[0] == 200
                done.append((agent.name, job["id"]))

    await asyncio.gather(*(work(agent) for agent in agents))

    assert len(done) == 2000 and len({job_id for _, job_id in done}) == 2000
    per_attempt = await store.pool.fetch(
        """
        SELECT job_id, attempt,
               count(*) FILTER (WHERE to_status = 'processing' AND from_status = 'pending') AS claims,
               count(*) FILTER (WHERE to_status = 'completed') AS completions,
               count(DISTINCT agent) FILTER (WHERE from_status IS NOT NULL) AS agents
        FROM job_events GROUP BY job_id, attempt HAVING attempt > 0
        """
    )
    assert len(per_attempt) == 2000
    assert all((r["attempt"], r["claims"], r["completions"], r["agents"]) == (1, 1, 1, 1) for r in per_attempt)
    assert await store.pool.fetchval("SELECT count(*) FROM video_jobs WHERE status <> 'completed'") == 0
    assert len({name for name, _ in done}) > 16  # the work really was spread


async def test_tokens_are_compared_in_constant_time_even_for_unknown_holders(client, store, agent, monkeypatch):
    compared = []
    real = auth.hmac.compare_digest

    def recording(a, b):
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", recording)
    assert (await agent.call("POST", "/claim", {"wait": 0}))[0] == 200
    forged = ProtocolAgent(client, "cmat_000000000000_" + "x" * 43, "nobody")
    assert (await forged.call("POST", "/claim", {"wait": 0}))[0] == 401
    # One digest comparison each, of two SHA-256 digests, whether the holder exists or not.
    assert compared == [(32, 32), (32, 32)]
