"""Every error the service answers, with its HTTP status, codes and wording in both languages.

The first block is CONTRACT.md's error table; the rest follow capcut-mate's own numbering
(1001 validation, 1002 not found, 1003 permission, 1004 authentication) or name agent
protocol errors (AGENT_PROTOCOL.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Language(enum.StrEnum):
    ZH = "zh"
    EN = "en"


def language_from_header(accept_language: str | None) -> Language:
    """The first tag of Accept-Language decides: en* is English, anything else Chinese."""
    if not accept_language:
        return Language.ZH
    first = accept_language.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return Language.EN if first.startswith("en") else Language.ZH


@dataclass(frozen=True)
class ErrorKind:
    http_status: int
    code: int
    error_code: str
    message_zh: str
    message_en: str
    details_zh: str
    details_en: str

    def message(self, language: Language) -> str:
        return self.message_en if language is Language.EN else self.message_zh

    def details(self, language: Language) -> str:
        return self.details_en if language is Language.EN else self.details_zh


class Errors:
    """The catalogue. Names are stable; tests and docs refer to them."""

    # CONTRACT.md's table.
    DRAFT_URL_REQUIRED = ErrorKind(
        400, 1001, "VALIDATION_ERROR", "draft_url是必填项", "draft_url is required",
        "请求体缺少draft_url，或其为空", "The request body has no draft_url, or it is empty",
    )
    DRAFT_URL_INVALID = ErrorKind(
        400, 2001, "VALIDATION_ERROR", "无效的草稿URL", "Invalid draft URL",
        "draft_url必须是不超过2048个字符的http(s)绝对URL",
        "draft_url must be an absolute http(s) URL of at most 2048 characters",
    )
    DRAFT_ID_UNDECODABLE = ErrorKind(  # the same row: a draft_id with no value is no draft URL
        400, 2001, "VALIDATION_ERROR", "无效的草稿URL", "Invalid draft URL",
        "draft_url中的draft_id经百分号解码后必须是UTF-8文本",
        "The draft_id in draft_url must be UTF-8 text once percent-decoded",
    )
    VALIDATION_FAILED = ErrorKind(
        400, 1001, "VALIDATION_ERROR", "参数校验失败", "Parameter validation failed",
        "请求体必须是JSON对象", "The request body must be a JSON object",
    )
    TASK_NOT_FOUND = ErrorKind(
        404, 2031, "VIDEO_TASK_NOT_FOUND", "视频生成任务未找到", "Video generation task not found",
        "指定的草稿URL没有对应的视频生成任务", "No video generation task exists for that draft URL",
    )
    QUERY_FAILED = ErrorKind(
        500, 2032, "VIDEO_STATUS_QUERY_FAILED", "视频任务状态查询失败", "Video task status query failed",
        "系统内部错误", "Internal system error",
    )
    DATABASE_UNAVAILABLE = ErrorKind(
        503, 2032, "VIDEO_STATUS_QUERY_FAILED", "视频任务状态查询失败", "Video task status query failed",
        "数据库暂时不可用，请稍后重试", "The database is unreachable for now; retry shortly",
    )

    # Beyond the table.
    TASK_NOT_CANCELLABLE = ErrorKind(
        409, 2033, "VIDEO_TASK_NOT_CANCELLABLE", "视频生成任务已结束，无法取消",
        "The video generation task has already finished", "只能取消等待中或处理中的任务",
        "Only pending or processing tasks can be cancelled",
    )
    ROUTE_NOT_FOUND = ErrorKind(
        404, 1002, "NOT_FOUND", "资源不存在", "Resource not found",
        "没有这个接口", "No such route",
    )
    METHOD_NOT_ALLOWED = ErrorKind(
        405, 1007, "METHOD_NOT_ALLOWED", "请求方法不被允许", "Method not allowed",
        "该接口不支持此请求方法", "This route does not accept that method",
    )
    AUTHENTICATION_FAILED = ErrorKind(
        401, 1004, "UNAUTHORIZED", "认证失败", "Authentication failed",
        "缺少有效的令牌", "A valid token is required",
    )
    PERMISSION_DENIED = ErrorKind(
        403, 1003, "FORBIDDEN", "权限不足", "Permission denied",
        "该令牌无权访问此接口", "This token may not use this route",
    )
    PAYLOAD_TOO_LARGE = ErrorKind(
        413, 1005, "PAYLOAD_TOO_LARGE", "请求体过大", "Request body too large",
        "请求体超过了允许的大小", "The request body is over the allowed size",
    )
    RATE_LIMITED = ErrorKind(
        429, 1006, "RATE_LIMITED", "请求过于频繁", "Too many requests",
        "请稍后重试", "Slow down and retry shortly",
    )
    REQUEST_TIMEOUT = ErrorKind(
        408, 1008, "REQUEST_TIMEOUT", "请求超时", "Request timeout",
        "请求没有按时完整到达", "The request did not arrive whole in time",
    )
    UNSUPPORTED_ENCODING = ErrorKind(
        415, 1009, "UNSUPPORTED_CONTENT_ENCODING", "不支持的内容编码", "Unsupported content encoding",
        "请求体必须不经压缩发送 (Content-Encoding: identity)",
        "Send the request body uncompressed (Content-Encoding: identity)",
    )
    STORAGE_FAILED = ErrorKind(
        507, 1010, "STORAGE_FAILED", "视频存储失败", "Video storage failed",
        "服务无法保存视频", "The service could not store the video",
    )
    EXPECTATION_FAILED = ErrorKind(
        417, 1011, "EXPECTATION_FAILED", "无法满足 Expect 请求头", "Expectation failed",
        "只支持 Expect: 100-continue", "Only Expect: 100-continue is supported",
    )
    INTERNAL_ERROR = ErrorKind(
        500, 9998, "INTERNAL_ERROR", "系统内部错误", "Internal server error",
        "系统内部错误", "Internal server error",
    )

    # The agent protocol.
    LEASE_LOST = ErrorKind(
        409, 3001, "LEASE_LOST", "租约已失效", "Lease lost",
        "该尝试已不是任务当前的处理尝试，请放弃该任务",
        "This attempt is no longer the job's current one; abandon the job",
    )
    PROGRESS_REGRESSION = ErrorKind(
        400, 3002, "PROGRESS_REGRESSION", "进度不能回退", "Progress cannot go down",
        "进度必须不低于任务当前进度", "Progress must not be lower than the job's current progress",
    )
    JOB_NOT_RETRYABLE = ErrorKind(
        409, 3004, "JOB_NOT_RETRYABLE", "只能重试失败的任务", "Only failed jobs can be retried",
        "该任务不是失败状态", "The job has not failed",
    )
    JOB_NOT_FOUND = ErrorKind(
        404, 3003, "JOB_NOT_FOUND", "任务不存在", "Job not found",
        "没有这个编号的任务", "No job has that id",
    )


def error_body(kind: ErrorKind, language: Language, details: str | None = None) -> dict[str, Any]:
    """The envelope that satisfies all three client styles at once (CONTRACT.md, "Errors")."""
    message = kind.message(language)
    return {
        "code": kind.code,
        "message": message,
        "detail": message,
        "error": {
            "code": kind.error_code,
            "message": message,
            "details": details if details is not None else kind.details(language),
        },
    }


class ServiceError(Exception):
    """Raised anywhere in request handling; rendered as the error envelope."""

    def __init__(self, kind: ErrorKind, details: str | None = None, *, headers: dict[str, str] | None = None):
        super().__init__(kind.error_code if details is None else f"{kind.error_code}: {details}")
        self.kind = kind
        self.details = details
        self.headers = headers or {}
