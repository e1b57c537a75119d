"""Bodies of the client API (CONTRACT.md): gen_video, gen_video_status, cancel_video."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from capcut_mate.protocol.errors import ErrorKind, Errors
from capcut_mate.protocol.jobs import JobStatus, UndecodableDraftId, draft_key

# Every client route is served under both (CONTRACT.md, "Routes").
CLIENT_PREFIXES = ("/openapi/capcut-mate/v1", "/v1")
MAX_DRAFT_URL_LENGTH = 2048
MAX_REQUIREMENTS = 16

Tag = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9._-]{1,64}$")]


_TAG = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def is_tag(value: str) -> bool:
    return bool(_TAG.match(value))


def has_control_characters(value: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)


# Text a client or agent sends that we store: anything but NUL, which PostgreSQL cannot hold.
StoredText = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]


def _json_integer(value: Any) -> Any:
    """JSON's integers, as JSON Schema counts them: 2 and 2.0 alike; never true, "2" or 2.5."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticCustomError("int_from_float", "Input should be an integer, not a fraction")
        return int(value)
    return value


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


def json_integer(ge: int, le: int) -> Any:
    """An integer in a body, exactly as the OpenAPI document's "integer" within its bounds
    (the bounds go on the type itself, so the document carries them as minimum/maximum)."""
    return Annotated[int, Field(strict=True, ge=ge, le=le), BeforeValidator(_json_integer)]


def json_number(ge: float, le: float) -> Any:
    return Annotated[float, Field(ge=ge, le=le), BeforeValidator(_json_number)]

# An absolute http(s) URL as the service takes it (draft_url, video_url): a host name, an
# IPv4 address or a bracketed IPv6 one (no user info), an optional port up to 65535, and no
# whitespace or control characters, nor percent-escapes of them. The OpenAPI document
# carries this very pattern, and the code checks with it: the two cannot disagree.
_H = "[0-9A-Fa-f]{1,4}"
_IPV6 = "|".join((
    f"(?:{_H}:){{7}}{_H}", f"(?:{_H}:){{1,7}}:", f"(?:{_H}:){{1,6}}:{_H}",
    *(f"(?:{_H}:){{1,{n}}}(?::{_H}){{1,{7 - n}}}" for n in range(5, 0, -1)),
    f":(?:(?::{_H}){{1,7}}|:)",
))
_PORT = r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
_NO_CONTROL_ESCAPE = r"(?!.*%(?:[01][0-9A-Fa-f]|7[Ff]))"
HTTP_URL_PATTERN = (
    _NO_CONTROL_ESCAPE + r"^[Hh][Tt][Tt][Pp][Ss]?://(?:[^\s\x00-\x1f\x7f/?#@\[\]:\\]+|\[(?:" + _IPV6 + r")\])" + _PORT
    + r"(?:[/?#][^\s\x00-\x1f\x7f]*)?$(?!\n)"  # Python's $ also matches before a final newline
)
_HTTP_URL = re.compile(HTTP_URL_PATTERN, re.DOTALL)


def is_absolute_http_url(value: str) -> bool:
    return _HTTP_URL.match(value) is not None


class DraftRequest(BaseModel):
    """A body naming one draft; the base of every client request."""

    model_config = ConfigDict(extra="ignore")

    draft_url: str = Field(json_schema_extra={
        "minLength": 1, "maxLength": MAX_DRAFT_URL_LENGTH, "pattern": HTTP_URL_PATTERN,
        "description": "An absolute http(s) URL of at most 2048 characters. Its draft_id query parameter's "
                       "value is the draft's key (else the whole URL is); a draft_id that is not UTF-8 once "
                       "percent-decoded (`%ff`, `%80`) has no value and is refused (400, 2001).",
    })
    apiKey: StoredText | None = Field(default=None, description="Client API key, checked where keys are configured.")

    @field_validator("draft_url", mode="before")
    @classmethod
    def _draft_url(cls, value: Any) -> str:
        if not isinstance(value, str) or value == "":
            raise PydanticCustomError("draft_url_required", "draft_url is required")
        if len(value) > MAX_DRAFT_URL_LENGTH or not is_absolute_http_url(value):  # e.g. draft_id=%00, too
            raise PydanticCustomError("draft_url_invalid", "draft_url must be an absolute http(s) URL")
        try:
            draft_key(value)
        except UndecodableDraftId:  # no key for it: refused before anything is stored or looked up
            raise PydanticCustomError("draft_id_undecodable", "draft_id must be UTF-8 once percent-decoded") from None
        return value


class GenVideoRequest(DraftRequest):
    priority: json_integer(-100, 100) = Field(
        default=0, description="Higher is claimed first."
    )
    requirements: list[Tag] = Field(
        default_factory=list,
        max_length=MAX_REQUIREMENTS,
        description="Tags an agent must hold to claim this job (at most 16; a tag named twice is one).",
    )

    @field_validator("requirements")
    @classmethod
    def _unique(cls, tags: list[str]) -> list[str]:
        # After the length check: the bound is on the list as sent, as the document states it.
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
    eta_seconds: int | None = Field(
        default=None, description="Seconds left, for processing jobs, from recent stage durations; else null."
    )


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
            if problem["type"] == "draft_id_undecodable":
                return Errors.DRAFT_ID_UNDECODABLE, None
            return Errors.DRAFT_URL_REQUIRED, None
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return Errors.VALIDATION_FAILED, f"{where}: {first['msg']}"
