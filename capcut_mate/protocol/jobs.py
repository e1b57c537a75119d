"""Job states, stages and the small rules both the service and the agents follow.

The state machine itself lives in the database (table capcut_mate.job_status_transitions,
enforced by a trigger). ALLOWED_TRANSITIONS mirrors it for Python readers, and
tests/test_state_machine.py keeps the two in step.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote_plus, urlsplit

from pydantic import BaseModel, ConfigDict, PlainSerializer


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


ALLOWED_TRANSITIONS: frozenset[tuple[JobStatus, JobStatus]] = frozenset(
    {
        (JobStatus.PENDING, JobStatus.PROCESSING),  # an agent claims it
        (JobStatus.PROCESSING, JobStatus.PROCESSING),  # progress, heartbeat, cancel request
        (JobStatus.PROCESSING, JobStatus.COMPLETED),
        (JobStatus.PROCESSING, JobStatus.FAILED),
        (JobStatus.PROCESSING, JobStatus.PENDING),  # lease lost or retryable failure
        (JobStatus.PENDING, JobStatus.FAILED),  # cancelled, or expired in the queue
    }
)

# Staged progress an agent reports (CONTRACT.md, "States and progress").
STAGES: dict[int, str] = {
    10: "开始处理",
    20: "草稿解析",
    30: "准备环境",
    50: "素材处理",
    70: "导出控制",
    90: "文件生成",
}
PENDING_STAGE = "等待中"
COMPLETED_STAGE = "完成"
CANCELLED_STAGE = "已取消"  # a job cancelled before any agent claimed it
MIN_RUNNING_PROGRESS = 10
MAX_RUNNING_PROGRESS = 90

# Final error messages the service itself writes (upstream wording).
CANCELLED_MESSAGE = "任务已取消"
AGENT_LOST_MESSAGE = "导出代理失联"
QUEUE_EXPIRED_MESSAGE = "任务排队超时"

SUBMITTED_MESSAGE = "视频生成任务已提交，请使用draft_url查询进度"
SUCCESS_MESSAGE = "成功"


def stage_for(progress: int) -> str:
    """The stage name a progress value falls in: the highest stage at or below it."""
    if progress >= 100:
        return COMPLETED_STAGE
    name = PENDING_STAGE
    for threshold, stage in STAGES.items():
        if progress >= threshold:
            name = stage
    return name


def retry_delay_seconds(attempt: int) -> int:
    """Backoff before a retryable failure is claimed again: 10 s × 2^(attempt−1), at most 5 min."""
    return min(10 * 2 ** min(max(attempt - 1, 0), 5), 300)  # capped before raising: attempt may be 2^31


class UndecodableDraftId(ValueError):
    """A draft_id whose percent-escapes are not UTF-8 (`%ff`, `%80…`): it has no value."""


def draft_key(draft_url: str) -> str:
    """A draft's identity (CONTRACT.md): its draft_id query parameter's value when it has
    one, else the whole URL.

    A draft_id whose percent-escapes are not UTF-8 has no text value, and raises
    UndecodableDraftId: the client API refuses such a URL. Decoding it leniently would turn
    every invalid escape into U+FFFD, so that different drafts share one key; keying it by
    the whole URL would let another URL name that key as its own draft_id."""
    for pair in urlsplit(draft_url).query.split("&"):
        name, _, value = pair.partition("=")
        if unquote_plus(name) != "draft_id" or not value:
            continue
        try:
            decoded = unquote_plus(value, errors="strict")
        except UnicodeDecodeError:
            raise UndecodableDraftId("draft_id must be UTF-8 once percent-decoded") from None
        if decoded:
            return decoded
    return draft_url


def format_timestamp(moment: datetime | None) -> str | None:
    """UTC, ISO 8601, exactly three fractional digits, 'Z' suffix."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


# A moment as every API writes it (format_timestamp), held as a datetime until then.
Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str)]


class Job(BaseModel):
    """One export job: the row the store reads from video_jobs, and the job the operations
    API answers with (timestamps written by format_timestamp)."""

    model_config = ConfigDict(frozen=True)

    id: int
    draft_url: str
    draft_key: str
    status: JobStatus
    progress: int
    stage: str
    stage_started_at: Timestamp
    video_url: str | None
    error_message: str | None
    attempt: int
    max_attempts: int
    priority: int
    requirements: list[str]
    agent: str | None
    lease_expires_at: Timestamp | None
    run_after: Timestamp
    cancel_requested: bool
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    updated_at: Timestamp

    @classmethod
    def from_record(cls, record: Any) -> Job:
        """From a video_jobs row (asyncpg Record, or a mapping): trusted, so not validated."""
        values = {name: record[name] for name in cls.model_fields}
        values["status"] = JobStatus(values["status"])
        return cls.model_construct(**values)
