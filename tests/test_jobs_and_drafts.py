"""CONTRACT.md, "Jobs and drafts": one active job per draft, lookups, cancelling."""

from __future__ import annotations

import asyncio

import pytest

from capcut_mate.protocol.jobs import JobStatus, UndecodableDraftId, draft_key
from support.agents import store_agent
from support.drive import AGENT, claim_one, drive

DRAFT = "https://capcut-mate.jcaigc.cn/openapi/capcut-mate/v1/get_draft?draft_id=2025092811473036584258"


@pytest.mark.parametrize(
    ("url", "key"),
    [
        (DRAFT, "2025092811473036584258"),
        ("https://a.example.com/get_draft?x=1&draft_id=abc&draft_id=def", "abc"),
        ("https://a.example.com/get_draft?draft_id=", "https://a.example.com/get_draft?draft_id="),
        ("https://a.example.com/drafts/7.json", "https://a.example.com/drafts/7.json"),
        ("https://a.example.com/get_draft?draft_id=%E8%8D%89%E7%A8%BF", "草稿"),
    ],
)
def test_draft_key(url, key):
    assert draft_key(url) == key


@pytest.mark.parametrize("url", [
    "https://a.example.com/get_draft?draft_id=%ff",
    "https://a.example.com/get_draft?draft_id=%E8%8D",  # cut short
    "https://a.example.com/get_draft?x=%ff&draft_id=ok%80",
])
def test_a_draft_id_that_is_not_utf8_has_no_key(url):
    with pytest.raises(UndecodableDraftId):
        draft_key(url)


async def test_submitting_twice_while_active_gives_one_job(client, store):
    first = await (await client.post("/v1/gen_video", json={"draft_url": DRAFT})).json()
    second = await (await client.post("/v1/gen_video", json={"draft_url": DRAFT})).json()
    assert first["job_id"] == second["job_id"]
    assert await store.count_active_jobs() == 1


async def test_a_processing_job_is_returned_not_requeued(client, store):
    job = await drive(store, DRAFT, JobStatus.PROCESSING)
    body = await (await client.post("/v1/gen_video", json={"draft_url": DRAFT})).json()
    assert (body["job_id"], body["status"], body["progress"]) == (job.id, "processing", 65)
    assert await store.count_active_jobs() == 1


async def test_concurrent_submits_of_one_draft_make_one_job(client, store):
    responses = await asyncio.gather(
        *(client.post("/v1/gen_video", json={"draft_url": DRAFT}) for _ in range(30))
    )
    ids = {(await r.json())["job_id"] for r in responses}
    assert len(ids) == 1
    assert await store.pool.fetchval("SELECT count(*) FROM video_jobs") == 1


@pytest.mark.parametrize("final", [JobStatus.COMPLETED, JobStatus.FAILED])
async def test_after_a_job_ends_a_submit_starts_a_new_one(client, store, final):
    old = await drive(store, DRAFT, final)
    body = await (await client.post("/v1/gen_video", json={"draft_url": DRAFT})).json()
    assert body["job_id"] != old.id and body["status"] == "pending"
    status = await (await client.post("/v1/gen_video_status", json={"draft_url": DRAFT})).json()
    assert status["job_id"] == body["job_id"] and status["status"] == "pending"


async def test_status_prefers_the_exact_url_then_the_draft_key(client, store):
    url_a = "https://a.example.com/get_draft?draft_id=same"
    url_b = "https://b.example.com/get_draft?draft_id=same"
    job_a = await drive(store, url_a, JobStatus.COMPLETED)
    job_b = await drive(store, url_b, JobStatus.PROCESSING)

    async def status_of(url):
        return (await (await client.post("/v1/gen_video_status", json={"draft_url": url})).json())["job_id"]

    assert await status_of(url_a) == job_a.id  # exact URL wins, though job_b is newer
    assert await status_of(url_b) == job_b.id
    assert await status_of("https://c.example.com/get_draft?draft_id=same") == job_b.id  # newest by key


async def test_the_same_draft_under_another_url_joins_the_active_job(client, store):
    active = await drive(store, "https://a.example.com/get_draft?draft_id=k1", JobStatus.PENDING)
    body = await (
        await client.post("/v1/gen_video", json={"draft_url": "https://b.example.com/get_draft?draft_id=k1"})
    ).json()
    assert body["job_id"] == active.id


