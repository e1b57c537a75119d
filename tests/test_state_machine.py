"""The state machine lives in the database; these tests attack it with raw SQL, as an
operator in psql would, and keep the Python mirror in step with it."""

from __future__ import annotations

import itertools

import asyncpg
import pytest

from capcut_mate.database.store import Store
from capcut_mate.protocol.jobs import ALLOWED_TRANSITIONS, JobStatus
from support.agents import store_agent

DRAFT = "https://drafts.example.com/get_draft?draft_id=state-machine"

# The column values each status needs to satisfy the CHECK constraints, so that a raw
# UPDATE into that status fails (or passes) on the transition rule alone.
VALID_COLUMNS: dict[JobStatus, dict[str, str]] = {
    JobStatus.PENDING: {
        "status": "'pending'", "progress": "0", "agent": "NULL", "lease_expires_at": "NULL",
        "started_at": "NULL", "completed_at": "NULL", "video_url": "NULL", "error_message": "NULL",
    },
    JobStatus.PROCESSING: {
        "status": "'processing'", "progress": "greatest(progress, 10)", "agent": "'psql'",
        "lease_expires_at": "now() + interval '30 s'", "started_at": "now()", "completed_at": "NULL",
        "video_url": "NULL", "error_message": "NULL",
    },
    JobStatus.COMPLETED: {
        "status": "'completed'", "progress": "100", "lease_expires_at": "NULL",
        "started_at": "coalesce(started_at, now())", "completed_at": "now()",
        "video_url": "'https://v.example.com/a.mp4'", "error_message": "NULL",
    },
    JobStatus.FAILED: {
        "status": "'failed'", "progress": "0", "lease_expires_at": "NULL", "completed_at": "now()",
        "video_url": "NULL", "error_message": "'broken'",
    },
}


async def job_in(store: Store, status: JobStatus) -> int:
    """A job brought into `status` through legal transitions only."""
    job, _ = await store.submit(DRAFT)
    if status is JobStatus.PENDING:
        return job.id
    agent = await store_agent(store, "psql")
    claimed = await store.claim(agent, [], max_jobs=1, lease_seconds=30)
    assert [c.id for c in claimed] == [job.id]
    if status is JobStatus.COMPLETED:
        await store.complete(job.id, 1, agent, video_url="https://v.example.com/a.mp4")
    elif status is JobStatus.FAILED:
        await store.fail(job.id, 1, agent, error_message="broken", retryable=False)
    return job.id


async def raw_update(store: Store, job_id: int, source: JobStatus, target: JobStatus, **overrides: str) -> None:
    columns = dict(VALID_COLUMNS[target])
    if (source, target) == (JobStatus.PENDING, JobStatus.PROCESSING):
        columns["attempt"] = "attempt + 1"  # a claim starts the next attempt
    columns |= overrides
    assignments = ", ".join(f"{name} = {value}" for name, value in columns.items())
    await store.pool.execute(f"UPDATE video_jobs SET {assignments} WHERE id = $1", job_id)


async def test_python_mirror_matches_the_database(store: Store):
    rows = await store.pool.fetch("SELECT from_status, to_status FROM job_status_transitions")
    assert {(JobStatus(r["from_status"]), JobStatus(r["to_status"])) for r in rows} == ALLOWED_TRANSITIONS
    labels = await store.pool.fetch(
        "SELECT enumlabel FROM pg_enum WHERE enumtypid = 'capcut_mate.job_status'::regtype ORDER BY enumsortorder"
    )
    assert [r["enumlabel"] for r in labels] == [s.value for s in JobStatus]


@pytest.mark.parametrize(
    ("source", "target"),
    sorted(set(itertools.product(JobStatus, JobStatus)) - ALLOWED_TRANSITIONS),
    ids=lambda s: s.value,
)
async def test_illegal_transition_raises(store: Store, source: JobStatus, target: JobStatus):
    job_id = await job_in(store, source)
    before = await store.pool.fetchrow("SELECT * FROM video_jobs WHERE id = $1", job_id)
    with pytest.raises(asyncpg.PostgresError) as raised:
        await raw_update(store, job_id, source, target)
    assert raised.value.sqlstate == "CM001"
    assert await store.pool.fetchrow("SELECT * FROM video_jobs WHERE id = $1", job_id) == before


@pytest.mark.parametrize(("source", "target"), sorted(ALLOWED_TRANSITIONS), ids=lambda s: s.value)
async def test_legal_transition_passes_and_is_recorded(store: Store, source: JobStatus, target: JobStatus):
    job_id = await job_in(store, source)
    events_before = await store.pool.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", job_id)
    overrides = {"progress": "50"} if (source, target) == (JobStatus.PROCESSING, JobStatus.PROCESSING) else {}
    await raw_update(store, job_id, source, target, **overrides)
    assert await store.pool.fetchval("SELECT status FROM video_jobs WHERE id = $1", job_id) == target
    last = await store.pool.fetchrow(
        "SELECT from_status, to_status FROM job_events WHERE job_id = $1 ORDER BY id DESC LIMIT 1", job_id
    )
    assert (last["from_status"], last["to_status"]) == (source, target)
    assert await store.pool.fetchval(
        "SELECT count(*) FROM job_events WHERE job_id = $1", job_id
    ) == events_before + 1


