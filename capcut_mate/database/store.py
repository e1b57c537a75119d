"""The store: the one module that talks to PostgreSQL.

Statements live by name in queries.sql; each method runs one of them, so each operation is
a single short transaction. Outcomes an agent or client must hear about (lease lost, not
found, …) are raised as protocol errors; connection trouble propagates as asyncpg / OS
errors, which capcut_mate.database.errors classifies.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from capcut_mate.database.errors import reaching_the_database
from capcut_mate.protocol.agent import ClaimedJob
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.protocol.jobs import (
    AGENT_LOST_MESSAGE,
    CANCELLED_MESSAGE,
    CANCELLED_STAGE,
    COMPLETED_STAGE,
    PENDING_STAGE,
    QUEUE_EXPIRED_MESSAGE,
    STAGES,
    Job,
    JobStatus,
    draft_key,
    retry_delay_seconds,
    stage_for,
)

T = TypeVar("T")

SCHEMA = "capcut_mate"
# The longest a partition's creation or drop may hold job writes while it waits its turn.
PARTITION_LOCK_TIMEOUT = "200ms"
# An idle agent long-polls a claim at least every 30 s; unseen for longer, it is offline.
ONLINE_WINDOW_SECONDS = 60.0
# History notes of attempts that ended because their agent's token did.
TOKEN_REVOKED_NOTE = "导出代理令牌已吊销"
TOKEN_REPLACED_NOTE = "导出代理令牌已更换"


def _load_queries(path: Path) -> tuple[dict[str, str], frozenset[str]]:
    """The named statements, and those marked `idempotent` (running one twice changes
    nothing, so it may run again when a connection is lost in the middle of it)."""
    text = path.read_text(encoding="utf-8")
    queries: dict[str, str] = {}
    idempotent: set[str] = set()
    for block in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        header, _, sql = block.partition("\n")
        name, *marks = header.split()
        queries[name] = sql.strip().rstrip(";")
        if "idempotent" in marks:
            idempotent.add(queries[name])
    return queries, frozenset(idempotent)


QUERIES, IDEMPOTENT_STATEMENTS = _load_queries(Path(__file__).with_name("queries.sql"))


@dataclass(frozen=True, slots=True)
class ProgressAck:
    lease_expires_at: datetime
    cancel: bool


@dataclass(frozen=True, slots=True)
class CompleteOutcome:
    status: JobStatus  # completed; or failed, when a cancel had been requested
    repeat: bool  # an exact repeat of the complete that already ended the attempt


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
    """An agent as its token names it. The token is its identity: the store's agent calls
    take these, and fence each attempt on the token id that claimed it."""

    id: int
    name: str
    token_id: str
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


@dataclass(frozen=True, slots=True)
class OperatorCredentials:
    id: int
    name: str
    token_hash: bytes
    revoked: bool


@dataclass(frozen=True, slots=True)
class PruneResult:
    jobs_deleted: int
    partitions_dropped: list[str]


# A pooled connection found dead when used: its server process was terminated (57P01, sent
# while the connection sat idle), or its socket closed. asyncpg reports the first either as
# that error or, when the termination notice arrived between statements, as an
# InternalClientError refusing to start the next one.
STALE_CONNECTION = (
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)
LOST_MIDWAY = asyncpg.exceptions.ConnectionDoesNotExistError  # "closed in the middle of operation"


def _never_ran(error: BaseException) -> bool:
    if isinstance(error, LOST_MIDWAY):
        return False
    if isinstance(error, asyncpg.exceptions.InterfaceError):
        return "connection is closed" in str(error) or "connection was closed" in str(error)
    if isinstance(error, asyncpg.exceptions.InternalClientError):
        return "cannot switch to state" in str(error)
    return True  # a backend terminated while idle reports it on the next statement, unrun


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What the pool runs on a connection it takes back, after rolling back any open
    transaction: nothing. asyncpg's default sends RESET ALL, CLOSE ALL, UNLISTEN * and
    pg_advisory_unlock_all() every time, a second round trip for each statement; our
    pooled connections never change session state (only SET LOCAL, inside transactions),
    never LISTEN, and take no session-level advisory locks and no cursors."""


