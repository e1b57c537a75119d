"""The agent's side of the protocol: typed calls to the service, retried through outages.

A call that cannot reach the service, or gets a 502, 503, 504, 408 or 429, is retried with
exponential backoff and full jitter until it gets an answer; a 500 is retried a few times
(it may be a passing fault, or a request the service can never take); other answers are
final. A refusal raises ServiceRefused with the envelope's error code (LEASE_LOST, …).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
import orjson
from pydantic import BaseModel

from capcut_mate.backoff import Backoff
from capcut_mate.protocol.agent import (
    AGENT_PREFIX,
    ClaimRequest,
    ClaimResponse,
    CompleteRequest,
    CompleteResponse,
    DirectUploadAbort,
    DirectUploadAborted,
    DirectUploadDone,
    DirectUploadRequest,
    DirectUploadResponse,
    FailRequest,
    FailResponse,
    ProgressRequest,
    ProgressResponse,
    UploadedPart,
    UploadPart,
    VideoUploadResponse,
)

log = logging.getLogger("capcut_mate.agent.service")

Answer = TypeVar("Answer", bound=BaseModel)
RETRY_STATUSES = {408, 429, 502, 503, 504}
INTERNAL_ERROR_TRIES = 5
RETRY_BASE_SECONDS, RETRY_CAP_SECONDS = 0.5, 30.0


class ServiceRefused(Exception):
    def __init__(self, status: int, error_code: str, message: str):
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code


class ServiceClient:
    def __init__(self, servers: str | list[str], token: str, *, request_timeout: float = 60.0):
        """`servers`: one service URL, or several processes of one service; a call that
        cannot reach one moves on to the next."""
        urls = [servers] if isinstance(servers, str) else servers
        self._bases = [url.rstrip("/") + AGENT_PREFIX for url in urls]
        self._request_timeout = request_timeout
        self._current = 0
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=request_timeout),
        )

    async def close(self) -> None:
        await self._session.close()

    async def claim(self, request: ClaimRequest, *, keep_trying: Callable[[], bool]) -> ClaimResponse:
        return await self._call("POST", "/claim", ClaimResponse, json=request, keep_trying=keep_trying)

    async def progress(self, job_id: int, request: ProgressRequest, *, timeout: float) -> ProgressResponse:
        # One try, within a third of the lease: the heartbeat loop tries again on its own
        # schedule, so one stalled connection cannot eat the whole lease.
        return await self._call("POST", f"/jobs/{job_id}/progress", ProgressResponse, json=request, retry=False,
                                timeout=timeout)

    async def upload_video(self, job_id: int, attempt: int, path: Path, *, keep_trying: Callable[[], bool]
                           ) -> VideoUploadResponse:
        """Send the video straight to the service's store when it offers that (an S3 bucket:
        POST …/video/direct answers presigned part URLs), else, or if that fails, through
        the service (PUT …/video). Either way the answer is the video_url to complete with."""
        size = (await asyncio.to_thread(path.stat)).st_size
        target = await self._direct_target(job_id, attempt, size, keep_trying)
        if target is not None and target.parts:
            try:
                uploaded = await _put_parts(path, target.parts, self._request_timeout)
            except DirectUploadFailed as failure:
                log.warning("job %s: the direct upload failed (%s); sending the video through the service",
                            job_id, failure)
                abort = DirectUploadAbort(attempt=attempt, name=target.name, upload_id=target.upload_id)
                with contextlib.suppress(ServiceRefused, ServiceUnreachable):
                    await self._call("POST", f"/jobs/{job_id}/video/direct/abort", DirectUploadAborted, json=abort,
                                     retry=False)
            else:
                done = DirectUploadDone(attempt=attempt, name=target.name, upload_id=target.upload_id, size=size,
                                        parts=uploaded)
                return await self._call("POST", f"/jobs/{job_id}/video/direct/complete", VideoUploadResponse,
                                        json=done, keep_trying=keep_trying)
        return await self._call("PUT", f"/jobs/{job_id}/video?attempt={attempt}", VideoUploadResponse, file=path,
                                keep_trying=keep_trying)

    async def _direct_target(self, job_id: int, attempt: int, size: int, keep_trying: Callable[[], bool]
                             ) -> DirectUploadResponse | None:
        try:
            return await self._call("POST", f"/jobs/{job_id}/video/direct", DirectUploadResponse,
                                    json=DirectUploadRequest(attempt=attempt, size=size), keep_trying=keep_trying)
        except ServiceRefused as refusal:
            if refusal.status == 404 and refusal.error_code == "NOT_FOUND":  # a service from before direct uploads
                return None
            raise

    async def complete(self, job_id: int, request: CompleteRequest, *, keep_trying: Callable[[], bool]
                       ) -> CompleteResponse:
        return await self._call("POST", f"/jobs/{job_id}/complete", CompleteResponse, json=request,
                                keep_trying=keep_trying)

    async def fail(self, job_id: int, request: FailRequest, *, keep_trying: Callable[[], bool]) -> FailResponse:
        return await self._call("POST", f"/jobs/{job_id}/fail", FailResponse, json=request,
                                keep_trying=keep_trying)

    async def _call(
        self,
        method: str,
        path: str,
        answer: type[Answer],
        *,
        json: BaseModel | None = None,
        file: Path | None = None,
        retry: bool = True,
        keep_trying: Callable[[], bool] = lambda: True,
        timeout: float | None = None,
    ) -> Answer:
        backoff = Backoff(RETRY_BASE_SECONDS, RETRY_CAP_SECONDS, jitter=True)
        internal_errors = 0
        per_call = aiohttp.ClientTimeout(total=timeout) if timeout else None
        while True:
            try:
                body = json.model_dump(mode="json", exclude_none=True) if json is not None else None
                if file is not None:
                    with open(file, "rb") as data:
                        async with self._session.request(
                            method, self.base_url + path, data=data, headers={"Content-Type": "video/mp4"}
                        ) as response:
                            return await self._answer(response, answer)
                async with self._session.request(method, self.base_url + path, json=body,
                                                 timeout=per_call) as response:
                    return await self._answer(response, answer)
            except _Retry as reason:
                problem = str(reason)
            except ServiceRefused as refusal:
                internal_errors += refusal.status == 500
                if refusal.status != 500 or internal_errors >= INTERNAL_ERROR_TRIES:
                    raise
                problem = str(refusal)
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                problem = describe_network_error(error)
                self._next_server()
            if not retry or not keep_trying():
                raise ServiceUnreachable(problem)
            delay = backoff.next_delay()
            log.warning("%s %s: %s; retrying in %.1f s", method, path.split("?")[0], problem, delay)
            await asyncio.sleep(delay)

    @property
    def base_url(self) -> str:
        return self._bases[self._current]

    def _next_server(self) -> None:
        if len(self._bases) > 1:
            self._current = (self._current + 1) % len(self._bases)
            log.info("moving to %s", self.base_url)

    @staticmethod
    async def _answer(response: aiohttp.ClientResponse, answer: type[Answer]) -> Answer:
        if response.status in RETRY_STATUSES:
            raise _Retry(f"service answered {response.status}")
        text = await response.text(errors="replace")
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError:
            payload = None  # e.g. a proxy's HTML error page
        if response.status >= 400 or payload is None:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            if not isinstance(error, dict):
                error = {}
            # Not our envelope (a proxy's or another server's page): its first words, on one line.
            excerpt = " ".join(text.split())[:120]
            raise ServiceRefused(response.status, str(error.get("code", f"HTTP_{response.status}")),
                                 str(error.get("details", excerpt)))
        return answer.model_validate(payload)


class _Retry(Exception):
    pass


class DirectUploadFailed(Exception):
    """The store would not take a part; the video goes through the service instead."""


PART_TRIES = 4


async def _put_parts(path: Path, parts: list[UploadPart], read_timeout: float) -> list[UploadedPart]:
    """PUT each part of the file to its presigned URL, in order, a part's bytes in memory at a
    time. The store gets no agent token: a session of its own, with no Authorization."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout)
    uploaded = []
    async with aiohttp.ClientSession(timeout=timeout) as store:
        video = await asyncio.to_thread(os.open, path, os.O_RDONLY)
        try:
            for part in parts:
                data = await asyncio.to_thread(os.pread, video, part.size, part.offset)
                if len(data) != part.size:
                    raise DirectUploadFailed(f"the video is shorter than announced (part {part.number})")
                uploaded.append(UploadedPart(number=part.number, etag=await _put_part(store, part, data)))
        finally:
            os.close(video)
    return uploaded


