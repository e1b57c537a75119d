"""The service's HTTP plumbing shared by every route: JSON in and out, request ids, and
turning every failure into the contract's error envelope."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from capcut_mate.database.errors import is_bad_input, is_database_error, is_outage
from capcut_mate.protocol.client import CLIENT_PREFIXES, classify_validation_error
from capcut_mate.protocol.errors import ErrorKind, Errors, ServiceError, error_body, language_from_header

log = logging.getLogger("capcut_mate.server")

# CONTRACT.md: bodies over 1 MiB are refused with 413. Video uploads stream past this.
MAX_BODY_BYTES = 1024 * 1024
# How long a JSON body may take to arrive whole (CAPCUT_MATE_BODY_TIMEOUT_SECONDS).
BODY_TIMEOUT = web.AppKey("body_timeout", float)
DEFAULT_BODY_TIMEOUT = 30.0
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = web.RequestKey("request_id", str)
# The "errors as HTTP 200" setting; it rewrites the status of client routes' errors only.
ERRORS_AS_200 = web.AppKey("errors_as_200", bool)
_CLIENT_PATHS = tuple(prefix + "/" for prefix in CLIENT_PREFIXES)

# Any printable ASCII up to 200 characters is echoed; anything else gets a fresh id.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[\x20-\x7e]{1,200}$")

Model = TypeVar("Model", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def model_response(model: BaseModel, *, status: int = 200, exclude_none: bool = False) -> web.Response:
    return json_response(model.model_dump(mode="json", exclude_none=exclude_none), status=status)


async def read_body(request: web.Request) -> bytes:
    """The whole body (413 past client_max_size), within the body deadline (408): a body
    trickled in a byte at a time cannot hold a connection."""
    try:
        async with asyncio.timeout(request.config_dict.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT)):
            return await request.read()
    except TimeoutError:
        raise ServiceError(Errors.REQUEST_TIMEOUT, "the request body did not arrive whole in time") from None
    except (ConnectionResetError, web.RequestPayloadError):  # the client hung up mid-body: nobody hears
        raise ServiceError(Errors.VALIDATION_FAILED, "the request body broke off") from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; anything else is the contract's 参数校验失败."""
    raw = await read_body(request)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ServiceError(Errors.VALIDATION_FAILED) from None
    if not isinstance(body, dict):
        raise ServiceError(Errors.VALIDATION_FAILED)
    return body


def parse_model(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        kind, details = classify_validation_error(error)
        raise ServiceError(kind, details) from None


async def parse_body(request: web.Request, model: type[Model]) -> Model:
    return parse_model(model, await read_json_object(request))


def job_id_param(request: web.Request) -> int:
    """The {job_id} of the path; past bigint's range no job can have it."""
    raw = request.match_info["job_id"]
    if len(raw) > 18:
        raise ServiceError(Errors.JOB_NOT_FOUND)
    return int(raw)


def parse_query(request: web.Request, model: type[Model]) -> Model:
    return parse_model(model, dict(request.query))


def kind_for_http_exception(error: web.HTTPException) -> ErrorKind:
    return {
        404: Errors.ROUTE_NOT_FOUND,
        405: Errors.METHOD_NOT_ALLOWED,
        413: Errors.PAYLOAD_TOO_LARGE,
        401: Errors.AUTHENTICATION_FAILED,
        403: Errors.PERMISSION_DENIED,
        417: Errors.EXPECTATION_FAILED,
    }.get(error.status, Errors.VALIDATION_FAILED)


def error_response(request: web.Request, kind: ErrorKind, details: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    language = language_from_header(request.headers.get("Accept-Language"))
    status = kind.http_status
    if request.app.get(ERRORS_AS_200) and request.path.startswith(_CLIENT_PATHS):
        status = 200
    return json_response(error_body(kind, language, details), status=status, headers=headers)


def refuse_encoded_body(request: web.Request) -> None:
    """One rule for compressed bodies: refused (415) before a byte is read. The service
    runs with aiohttp's decompression off (create_app), so a gzip bomb is never inflated."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise ServiceError(Errors.UNSUPPORTED_ENCODING)


@web.middleware
async def envelope_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id, and every failure the contract's envelope; never a trace."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request[REQUEST_ID] = incoming if _ACCEPTABLE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    try:
        refuse_encoded_body(request)
        return await handler(request)
    except ServiceError as error:
        return error_response(request, error.kind, error.details, error.headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return error_response(request, kind_for_http_exception(error), headers=headers)
    except Exception as error:
        if is_outage(error):
            log.warning("database unreachable [%s]: %r", request[REQUEST_ID], error)
            return error_response(request, Errors.DATABASE_UNAVAILABLE, headers={"Retry-After": "2"})
        if is_bad_input(error):
            log.warning("input the database refused [%s]: %r", request[REQUEST_ID], error)
            return error_response(request, Errors.VALIDATION_FAILED, "a value is out of range or not storable")
        if is_database_error(error):
            log.error("query failed [%s]: %r", request[REQUEST_ID], error)
            return error_response(request, Errors.QUERY_FAILED)
        log.exception("unexpected error [%s]", request[REQUEST_ID])
        return error_response(request, Errors.INTERNAL_ERROR)


async def stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, streamed and static ones included, names its request."""
    response.headers[REQUEST_ID_HEADER] = request.get(REQUEST_ID) or uuid.uuid4().hex