async def test_long_non_ascii_drafts_are_stored_and_found(client, store):
    url = "https://drafts.example.com/草稿/" + "长" * 2000
    assert (await client.post("/v1/gen_video", json={"draft_url": url})).status == 200
    body = await (await client.post("/v1/gen_video_status", json={"draft_url": url})).json()
    assert body["draft_url"] == url


async def test_cancel_a_pending_job_fails_it_at_once(client, store):
    job = await drive(store, DRAFT, JobStatus.PENDING)
    response = await client.post("/v1/cancel_video", json={"draft_url": DRAFT})
    assert response.status == 200
    body = await response.json()
    assert (body["job_id"], body["status"], body["error_message"]) == (job.id, "failed", "任务已取消")
    assert body["completed_at"] is not None
    # Nothing claims it afterwards.
    agent = await store_agent(store, AGENT)
    assert await store.claim(agent, [], max_jobs=10, lease_seconds=30) == []


async def test_cancel_a_processing_job_flags_it_for_its_agent(client, store):
    job = await drive(store, DRAFT, JobStatus.PROCESSING)
    body = await (await client.post("/v1/cancel_video", json={"draft_url": DRAFT})).json()
    assert (body["status"], body["cancel_requested"]) == ("processing", True)
    agent = await store_agent(store, AGENT)
    ack = await store.report_progress(
        job.id, job.attempt, agent, progress=70, stage=None, message=None, lease_seconds=30
    )
    assert ack.cancel is True
    # The agent stops and reports failure; the job ends cancelled, and is not retried.
    outcome = await store.fail(job.id, job.attempt, agent, error_message="stopped", retryable=True)
    assert outcome.status is JobStatus.FAILED
    status = await (await client.post("/v1/gen_video_status", json={"draft_url": DRAFT})).json()
    assert (status["status"], status["error_message"]) == ("failed", "任务已取消")


async def test_a_cancelled_job_does_not_extend_its_lease(store):
    job = await drive(store, DRAFT, JobStatus.PROCESSING)
    await store.cancel(DRAFT)
    before = (await store.get_job(job.id)).lease_expires_at
    await asyncio.sleep(0.01)
    agent = await store_agent(store, AGENT)
    ack = await store.report_progress(
        job.id, job.attempt, agent, progress=70, stage=None, message=None, lease_seconds=300
    )
    assert ack.lease_expires_at == before


@pytest.mark.parametrize("final", [JobStatus.COMPLETED, JobStatus.FAILED])
async def test_cancel_of_a_finished_job_is_refused(client, store, final):
    await drive(store, DRAFT, final)
    response = await client.post("/v1/cancel_video", json={"draft_url": DRAFT}, headers={"Accept-Language": "en"})
    assert response.status == 409
    body = await response.json()
    assert body["error"]["code"] == "VIDEO_TASK_NOT_CANCELLABLE"
    assert (await store.find_job_for_draft(DRAFT)).status is final


async def test_every_change_is_in_the_history(store):
    job, _ = await store.submit(DRAFT)
    claimed = await claim_one(store)
    agent = await store_agent(store, AGENT)
    for progress in (10, 20, 30, 50, 70, 90):
        await store.report_progress(
            job.id, claimed.attempt, agent, progress=progress, stage=None, message=None, lease_seconds=30
        )
        # A heartbeat at the same progress is not a change.
        await store.report_progress(
            job.id, claimed.attempt, agent, progress=progress, stage=None, message=None, lease_seconds=30
        )
    await store.complete(job.id, claimed.attempt, agent, video_url="https://v.example.com/1.mp4")
    rows = await store.pool.fetch(
        "SELECT from_status, to_status, progress, stage, attempt, agent FROM job_events WHERE job_id = $1 ORDER BY id",
        job.id,
    )
    assert [tuple(r) for r in rows] == [
        (None, "pending", 0, "等待中", 0, None),
        ("pending", "processing", 10, "开始处理", 1, AGENT),
        ("processing", "processing", 20, "草稿解析", 1, AGENT),
        ("processing", "processing", 30, "准备环境", 1, AGENT),
        ("processing", "processing", 50, "素材处理", 1, AGENT),
        ("processing", "processing", 70, "导出控制", 1, AGENT),
        ("processing", "processing", 90, "文件生成", 1, AGENT),
        ("processing", "completed", 100, "完成", 1, AGENT),
    ]