@pytest.mark.parametrize("final", [JobStatus.COMPLETED, JobStatus.FAILED], ids=str)
@pytest.mark.parametrize(
    "change",
    ["priority = 5", "progress = progress", "stage = 'x'", "cancel_requested = true", "updated_at = now()"],
)
async def test_final_rows_never_change(store: Store, final: JobStatus, change: str):
    job_id = await job_in(store, final)
    with pytest.raises(asyncpg.PostgresError) as raised:
        await store.pool.execute(f"UPDATE video_jobs SET {change} WHERE id = $1", job_id)
    assert raised.value.sqlstate == "CM001"


@pytest.mark.parametrize(
    ("status", "change", "constraint"),
    [
        (JobStatus.PROCESSING, "progress = 95", "video_jobs_progress_matches_status"),
        (JobStatus.PROCESSING, "video_url = 'https://v.example.com/x.mp4'", "video_jobs_video_url_only_when_completed"),
        (JobStatus.PROCESSING, "error_message = 'nope'", "video_jobs_error_message_only_when_failed"),
        (JobStatus.PROCESSING, "lease_expires_at = NULL", "video_jobs_lease_only_when_processing"),
    ],
)
async def test_check_constraints_tie_columns_to_status(store: Store, status, change, constraint):
    job_id = await job_in(store, status)
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await store.pool.execute(f"UPDATE video_jobs SET {change} WHERE id = $1", job_id)
    assert raised.value.constraint_name == constraint


@pytest.mark.parametrize(
    ("columns", "values", "constraint"),
    [
        ("progress", "10", "video_jobs_progress_matches_status"),
        ("agent, lease_expires_at", "'psql', now()", "video_jobs_lease_only_when_processing"),
        ("started_at", "now()", "video_jobs_timestamps_match_status"),
    ],
)
async def test_check_constraints_hold_for_new_pending_jobs(store: Store, columns, values, constraint):
    # A pending job cannot be UPDATEd into another pending state, so attack it on INSERT.
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await store.pool.execute(
            f"INSERT INTO video_jobs (draft_url, draft_key, {columns})"
            f" VALUES ('https://a.example.com/d', 'k', {values})"
        )
    assert raised.value.constraint_name == constraint


@pytest.mark.parametrize(
    ("status", "columns"),
    [
        ("completed", "progress = 100, started_at = now(), completed_at = now(), video_url = ''"),
        ("completed", "progress = 100, started_at = now(), completed_at = now()"),
        ("failed", "completed_at = now(), error_message = ''"),
    ],
)
async def test_completed_needs_a_video_and_failed_an_error(store: Store, status, columns):
    job_id = await job_in(store, JobStatus.PROCESSING)
    with pytest.raises(asyncpg.CheckViolationError):
        await store.pool.execute(
            f"UPDATE video_jobs SET status = '{status}', lease_expires_at = NULL, {columns} WHERE id = $1", job_id
        )


async def test_progress_never_goes_down_within_an_attempt(store: Store):
    job_id = await job_in(store, JobStatus.PROCESSING)
    await store.pool.execute("UPDATE video_jobs SET progress = 70 WHERE id = $1", job_id)
    with pytest.raises(asyncpg.PostgresError) as raised:
        await store.pool.execute("UPDATE video_jobs SET progress = 50 WHERE id = $1", job_id)
    assert raised.value.sqlstate == "CM002"


async def test_a_claim_must_start_the_next_attempt(store: Store):
    job_id = await job_in(store, JobStatus.PENDING)
    with pytest.raises(asyncpg.PostgresError) as raised:
        await raw_update(store, job_id, JobStatus.PENDING, JobStatus.PROCESSING, attempt="2")
    assert raised.value.sqlstate == "CM001"


async def test_a_cancelled_job_is_never_requeued(store: Store):
    job_id = await job_in(store, JobStatus.PROCESSING)
    await store.pool.execute("UPDATE video_jobs SET cancel_requested = true WHERE id = $1", job_id)
    with pytest.raises(asyncpg.PostgresError) as raised:
        await raw_update(store, job_id, JobStatus.PROCESSING, JobStatus.PENDING)
    assert raised.value.sqlstate == "CM001"


async def test_no_requeue_once_attempts_are_used_up(store: Store):
    job_id = await job_in(store, JobStatus.PROCESSING)
    await store.pool.execute("UPDATE video_jobs SET max_attempts = 1 WHERE id = $1", job_id)
    with pytest.raises(asyncpg.PostgresError) as raised:
        await raw_update(store, job_id, JobStatus.PROCESSING, JobStatus.PENDING)
    assert raised.value.sqlstate == "CM001"


async def test_jobs_are_born_pending(store: Store):
    with pytest.raises(asyncpg.PostgresError) as raised:
        await store.pool.execute(
            "INSERT INTO video_jobs (draft_url, draft_key, status, progress, video_url, started_at, completed_at)"
            " VALUES ('https://a.example.com/d', 'k', 'completed', 100, 'https://v/a.mp4', now(), now())"
        )
    assert raised.value.sqlstate == "CM001"


async def test_one_active_job_per_draft_key_even_from_psql(store: Store):
    await store.submit(DRAFT)
    with pytest.raises(asyncpg.UniqueViolationError):
        await store.pool.execute(
            "INSERT INTO video_jobs (draft_url, draft_key) VALUES ('https://other.example.com/x', 'state-machine')"
        )


async def test_history_is_append_only(store: Store):
    await job_in(store, JobStatus.PENDING)
    with pytest.raises(asyncpg.PostgresError) as raised:
        await store.pool.execute("UPDATE job_events SET message = 'rewritten'")
    assert raised.value.sqlstate == "CM001"
