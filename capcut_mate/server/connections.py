"""What the service does below routes, on each connection: a deadline for a request's
headers, and the contract's envelope for the errors aiohttp answers by itself (malformed
request lines and headers, and an Expect header other than 100-continue, refused before
any middleware runs), instead of its plain-text pages.

aiohttp itself waits for a request's headers as long as its keep-alive timeout (an hour),
so a client that sends half a request line holds a connection that long. Here a request
whose headers are not whole `header_timeout` seconds after its first byte (or after the
connection opened) gets 408 and the connection closes. A request that begins in the same
packet as the one before it (pipelining) has its first bytes in the parser, where no
data_received shows them: its deadline runs from the answer to the request before it.
Bodies have deadlines of their own (http.read_json_object, video_store).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from capcut_mate.protocol.errors import ErrorKind, Errors, error_body, language_from_header
from capcut_mate.server.http import error_response, kind_for_http_exception

log = logging.getLogger("capcut_mate.server")

# An idle keep-alive connection closes after this long (aiohttp's default: an hour).
KEEPALIVE_SECONDS = 75.0


def _envelope_bytes(kind: ErrorKind, details: str | None = None) -> bytes:
    return orjson.dumps(error_body(kind, language_from_header(None), details))


class GuardedRequestHandler(RequestHandler):
    """aiohttp's protocol, with a deadline for headers and enveloped protocol errors."""

    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        self._timer_if_begun = False  # armed after an answer: 408 only if a request has begun
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:  # a whole request's headers arrived
            self._disarm_header_timer()
        elif data and self._current_request is None and not self._messages:
            self._arm_header_timer()  # the first bytes of the next request on this connection

    async def _handle_request(self, request: Any, start_time: Any, request_handler: Any) -> Any:
        self._disarm_header_timer()  # body bytes that came before the handler began are no headers
        try:
            return await super()._handle_request(request, start_time, request_handler)
        finally:
            if not self._messages:  # the next request may have begun in this one's packet
                self._arm_header_timer(if_begun=True)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self, *, if_begun: bool = False) -> None:
        if self._header_timer is not None and (if_begun or not self._timer_if_begun):
            return  # armed already; only first bytes after an answer restart it, from now
        self._disarm_header_timer()
        self._timer_if_begun = if_begun
        self._header_timer = self._loop.call_later(self.header_timeout, self._headers_too_late, self._request_count)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _request_begun(self) -> bool:
        """Whether the parser holds part of a request. Asked only where the connection closes
        if so, as asking ends the parser's message: it answers the part as a message (or
        raises its complaint about it), and None when it holds nothing. (aiohttp's pure-Python
        parser, used only without its C extension, answers None for a part it cannot read.)"""
        try:
            return self._parser is not None and self._parser.feed_eof() is not None
        except Exception:  # its complaint about a half-sent request
            return True

    def _headers_too_late(self, count_when_armed: int) -> None:
        self._header_timer = None
        if self._request_count != count_when_armed or self._current_request is not None or self.transport is None:
            return
        if self._timer_if_begun and not self._request_begun():
            return  # idle between requests: the keep-alive limit's business
        body = _envelope_bytes(Errors.REQUEST_TIMEOUT, f"the request's headers took over {self.header_timeout:g} s")
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self.force_close()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """A request aiohttp could not parse (or a failure outside every handler): the
        envelope, never a page or a trace."""
        if status >= 500:
            log.error("error outside the handlers", exc_info=exc)
        else:
            log.info("malformed request from %s: %s", getattr(request, "remote", "?"), message or exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the response has begun; no error can be sent")
        kind = Errors.INTERNAL_ERROR if status >= 500 else Errors.VALIDATION_FAILED
        details = None if status >= 500 else "malformed HTTP request"
        response = web.Response(body=_envelope_bytes(kind, details), status=kind.http_status,
                                content_type="application/json", charset="utf-8",
                                headers={"X-Request-ID": uuid.uuid4().hex})
        response.force_close()
        return response


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def enveloping(handle: Handler) -> Handler:
    """The application's handler, with the HTTP errors aiohttp raises before the middlewares
    (its Expect check: 417) in the envelope, as envelope_errors gives every later one."""

    async def handle_enveloped(request: web.BaseRequest) -> web.StreamResponse:
        try:
            return await handle(request)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            log.info("refused before the middlewares: %s %s", error.status, error.text)
            return error_response(request, kind_for_http_exception(error))

    return handle_enveloped


class GuardedServer(web.Server):
    def __init__(self, handler: Any, *args: Any, header_timeout: float, **kwargs: Any):
        super().__init__(enveloping(handler), *args, **kwargs)
        self._handler_class = type("ServiceRequestHandler", (GuardedRequestHandler,),
                                   {"header_timeout": header_timeout})

    def __call__(self) -> RequestHandler:
        return self._handler_class(self, loop=self._loop, **self._kwargs)


class ServiceRunner(web.AppRunner):
    """web.AppRunner whose connections are GuardedRequestHandlers."""

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any):
        super().__init__(app, keepalive_timeout=KEEPALIVE_SECONDS, **kwargs)
        self._header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return GuardedServer(
            plain.request_handler, request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation, loop=plain._loop,
            header_timeout=self._header_timeout, **plain._kwargs,
        )
