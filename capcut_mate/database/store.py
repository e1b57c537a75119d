"""The store: the one module that talks to PostgreSQL.

Statements live by name in queries.sql; each method runs one of them, so each operation is
a single short transaction. Outcomes an agent or client must hear about (lease lost, not
found, …) are raised as protocol errors; connection trouble propagates as asyncpg / OS
errors, which capcut_mate.database.outage classifies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
import asyncpg

from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.protocol.jobs import (
    AGENT_LOST_MESSAGE,
    CANCELLED_MESSAGE,
    COMPLETED_STAGE,
    PENDING_STAGE,
    QUEUE_EXPIRED_MESSAGE,
    STAGES,
    JobStatus,
    draft_key,
    retry_delay_seconds,
    stage_for,
)

SCHEMA = "capcut_mate"
LEASE_EXPIRED_NOTE = "租约到期，代理未按时汇报"
# An idle agent long-polls a claim at least every 30 s; unseen for longer, it is offline.
ONLINE_WINDOW_SECONDS = 60.0


def _load_queries(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    queries: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, sql = block.partition("\n")
        queries[name.strip()] = sql.strip().rstrip(";")
    return queries


QUERIES = _load_queries(Path(__file__).with_name("queries.sql"))


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    draft_url: str
    draft_key: str
    status: JobStatus
    progress: int
    stage: str
    video_url: str | None
    error_message: str | None
    attempt: int
    max_attempts: int
    priority: int
    requirements: list[str]
    agent: str | None
    lease_expires_at: datetime | None
    run_after: datetime
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> Job:
        values = {field.name: record[field.name] for field in fields(cls)}
        values["status"] = JobStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    attempt: int
    draft_url: str
    draft_key: str
    priority: int
    requirements: list[str]
    lease_expires_at: datetime


@dataclass(frozen=True, slots=True)
class ProgressAck:
    lease_expires_at: datetime
    cancel: bool


@dataclass(frozen=True, slots=True)
class FailOutcome:
    status: JobStatus
    retry_at: datetime | None


@dataclass(frozen=True, slots=True)
class ExpiredLease:
    job_id: int
    status: JobStatus
    attempt: int


@dataclass(frozen=True, slots=True)
class AgentCredentials:
    id: int
    name: str
    token_hash: bytes
    tags: list[str]
    revoked: bool
    seen_long_ago: bool


@dataclass(frozen=True, slots=True)
class AgentSummary:
    name: str
    tags: list[str]
    version: str | None
    hostname: str | None
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    running_jobs: int
    state: str  # revoked, busy, idle or offline


def connection_settings(statement_timeout_ms: int, lock_timeout_ms: int) -> dict[str, str]:
    return {
        "search_path": f"{SCHEMA}, public",
        "application_name": "capcut-mate",
        "statement_timeout": str(statement_timeout_ms),
        "lock_timeout": str(lock_timeout_ms),
        # A connection of ours never idles inside a transaction; if one ever does, it
        # must not hold row locks for long.
        "idle_in_transaction_session_timeout": "60000",
    }


class Store:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        pool_size: int = 10,
        statement_timeout_ms: int = 5000,
        lock_timeout_ms: int = 2000,
        connect_timeout: float = 5.0,
    ) -> Store:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=pool_size,
            timeout=connect_timeout,
            # Long enough for the slowest statement plus a margin; the server's
            # statement_timeout is the real bound.
            command_timeout=max(statement_timeout_ms / 1000 * 2, 10.0),
            server_settings=connection_settings(statement_timeout_ms, lock_timeout_ms),
        )
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    # --- the client API ------------------------------------------------------------

    async def submit(
        self, draft_url: str, *, priority: int = 0, requirements: Sequence[str] = (), max_attempts: int = 3
    ) -> tuple[Job, bool]:
        """Queue a job for the draft, or return its active one. True when a job was created."""
        key = draft_key(draft_url)
        # A concurrent submit of the same draft can commit between our snapshot and our
        # insert; the statement then sees neither row, and simply running it again does.
        for _ in range(5):
            record = await self.pool.fetchrow(
                QUERIES["submit_job"], draft_url, key, priority, list(requirements), max_attempts, PENDING_STAGE
            )
            if record is not None:
                return Job.from_record(record), record["created"]
        raise RuntimeError(f"submit of {draft_url!r} kept racing with concurrent submits")

    async def find_job_for_draft(self, draft_url: str) -> Job | None:
        record = await self.pool.fetchrow(QUERIES["find_job_for_draft"], draft_url, draft_key(draft_url))
        return Job.from_record(record) if record else None

    async def get_job(self, job_id: int) -> Job | None:
        record = await self.pool.fetchrow(QUERIES["get_job"], job_id)
        return Job.from_record(record) if record else None

    async def count_active_jobs(self) -> int:
        return await self.pool.fetchval(QUERIES["count_active_jobs"])

    async def cancel(self, draft_url: str) -> Job:
        """Cancel the draft's active job. Raises TASK_NOT_FOUND / TASK_NOT_CANCELLABLE."""
        record = await self.pool.fetchrow(QUERIES["cancel_active_job"], draft_key(draft_url), CANCELLED_MESSAGE)
        if record is not None:
            return Job.from_record(record)
        if await self.find_job_for_draft(draft_url) is None:
            raise ServiceError(Errors.TASK_NOT_FOUND)
        raise ServiceError(Errors.TASK_NOT_CANCELLABLE)

    # --- the agent protocol ----------------------------------------------------------

    async def claim(
        self, agent: str, tags: Sequence[str], *, max_jobs: int, lease_seconds: int
    ) -> list[ClaimedJob]:
        records = await self.pool.fetch(
            QUERIES["claim_jobs"], agent, list(tags), max_jobs, float(lease_seconds), STAGES[10]
        )
        jobs = [ClaimedJob(**dict(record)) for record in records]
        # UPDATE … RETURNING keeps no order; hand jobs out in claim order.
        return sorted(jobs, key=lambda job: (-job.priority, job.id))

    async def report_progress(
        self,
        job_id: int,
        attempt: int,
        agent: str,
        *,
        progress: int,
        stage: str | None,
        message: str | None,
        lease_seconds: int,
    ) -> ProgressAck:
        record = await self.pool.fetchrow(
            QUERIES["report_progress"],
            job_id, attempt, agent, progress, stage, message, float(lease_seconds), stage_for(progress),
        )
        if record is not None:
            return ProgressAck(record["lease_expires_at"], record["cancel_requested"])
        job = await self._fenced_job(job_id, attempt, agent)
        if job.progress > progress:
            raise ServiceError(
                Errors.PROGRESS_REGRESSION, f"job {job_id} is at {job.progress}, got {progress}"
            )
        # The row changed between the two statements (reaped, cancelled, finished).
        raise ServiceError(Errors.LEASE_LOST)

    async def complete(self, job_id: int, attempt: int, agent: str, *, video_url: str) -> JobStatus:
        record = await self.pool.fetchrow(
            QUERIES["complete_job"], job_id, attempt, agent, video_url, COMPLETED_STAGE
        )
        if record is not None:
            return JobStatus.COMPLETED
        job = await self._require_job(job_id)
        if (
            job.status is JobStatus.COMPLETED
            and job.attempt == attempt
            and job.agent == agent
            and job.video_url == video_url
        ):
            return JobStatus.COMPLETED  # a repeat of the complete that already succeeded
        raise ServiceError(Errors.LEASE_LOST)

    async def fail(
        self, job_id: int, attempt: int, agent: str, *, error_message: str, retryable: bool
    ) -> FailOutcome:
        record = await self.pool.fetchrow(
            QUERIES["fail_job"],
            job_id, attempt, agent, error_message, retryable,
            float(retry_delay_seconds(attempt)), CANCELLED_MESSAGE, PENDING_STAGE,
        )
        if record is not None:
            status = JobStatus(record["status"])
            return FailOutcome(status, record["run_after"] if status is JobStatus.PENDING else None)
        await self._require_job(job_id)
        ending = await self.pool.fetchrow(QUERIES["ending_of_attempt"], job_id, attempt)
        if (
            ending is not None
            and ending["agent"] == agent
            and ending["message"] == error_message
            and ending["to_status"] in (JobStatus.FAILED, JobStatus.PENDING)
        ):
            # A repeat of the fail that already succeeded.
            status = JobStatus(ending["to_status"])
            if status is JobStatus.PENDING:
                retry_at = ending["at"] + timedelta(seconds=retry_delay_seconds(attempt))
                return FailOutcome(status, retry_at)
            return FailOutcome(status, None)
        raise ServiceError(Errors.LEASE_LOST)

    async def _require_job(self, job_id: int) -> Job:
        job = await self.get_job(job_id)
        if job is None:
            raise ServiceError(Errors.JOB_NOT_FOUND)
        return job

    async def _fenced_job(self, job_id: int, attempt: int, agent: str) -> Job:
        """The job, if (attempt, agent) still hold its lease; else LEASE_LOST."""
        job = await self._require_job(job_id)
        if job.status is not JobStatus.PROCESSING or job.attempt != attempt or job.agent != agent:
            raise ServiceError(Errors.LEASE_LOST)
        return job

    async def holds_lease(self, job_id: int, attempt: int, agent: str) -> bool:
        return await self.pool.fetchval(QUERIES["check_lease"], job_id, attempt, agent)

    # --- agents -------------------------------------------------------------------------

    async def add_agent(
        self, name: str, *, token_id: str, token_hash: bytes, tags: Sequence[str], replace: bool = False
    ) -> bool:
        """False when an active agent already has the name (and `replace` is not set)."""
        agent_id = await self.pool.fetchval(
            QUERIES["add_agent"], name, token_id, token_hash, list(tags), replace
        )
        return agent_id is not None

    async def find_agent(self, token_id: str) -> AgentCredentials | None:
        record = await self.pool.fetchrow(QUERIES["find_agent_by_token_id"], token_id)
        return AgentCredentials(**dict(record)) if record else None

    async def touch_agent(self, agent_id: int, *, version: str | None = None, hostname: str | None = None) -> None:
        await self.pool.execute(QUERIES["touch_agent"], agent_id, version, hostname)

    async def revoke_agent(self, name: str) -> bool:
        return await self.pool.fetchval(QUERIES["revoke_agent"], name) is not None

    async def list_agents(self, *, online_within_seconds: float = ONLINE_WINDOW_SECONDS) -> list[AgentSummary]:
        records = await self.pool.fetch(QUERIES["list_agents"], float(online_within_seconds))
        return [AgentSummary(**dict(r)) for r in records]

    # --- upkeep -------------------------------------------------------------------------

    async def expire_leases(self, *, batch: int = 100) -> list[ExpiredLease]:
        records = await self.pool.fetch(
            QUERIES["expire_leases"], batch, CANCELLED_MESSAGE, AGENT_LOST_MESSAGE, LEASE_EXPIRED_NOTE,
            PENDING_STAGE,
        )
        return [ExpiredLease(r["id"], JobStatus(r["status"]), r["attempt"]) for r in records]

    async def expire_pending_jobs(self, older_than_seconds: int, *, batch: int = 100) -> list[int]:
        records = await self.pool.fetch(
            QUERIES["expire_pending_jobs"], float(older_than_seconds), batch, QUEUE_EXPIRED_MESSAGE
        )
        return [r["id"] for r in records]
