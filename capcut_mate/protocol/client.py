"""Bodies of the client API (CONTRACT.md): gen_video, gen_video_status, cancel_video."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from capcut_mate.protocol.errors import Errors, ErrorKind
from capcut_mate.protocol.jobs import JobStatus

# Every client route is served under both (CONTRACT.md, "Routes").
CLIENT_PREFIXES = ("/openapi/capcut-mate/v1", "/v1")
MAX_DRAFT_URL_LENGTH = 2048
MAX_REQUIREMENTS = 16

Tag = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9._-]{1,64}$")]


_TAG = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def is_tag(value: str) -> bool:
    return bool(_TAG.match(value))


def is_absolute_http_url(value: str) -> bool:
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


class DraftRequest(BaseModel):
    """A body naming one draft; the base of every client request."""

    model_config = ConfigDict(extra="ignore")

    draft_url: str
    apiKey: str | None = Field(default=None, description="Client API key, checked where keys are configured.")

    @field_validator("draft_url", mode="before")
    @classmethod
    def _draft_url(cls, value: Any) -> str:
        if not isinstance(value, str) or value == "":
            raise PydanticCustomError("draft_url_required", "draft_url is required")
        if len(value) > MAX_DRAFT_URL_LENGTH or not is_absolute_http_url(value):
            raise PydanticCustomError("draft_url_invalid", "draft_url must be an absolute http(s) URL")
        return value


class GenVideoRequest(DraftRequest):
    priority: Annotated[int, Field(strict=True, ge=-100, le=100)] = Field(
        default=0, description="Higher is claimed first."
    )
    requirements: list[Tag] = Field(
        default_factory=list,
        max_length=MAX_REQUIREMENTS,
        description="Tags an agent must hold to claim this job.",
    )

    @field_validator("requirements")
    @classmethod
    def _unique(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))


class JobStatusResponse(BaseModel):
    """The status body: code and message for capcut-mate clients, then the documented fields."""

    code: int = 0
    message: str
    draft_url: str
    status: JobStatus
    progress: int
    video_url: str
    error_message: str
    created_at: str
    started_at: str | None
    completed_at: str | None
    # Extra fields (CONTRACT.md allows additions, never renames).
    job_id: int
    stage: str
    cancel_requested: bool = False


class ActiveCountResponse(BaseModel):
    code: Literal[0] = 0
    message: str
    count: int


def classify_validation_error(error: ValidationError) -> tuple[ErrorKind, str | None]:
    """Map pydantic's complaints onto the contract's error table: draft_url's first, as the
    table orders them; the details name the field (None: the kind's own wording)."""
    problems = error.errors(include_url=False)
    for problem in problems:
        if tuple(problem["loc"]) == ("draft_url",):
            if problem["type"] == "draft_url_invalid":
                return Errors.DRAFT_URL_INVALID, None
            return Errors.DRAFT_URL_REQUIRED, None
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return Errors.VALIDATION_FAILED, f"{where}: {first['msg']}"