async def _put_part(store: aiohttp.ClientSession, part: UploadPart, data: bytes) -> str:
    backoff = Backoff(RETRY_BASE_SECONDS, RETRY_CAP_SECONDS, jitter=True)
    problem = ""
    for _ in range(PART_TRIES):
        try:
            async with store.put(part.url, data=data) as response:
                etag = response.headers.get("ETag")
                if response.status == 200 and etag:
                    return etag
                problem = f"the store answered {response.status} to part {part.number}"
                if response.status < 500 and response.status not in RETRY_STATUSES:
                    raise DirectUploadFailed(problem)  # e.g. 403: an expired or refused URL
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            problem = f"part {part.number}: {describe_network_error(error)}"
        await asyncio.sleep(backoff.next_delay())
    raise DirectUploadFailed(problem)


class ServiceUnreachable(Exception):
    """The call was not retried (or retrying was called off) and had no answer."""


def describe_network_error(error: BaseException) -> str:
    """A failed call, in a few words for the log: not the exception's whole repr."""
    if isinstance(error, aiohttp.ClientConnectorError):
        cause = error.os_error
        # A negative errno is getaddrinfo's (a name that does not resolve): its own words.
        reason = os.strerror(cause.errno) if cause.errno and cause.errno > 0 else (
            cause.strerror or str(cause) or type(cause).__name__)
        return f"cannot connect to {error.host}:{error.port} ({reason})"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the service closed the connection"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
