"""Bodies of the operations API (/api/v1) and of `capcut-mate report`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from capcut_mate.protocol.client import StoredText
from capcut_mate.protocol.jobs import Job, JobStatus

OPERATIONS_PREFIX = "/api/v1"
DURATION_PATTERN = r"^\s*(\d{1,9})\s*([smhdw])\s*$"
_DURATION = re.compile(DURATION_PATTERN)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = timedelta(days=3660)  # ten years: further back than any history kept


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `24h`, `7d`, `2w` as a timedelta (longer than ten years reads as ten
    years); ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 24h, 7d or 2w")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return timedelta(seconds=min(seconds, MAX_DURATION.total_seconds()))  # further back than any history: all of it


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _iso_timestamp(value: Any) -> Any:
    """Only an ISO 8601 text is a timestamp here (pydantic would also read 0.5 as seconds
    since 1970, which the document's date-time format does not allow)."""
    if isinstance(value, str) and _ISO_TIMESTAMP.match(value):
        return value
    raise PydanticCustomError("datetime_type", "Input should be an ISO 8601 timestamp with a time zone")


_ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
IsoTimestamp = Annotated[AwareDatetime, BeforeValidator(_iso_timestamp)]


class JobListQuery(_Query):
    status: JobStatus | None = None
    agent: StoredText | None = Field(default=None, max_length=64)
    draft: StoredText | None = Field(default=None, max_length=2048, description="A draft URL or draft key.")
    created_from: IsoTimestamp | None = Field(default=None, description="Created at or after (ISO 8601).")
    created_before: IsoTimestamp | None = Field(default=None, description="Created before (ISO 8601).")
    cursor: str | None = Field(default=None, pattern=r"^\d{1,18}$", description="next_cursor of the previous page.")
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class ReportQuery(_Query):
    since: str = Field(default="24h", pattern=DURATION_PATTERN,
                       description="How far back: 90s, 30m, 24h, 7d, 2w; longer than ten years reads as ten years.")

    @field_validator("since")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class JobList(BaseModel):
    jobs: list[Job]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last one.")


class JobEvent(BaseModel):
    id: int
    at: str
    from_status: JobStatus | None
    to_status: JobStatus
    progress: int
    stage: str | None
    attempt: int
    agent: str | None
    message: str | None


class JobDetail(BaseModel):
    job: Job
    events: list[JobEvent]


class RetryResult(BaseModel):
    job: Job
    created: bool = Field(description="False when the draft already had an active job, which is returned.")


class AgentView(BaseModel):
    name: str
    state: str = Field(description="busy, idle, offline or revoked")
    running_jobs: int
    tags: list[str]
    version: str | None
    hostname: str | None
    created_at: str
    last_seen_at: str | None
    revoked_at: str | None


class AgentList(BaseModel):
    agents: list[AgentView]


class QueueSummary(BaseModel):
    pending: int
    processing: int
    oldest_pending_seconds: float | None
    completed_last_hour: int
    failed_last_hour: int
    completed_last_day: int
    failed_last_day: int
    agents_online: int
    agents_busy: int


class JobsReportRow(BaseModel):
    status: JobStatus
    jobs: int
    mean_queue_wait_seconds: float | None
    mean_run_seconds: float | None
    mean_total_seconds: float | None


class ThroughputRow(BaseModel):
    hour: str
    submitted: int
    completed: int
    failed: int


class StageRow(BaseModel):
    stage: str
    progress: int
    samples: int
    mean_seconds: float
    p50_seconds: float
    p95_seconds: float


class AgentStatsRow(BaseModel):
    agent: str
    jobs_done: int
    jobs_failed: int
    lost_leases: int
    mean_export_seconds: float | None
    last_seen_at: str | None


class FailureRow(BaseModel):
    error_message: str
    jobs: int
    last_failed_at: str


class Report(BaseModel):
    since: str
    jobs: list[JobsReportRow]
    throughput: list[ThroughputRow]
    stages: list[StageRow]
    agents: list[AgentStatsRow]
    failures: list[FailureRow]