def connection_settings(statement_timeout_ms: int, lock_timeout_ms: int) -> dict[str, str]:
    return {
        "search_path": f"{SCHEMA}, public",
        "application_name": "capcut-mate",
        "timezone": "UTC",
        "statement_timeout": str(statement_timeout_ms),
        "lock_timeout": str(lock_timeout_ms),
        # A connection of ours never idles inside a transaction; if one ever does, it
        # must not hold row locks for long.
        "idle_in_transaction_session_timeout": "60000",
        # JIT compiles a plan once its estimated cost is high: here, the reports and the
        # counts over all of history, where compiling took longer than running
        # (benchmarks/RESULTS.md). Our statements are short; none gains.
        "jit": "off",
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
            reset=_keep_session,
        )
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    # Each statement runs on a pooled connection. One whose server process is gone (killed,
    # or the server restarted) fails before our statement reaches any server, so running it
    # again on a fresh connection is always safe; the pool's other connections are likely
    # gone too, so they are all replaced. A connection lost in the middle of a statement
    # leaves unknown whether it ran: that one runs again only if queries.sql marks it
    # idempotent (reads; progress; complete and fail, whose repeats are recognised).

    async def _run(self, method: str, query: str, args: tuple):
        with reaching_the_database():
            try:
                return await getattr(self.pool, method)(query, *args)
            except STALE_CONNECTION as error:
                if not (_never_ran(error) or (isinstance(error, LOST_MIDWAY) and query in IDEMPOTENT_STATEMENTS)):
                    raise
                await self.pool.expire_connections()
                return await getattr(self.pool, method)(query, *args)

    async def _in_transaction(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`work` in one transaction on one pooled connection; run again on a fresh one, as
        `_run` does, when the connection was found dead before any of it ran. `work` must
        be idempotent as a whole (it may run twice when a connection is lost midway)."""
        for tries_left in (1, 0):
            try:
                with reaching_the_database():
                    async with self.pool.acquire() as connection, connection.transaction():
                        return await work(connection)
            except STALE_CONNECTION:
                if not tries_left:
                    raise
                await self.pool.expire_connections()
        raise AssertionError("unreachable")

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run("fetch", query, args)

    async def _fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self._run("fetchrow", query, args)

    async def _fetchval(self, query: str, *args: Any) -> Any:
        return await self._run("fetchval", query, args)

    async def _execute(self, query: str, *args: Any) -> str:
        return await self._run("execute", query, args)

    # --- the client API ------------------------------------------------------------

    async def submit(
        self, draft_url: str, *, priority: int = 0, requirements: Sequence[str] = (), max_attempts: int = 3,
        key: str | None = None,
    ) -> tuple[Job, bool]:
        """Queue a job for the draft, or return its active one. True when a job was created.
        `key`: the draft key, when it is known already (a retry keeps its job's)."""
        key = key or draft_key(draft_url)

        async def submit_in_turn(connection: asyncpg.Connection) -> asyncpg.Record | None:
            await connection.execute(QUERIES["lock_draft_for_submit"], key)
            return await connection.fetchrow(
                QUERIES["submit_job"], draft_url, key, priority, list(requirements), max_attempts, PENDING_STAGE
            )

        # Submits of one draft take turns, so the statement always finds the job it
        # conflicts with; the check stays for a job written past the store (from psql).
        record = await self._in_transaction(submit_in_turn)
        if record is None:
            raise ServiceError(Errors.DATABASE_UNAVAILABLE, "the draft's job changed under the submit; retry")
        return Job.from_record(record), record["created"]

    async def find_job_for_draft(self, draft_url: str) -> Job | None:
        record = await self._fetchrow(QUERIES["find_job_for_draft"], draft_url, draft_key(draft_url))
        return Job.from_record(record) if record else None

    async def get_job(self, job_id: int) -> Job | None:
        record = await self._fetchrow(QUERIES["get_job"], job_id)
        return Job.from_record(record) if record else None

    async def count_active_jobs(self) -> int:
        return await self._fetchval(QUERIES["count_active_jobs"])

    async def cancel(self, draft_url: str) -> Job:
        """Cancel the draft's active job. Raises TASK_NOT_FOUND / TASK_NOT_CANCELLABLE."""
        record = await self._cancel(None, draft_key(draft_url))
        if record is not None:
            return Job.from_record(record)
        if await self.find_job_for_draft(draft_url) is None:
            raise ServiceError(Errors.TASK_NOT_FOUND)
        raise ServiceError(Errors.TASK_NOT_CANCELLABLE)

    async def cancel_job(self, job_id: int) -> Job:
        """Cancel a job by id. Raises JOB_NOT_FOUND / TASK_NOT_CANCELLABLE."""
        record = await self._cancel(job_id, None)
        if record is not None:
            return Job.from_record(record)
        await self.require_job(job_id)
        raise ServiceError(Errors.TASK_NOT_CANCELLABLE)

    async def _cancel(self, job_id: int | None, key: str | None):
        return await self._fetchrow(QUERIES["cancel_job"], job_id, key, CANCELLED_MESSAGE, CANCELLED_STAGE)

    # --- the agent protocol ----------------------------------------------------------

    async def claim(
        self, agent: AgentCredentials, tags: Sequence[str], *, max_jobs: int, lease_seconds: int
    ) -> list[ClaimedJob]:
        """Start up to max_jobs jobs for the agent; none once its token is revoked or replaced."""
        records = await self._fetch(
            QUERIES["claim_jobs"], agent.token_id, list(tags), max_jobs, float(lease_seconds), STAGES[10]
        )
        jobs = [ClaimedJob(**dict(record), lease_seconds=lease_seconds) for record in records]
        # UPDATE … RETURNING keeps no order; hand jobs out in claim order.
        return sorted(jobs, key=lambda job: (-job.priority, job.id))

    async def report_progress(
        self,
        job_id: int,
        attempt: int,
        agent: AgentCredentials,
        *,
        progress: int,
        stage: str | None,
        message: str | None,
        lease_seconds: int,
    ) -> ProgressAck:
        record = await self._fetchrow(
            QUERIES["report_progress"],
            job_id, attempt, agent.token_id, progress, stage, message, float(lease_seconds), stage_for(progress),
        )
        if record is not None:
            return ProgressAck(record["lease_expires_at"], record["cancel_requested"])
        job = await self.fenced_job(job_id, attempt, agent)
        if job.progress > progress:
            raise ServiceError(
                Errors.PROGRESS_REGRESSION, f"job {job_id} is at {job.progress}, got {progress}"
            )
        # The row changed between the two statements (reaped, cancelled, finished).
        raise ServiceError(Errors.LEASE_LOST)

    async def complete(
        self, job_id: int, attempt: int, agent: AgentCredentials, *, video_url: str
    ) -> CompleteOutcome:
        record = await self._fetchrow(
            QUERIES["complete_job"], job_id, attempt, agent.token_id, video_url, COMPLETED_STAGE, CANCELLED_MESSAGE
        )
        if record is not None:
            return CompleteOutcome(JobStatus(record["status"]), repeat=False)
        ending = await self._ending_by(job_id, attempt, agent, message=video_url)
        if ending is not None and ending["to_status"] in (JobStatus.COMPLETED, JobStatus.FAILED):
            return CompleteOutcome(JobStatus(ending["to_status"]), repeat=True)
        raise ServiceError(Errors.LEASE_LOST)

    async def fail(
        self, job_id: int, attempt: int, agent: AgentCredentials, *, error_message: str, retryable: bool
    ) -> FailOutcome:
        record = await self._fetchrow(
            QUERIES["fail_job"],
            job_id, attempt, agent.token_id, error_message, retryable,
            float(retry_delay_seconds(attempt)), CANCELLED_MESSAGE, PENDING_STAGE,
        )
        if record is not None:
            status = JobStatus(record["status"])
            return FailOutcome(status, record["run_after"] if status is JobStatus.PENDING else None)
        ending = await self._ending_by(job_id, attempt, agent, message=error_message)
        if ending is not None and ending["to_status"] in (JobStatus.FAILED, JobStatus.PENDING):
            # A repeat of the fail that already succeeded.
            status = JobStatus(ending["to_status"])
            if status is JobStatus.PENDING:
                retry_at = ending["at"] + timedelta(seconds=retry_delay_seconds(attempt))
                return FailOutcome(status, retry_at)
            return FailOutcome(status, None)
        raise ServiceError(Errors.LEASE_LOST)

    async def agent_that_ended(self, job_id: int, attempt: int) -> str | None:
        """The agent whose attempt this was, once the attempt is over (None while it runs)."""
        ending = await self._fetchrow(QUERIES["ending_of_attempt"], job_id, attempt)
        return ending["agent"] if ending is not None else None

    async def _ending_by(
        self, job_id: int, attempt: int, agent: AgentCredentials, *, message: str
    ) -> asyncpg.Record | None:
        """The history row that ended this attempt, if this agent ended it with this message:
        what a repeated complete or fail must match to be answered as before (the answer
        only; a repeat changes nothing)."""
        await self.require_job(job_id)
        ending = await self._fetchrow(QUERIES["ending_of_attempt"], job_id, attempt)
        if ending is not None and ending["agent"] == agent.name and ending["message"] == message:
            return ending
        return None

    async def expire_lease_now(self, job_id: int, attempt: int, agent: AgentCredentials) -> None:
        await self._execute(QUERIES["expire_lease_now"], job_id, attempt, agent.token_id)

    async def require_job(self, job_id: int) -> Job:
        job = await self.get_job(job_id)
        if job is None:
            raise ServiceError(Errors.JOB_NOT_FOUND)
        return job

    async def fenced_job(self, job_id: int, attempt: int, agent: AgentCredentials) -> Job:
        """The job, if (attempt, the agent's token) still hold its lease; else LEASE_LOST."""
        record = await self._fetchrow(QUERIES["get_job"], job_id)
        if record is None:
            raise ServiceError(Errors.JOB_NOT_FOUND)
        if (record["status"], record["attempt"], record["agent_token_id"]) != (
                JobStatus.PROCESSING, attempt, agent.token_id):
            raise ServiceError(Errors.LEASE_LOST)
        return Job.from_record(record)

    async def holds_lease(self, job_id: int, attempt: int, agent: AgentCredentials) -> bool:
        return await self._fetchval(QUERIES["check_lease"], job_id, attempt, agent.token_id)

    async def videos_in_use(self, videos: Sequence[tuple[int, int, str]]) -> set[str]:
        """Of these stored videos, (job id, attempt, name), the names a job may still show."""
        if not videos:
            return set()
        records = await self._fetch(QUERIES["videos_in_use"], *(list(column) for column in zip(*videos)))
        return {record["name"] for record in records}

    async def live_attempts(self, attempts: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        """Of these (job id, attempt) pairs, those still processing."""
        if not attempts:
            return set()
        records = await self._fetch(QUERIES["live_attempts"], [job for job, _ in attempts],
                                    [attempt for _, attempt in attempts])
        return {(record["id"], record["attempt"]) for record in records}

    # --- agents -------------------------------------------------------------------------

    async def add_agent(
        self, name: str, *, token_id: str, token_hash: bytes, tags: Sequence[str], replace: bool = False
    ) -> bool:
        """False when an active agent already has the name (and `replace` is not set). A
        replaced token's running attempts end with it (end_attempts_of_agent)."""

        async def add(connection: asyncpg.Connection) -> bool:
            agent_id = await connection.fetchval(
                QUERIES["add_agent"], name, token_id, token_hash, list(tags), replace
            )
            if agent_id is not None and replace:
                await self._end_attempts_of(connection, name, TOKEN_REPLACED_NOTE)
            return agent_id is not None

        return await self._in_transaction(add)

    async def find_agent(self, token_id: str) -> AgentCredentials | None:
        record = await self._fetchrow(QUERIES["find_agent_by_token_id"], token_id)
        return AgentCredentials(**dict(record)) if record else None

    async def agent_is_active(self, agent_id: int) -> bool:
        return await self._fetchval(QUERIES["agent_is_active"], agent_id)

    async def touch_agent(self, agent_id: int, *, version: str | None = None, hostname: str | None = None) -> None:
        await self._execute(QUERIES["touch_agent"], agent_id, version, hostname)

    async def revoke_agent(self, name: str) -> bool:
        """Disable the agent's token; the attempts it was running end at once, so that no
        later agent of the same name can write for them."""

        async def revoke(connection: asyncpg.Connection) -> bool:
            if await connection.fetchval(QUERIES["revoke_agent"], name) is None:
                return False
            await self._end_attempts_of(connection, name, TOKEN_REVOKED_NOTE)
            return True

        return await self._in_transaction(revoke)

    @staticmethod
    async def _end_attempts_of(connection: asyncpg.Connection, name: str, note: str, *, batch: int = 100) -> None:
        """End the attempts agent `name` is running, in this transaction, as a lost lease ends
        them: an agent's identity is its token, and that token is being revoked or replaced."""
        await connection.execute(QUERIES["lock_attempts_of_agent"], name)
        while len(await connection.fetch(
            QUERIES["expire_leases"], batch, CANCELLED_MESSAGE, AGENT_LOST_MESSAGE, PENDING_STAGE, name, note,
        )) == batch:
            pass

    async def list_agents(self, *, online_within_seconds: float = ONLINE_WINDOW_SECONDS) -> list[AgentSummary]:
        records = await self._fetch(QUERIES["list_agents"], float(online_within_seconds))
        return [AgentSummary(**dict(r)) for r in records]

    # --- the client rate limit ------------------------------------------------------------

    async def take_client_request(self, address: str, *, rate: float, burst: int) -> float:
        """0 when a request from `address` may go (it is counted); else seconds until one may."""
        wait = await self._fetchval(QUERIES["take_client_request"], address, float(rate), float(burst))
        return 1.0 / rate if wait is None else wait  # a concurrent request just took the last one

    async def forget_full_rate_buckets(self) -> None:
        await self._execute(QUERIES["forget_full_rate_buckets"])

    # --- operators ----------------------------------------------------------------------

    async def add_operator(self, name: str, *, token_id: str, token_hash: bytes) -> bool:
        """False when an active operator already has the name."""
        return await self._fetchval(QUERIES["add_operator"], name, token_id, token_hash) is not None

    async def find_operator(self, token_id: str) -> OperatorCredentials | None:
        record = await self._fetchrow(QUERIES["find_operator_by_token_id"], token_id)
        return OperatorCredentials(**dict(record)) if record else None

    async def revoke_operator(self, name: str) -> bool:
        return await self._fetchval(QUERIES["revoke_operator"], name) is not None

    # --- the operations API and reports ------------------------------------------------

    async def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        agent: str | None = None,
        draft: str | None = None,
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[Job]:
        records = await self._fetch(
            QUERIES["list_jobs"], status, agent, draft, created_from, created_before, before_id, limit
        )
        return [Job.from_record(r) for r in records]

    async def job_events(self, job_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._fetch(QUERIES["job_events_of"], job_id)]

    async def retry(self, job_id: int, *, max_attempts: int) -> tuple[Job, bool]:
        """A new job for a failed job's draft (or the draft's active job, if it has one)."""
        job = await self.require_job(job_id)
        if job.status is not JobStatus.FAILED:
            raise ServiceError(Errors.JOB_NOT_RETRYABLE)
        return await self.submit(
            job.draft_url, priority=job.priority, requirements=job.requirements, max_attempts=max_attempts,
            key=job.draft_key,
        )

    async def queue_summary(self) -> dict[str, Any]:
        return dict(await self._fetchrow(QUERIES["queue_summary"]))

    async def jobs_by_status(self) -> dict[str, int]:
        counts = {status.value: 0 for status in JobStatus}
        counts.update({r["status"]: r["count"] for r in await self._fetch(QUERIES["jobs_by_status"])})
        return counts

    async def report(self, since: datetime, *, failures: int = 20) -> dict[str, list[dict[str, Any]]]:
        """Every figure of `capcut-mate report`, over what happened since `since`. The five
        queries run side by side, as many at once as the pool allows: with a long history
        each takes a good part of the report's time."""
        sections = {
            "jobs": (QUERIES["report_jobs"], since),
            "throughput": (QUERIES["report_throughput"], since),
            "stages": (QUERIES["report_stages"], since, sorted(STAGES)),
            "agents": (QUERIES["report_agents"], since),
            "failures": (QUERIES["report_failures"], since, failures),
        }
        answers = await asyncio.gather(*(self._fetch(*query) for query in sections.values()))
        return {name: [dict(r) for r in records] for name, records in zip(sections, answers)}

    async def stage_means(self, since: datetime) -> dict[int, tuple[int, float]]:
        """Per standard stage: (samples, mean seconds) of stages finished since `since`."""
        records = await self._fetch(QUERIES["report_stages"], since, sorted(STAGES))
        return {r["threshold"]: (r["samples"], r["mean_seconds"]) for r in records}

    async def stage_durations_of_attempt(self, job_id: int, attempt: int) -> list[tuple[int, float]]:
        records = await self._fetch(QUERIES["stage_durations_of_attempt"], job_id, attempt)
        return [(r["progress"], r["seconds"]) for r in records]

    async def invariant_violations(
        self, submitted: Sequence[str] | None = None, *, lease_grace_seconds: float = 10.0
    ) -> list[dict[str, Any]]:
        """Every broken promise right now (migration 0004 lists them); empty when all is well."""
        records = await self._fetch(
            QUERIES["invariant_violations"], list(submitted) if submitted is not None else None,
            float(lease_grace_seconds),
        )
        return [dict(r) for r in records]

    async def schema_revision(self) -> str | None:
        """The migration the schema is at; None before the first one ran."""
        try:
            return await self._fetchval(QUERIES["schema_revision"])
        except asyncpg.exceptions.UndefinedTableError:
            return None

    # --- retention -----------------------------------------------------------------------

    async def ensure_event_partitions(self) -> int:
        """Make the coming months' event partitions; 0 when there was nothing to make, or
        when the tables were too busy this time (next time, then: months are made ahead)."""
        try:
            return await self._partition_ddl(QUERIES["ensure_event_partitions"])
        except asyncpg.LockNotAvailableError:
            return 0

    async def prune(self, cutoff: datetime, *, batch: int = 500) -> PruneResult:
        """Remove finished jobs that ended before `cutoff`, and their events.

        Whole monthly event partitions go first, with one DROP each; then the jobs, in
        batches that never wait on a locked row. A partition's DROP holds job writes for a
        moment, and gives up after PARTITION_LOCK_TIMEOUT rather than hold them longer (a
        busy moment only defers it to the next run). Their stored videos go with the video
        store's upkeep (remove_unused), whenever it runs next.
        """
        dropped = []
        for record in await self._fetch(QUERIES["droppable_event_partitions"], cutoff):
            try:
                await self._partition_ddl(f"DROP TABLE {record['partition']}")
                dropped.append(record["partition"])
            except asyncpg.LockNotAvailableError:
                pass
        deleted = 0
        while True:
            rows = await self._fetch(QUERIES["prune_finished_jobs"], cutoff, batch)
            deleted += len(rows)
            if len(rows) < batch:
                break
        await self.ensure_event_partitions()
        return PruneResult(jobs_deleted=deleted, partitions_dropped=dropped)

    async def _partition_ddl(self, statement: str):
        """Make or drop an event partition: one process at a time, taking video_jobs before
        job_events as job writes do (so never a deadlock), waiting briefly for either."""
        with reaching_the_database():
            return await self._partition_ddl_in(statement)

    async def _partition_ddl_in(self, statement: str):
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(f"SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT}'")
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext('capcut_mate.job_event_partitions'))")
            await connection.execute("LOCK TABLE video_jobs IN SHARE ROW EXCLUSIVE MODE")
            return await connection.fetchval(statement)

    # --- upkeep -------------------------------------------------------------------------

    async def expire_leases(self, *, batch: int = 100) -> list[ExpiredLease]:
        records = await self._fetch(
            QUERIES["expire_leases"], batch, CANCELLED_MESSAGE, AGENT_LOST_MESSAGE, PENDING_STAGE, None, None
        )
        return [ExpiredLease(r["id"], JobStatus(r["status"]), r["attempt"]) for r in records]

    async def expire_pending_jobs(self, older_than_seconds: int, *, batch: int = 100) -> list[int]:
        records = await self._fetch(
            QUERIES["expire_pending_jobs"], float(older_than_seconds), batch, QUEUE_EXPIRED_MESSAGE
        )
        return [r["id"] for r in records]
