"""Bodies of the export agent protocol (AGENT_PROTOCOL.md), used by the service to parse
and answer, and by the agent runtime to call it: one set of models for both sides."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from capcut_mate.protocol.client import (
    HTTP_URL_PATTERN,
    StoredText,
    Tag,
    is_absolute_http_url,
    json_integer,
    json_number,
)
from capcut_mate.protocol.jobs import MAX_RUNNING_PROGRESS, MIN_RUNNING_PROGRESS, Timestamp

AGENT_PREFIX = "/agent/v1"
MAX_CLAIM_WAIT_SECONDS = 30
MAX_JOBS_PER_CLAIM = 32
MAX_MESSAGE_LENGTH = 2000
MAX_STAGE_LENGTH = 64

Attempt = json_integer(1, 2**31 - 1)


def storable_text(text: str, limit: int) -> str:
    """Text made fit for a protocol field: control characters (NUL above all, which
    PostgreSQL cannot hold) become spaces, and it is cut to `limit` characters."""
    cleaned = "".join(" " if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in text)
    return cleaned.strip()[:limit]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ClaimRequest(_Body):
    tags: list[Tag] = Field(default_factory=list, max_length=64, description="Capabilities this agent has now.")
    wait: json_number(0, MAX_CLAIM_WAIT_SECONDS) = Field(
        default=0, description="Seconds to wait for work before answering with no jobs."
    )
    max_jobs: json_integer(1, MAX_JOBS_PER_CLAIM) = 1
    version: Annotated[StoredText, StringConstraints(max_length=64)] | None = None
    hostname: Annotated[StoredText, StringConstraints(max_length=255)] | None = None


class ClaimedJob(BaseModel):
    id: int
    attempt: int
    draft_url: str
    draft_key: str
    priority: int
    requirements: list[str]
    lease_seconds: int
    lease_expires_at: Timestamp
    # The service's own: when the job became claimable (the claim's queue wait starts there).
    run_after: datetime | None = Field(default=None, exclude=True)


class ClaimResponse(BaseModel):
    jobs: list[ClaimedJob]


class ProgressRequest(_Body):
    attempt: Attempt
    progress: json_integer(MIN_RUNNING_PROGRESS, MAX_RUNNING_PROGRESS)
    stage: Annotated[StoredText, StringConstraints(min_length=1, max_length=MAX_STAGE_LENGTH)] | None = None
    message: Annotated[StoredText, StringConstraints(max_length=MAX_MESSAGE_LENGTH)] | None = None


class ProgressResponse(BaseModel):
    lease_expires_at: str
    cancel: bool


class VideoUploadQuery(_Body):
    attempt: Annotated[int, Field(ge=1, le=2**31 - 1)]


class VideoUploadResponse(BaseModel):
    video_url: str


# --- direct uploads: the agent sends the bytes to the store itself (docs/agents.md) ---------

MAX_UPLOAD_PARTS = 10_000  # S3's limit per multipart upload
# What the service makes of a stored video's name: <job>-<attempt>-<16 hex>.mp4.
STORED_VIDEO_NAME = r"^(\d{1,18})-(\d{1,9})-[0-9a-f]{16}\.mp4$"
UploadId = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
VideoName = Annotated[str, StringConstraints(pattern=STORED_VIDEO_NAME)]


class DirectUploadRequest(_Body):
    attempt: Attempt
    size: json_integer(1, 2**53) = Field(description="The video's length in bytes.")


class UploadPart(BaseModel):
    number: int = Field(description="The part's number, from 1.")
    offset: int = Field(description="Where the part starts in the video, in bytes.")
    size: int = Field(description="The part's length in bytes.")
    url: str = Field(description="PUT the part's bytes here (no Authorization header); keep the answer's ETag.")


class DirectUploadResponse(BaseModel):
    """Where to send the video's parts. No parts: this service's store takes videos only
    through PUT …/video."""

    name: str | None = None
    upload_id: str | None = None
    parts: list[UploadPart] = Field(default_factory=list)


class UploadedPart(_Body):
    number: json_integer(1, MAX_UPLOAD_PARTS)
    etag: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class DirectUploadDone(_Body):
    attempt: Attempt
    name: VideoName
    upload_id: UploadId
    size: json_integer(1, 2**53)
    parts: list[UploadedPart] = Field(min_length=1, max_length=MAX_UPLOAD_PARTS)


class DirectUploadAbort(_Body):
    attempt: Attempt
    name: VideoName
    upload_id: UploadId


class DirectUploadAborted(BaseModel):
    aborted: bool


class CompleteRequest(_Body):
    attempt: Attempt
    video_url: Annotated[str, StringConstraints(min_length=1, max_length=4096)] = Field(
        json_schema_extra={"pattern": HTTP_URL_PATTERN, "description": "An absolute http(s) URL."}
    )

    @field_validator("video_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not is_absolute_http_url(value):
            raise ValueError("video_url must be an absolute http(s) URL")
        return value


class CompleteResponse(BaseModel):
    status: str


class FailRequest(_Body):
    attempt: Attempt
    error_message: Annotated[StoredText, StringConstraints(min_length=1, max_length=MAX_MESSAGE_LENGTH)]
    retryable: Annotated[bool, Field(strict=True)] = False


class FailResponse(BaseModel):
    status: str
    retry_at: str | None = None
