"""Moving jobs through their life with the store, the way an export agent would."""

from __future__ import annotations

import secrets

from capcut_mate.database.store import Store
from capcut_mate.protocol.jobs import Job, JobStatus
from support.agents import store_agent

AGENT = "test-agent"


async def claim_one(store: Store, agent: str = AGENT, tags: list[str] | None = None, lease_seconds: int = 30):
    (claimed,) = await store.claim(await store_agent(store, agent), tags or [], max_jobs=1,
                                   lease_seconds=lease_seconds)
    return claimed


async def drive(
    store: Store,
    draft_url: str,
    to: JobStatus,
    *,
    progress: int = 65,
    video_url: str = "https://videos.example.com/out.mp4",
    error_message: str = "导出草稿失败: 测试",
) -> Job:
    """Submit a draft and bring its job to `to`, through legal transitions only.

    The job requires a tag of its own, so that the claim takes it and no other pending job.
    """
    tag = f"drive-{secrets.token_hex(4)}"
    job, _ = await store.submit(draft_url, requirements=[tag])
    if to is not JobStatus.PENDING:
        claimed = await claim_one(store, tags=[tag])
        assert claimed.id == job.id
        agent = await store_agent(store, AGENT)
        if to is JobStatus.PROCESSING:
            await store.report_progress(
                job.id, claimed.attempt, agent, progress=progress, stage=None, message=None, lease_seconds=30
            )
        elif to is JobStatus.COMPLETED:
            await store.complete(job.id, claimed.attempt, agent, video_url=video_url)
        else:
            await store.fail(job.id, claimed.attempt, agent, error_message=error_message, retryable=False)
    final = await store.get_job(job.id)
    assert final is not None and final.status is to
    return final


async def finished_days_ago(store: Store, job_id: int, days: int) -> None:
    """Move a finished job's end `days` into the past, as retention would find it then
    (past the guard trigger, which keeps completed_at as the transition set it)."""
    await store.pool.execute("ALTER TABLE capcut_mate.video_jobs DISABLE TRIGGER USER")
    try:
        await store.pool.execute("UPDATE capcut_mate.video_jobs SET completed_at = now() - make_interval(days => $2)"
                                 " WHERE id = $1", job_id, days)
    finally:
        await store.pool.execute("ALTER TABLE capcut_mate.video_jobs ENABLE TRIGGER USER")
