"""The invariant checker itself: quiet on a healthy history, loud on each broken promise."""

from __future__ import annotations

import asyncio

from capcut_mate.protocol.jobs import JobStatus
from support.agents import store_agent
from support.drive import drive


def draft(name: str) -> str:
    return f"https://drafts.example.com/get_draft?draft_id={name}"


async def test_a_healthy_history_has_no_violations(store):
    urls = []
    for status in JobStatus:
        urls.append(draft(status.value))
        await drive(store, urls[-1], status)
    assert await store.invariant_violations(urls) == []


async def test_a_lost_submission_is_reported(store):
    await drive(store, draft("kept"), JobStatus.PENDING)
    violations = await store.invariant_violations([draft("kept"), draft("vanished")])
    assert [(v["invariant"], v["detail"]) for v in violations] == [
        ("lost_submission", f"no job for {draft('vanished')}")
    ]


async def test_a_processing_job_past_its_lease_is_reported(store):
    job = await drive(store, draft("stale"), JobStatus.PROCESSING)
    await store.expire_lease_now(job.id, job.attempt, await store_agent(store, job.agent))
    await asyncio.sleep(0.3)
    assert await store.invariant_violations(lease_grace_seconds=5) == []
    assert [v["invariant"] for v in await store.invariant_violations(lease_grace_seconds=0.1)] == [
        "processing_without_lease"
    ]


async def test_broken_histories_are_reported(store):
    job = await drive(store, draft("tampered"), JobStatus.COMPLETED)
    # What only a bug (or a hand in psql) could do: a second completion, a write from an
    # attempt that had ended, a history that stops short of the job's status.
    await store.pool.execute(
        "INSERT INTO job_events (job_id, from_status, to_status, progress, attempt, agent)"
        " VALUES ($1, 'processing', 'completed', 100, 1, 'ghost'),"
        "        ($1, 'processing', 'processing', 50, 1, 'ghost'),"
        "        ($1, 'completed', 'pending', 0, 1, NULL)",
        job.id,
    )
    found = {v["invariant"] for v in await store.invariant_violations()}
    assert found == {"completion_events", "write_after_attempt_ended", "history_out_of_step"}
