"""eta_seconds in gen_video_status, estimated from recent stage durations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from capcut_mate.protocol.jobs import STAGES, JobStatus
from capcut_mate.server.eta import ETA, EtaEstimator
from support.agents import store_agent
from support.drive import AGENT, claim_one, drive


def draft(name: str) -> str:
    return f"https://drafts.example.com/get_draft?draft_id={name}"


async def test_eta_sums_the_stages_still_ahead(store):
    job = await drive(store, draft("unit"), JobStatus.PROCESSING, progress=50)
    estimator = EtaEstimator()
    estimator.use({10: (5, 4.0), 20: (5, 3.0), 30: (5, 2.0), 50: (5, 10.0), 70: (5, 60.0), 90: (5, 5.0)})
    now = job.stage_started_at + timedelta(seconds=4)
    assert estimator.eta_seconds(job, now) == 6 + 60 + 5
    # Overdue in its stage: only the stages after it are left.
    assert estimator.eta_seconds(job, job.stage_started_at + timedelta(seconds=30)) == 65
    assert estimator.eta_seconds(job.model_copy(update={"status": JobStatus.PENDING}), now) is None


async def test_no_eta_when_history_is_thin(store):
    job = await drive(store, draft("thin"), JobStatus.PROCESSING, progress=50)
    estimator = EtaEstimator()
    estimator.use({stage: (2, 1.0) for stage in STAGES})  # fewer than 3 samples each
    assert estimator.eta_seconds(job) is None
    estimator.use({10: (9, 1.0), 20: (9, 1.0), 30: (9, 1.0), 50: (9, 1.0), 70: (9, 1.0)})  # nothing on 90
    assert estimator.eta_seconds(job) is None


async def test_status_carries_eta_seconds_for_processing_jobs(client, store):
    for n in range(3):
        job, _ = await store.submit(draft(f"past-{n}"))
        claimed = await claim_one(store)
        agent = await store_agent(store, AGENT)
        for progress in STAGES:
            await store.report_progress(job.id, claimed.attempt, agent, progress=progress, stage=None, message=None,
                                        lease_seconds=30)
            await asyncio.sleep(0.02 * (progress / 10))
        await store.complete(job.id, claimed.attempt, agent, video_url="https://v.example.com/p.mp4")

    running = await drive(store, draft("running"), JobStatus.PROCESSING, progress=30)
    queued = await (await client.post("/v1/gen_video", json={"draft_url": draft("queued")})).json()
    assert queued["eta_seconds"] is None  # pending: no estimate
    await client.app[ETA].refresh(store)
    body = await (await client.post("/v1/gen_video_status", json={"draft_url": running.draft_url})).json()
    means = await store.stage_means(datetime.now(UTC) - timedelta(hours=1))
    elapsed = (datetime.now(UTC) - running.stage_started_at).total_seconds()
    expected = max(means[30][1] - elapsed, 0) + sum(means[s][1] for s in (50, 70, 90))
    assert isinstance(body["eta_seconds"], int)
    assert abs(body["eta_seconds"] - expected) <= 1
    done = await (await client.post("/v1/gen_video_status", json={"draft_url": draft("past-0")})).json()
    assert done["eta_seconds"] is None
