"""The agent's side of the protocol: typed calls to the service, retried through outages.

A call that cannot reach the service, or gets a 5xx, 408 or 429, is retried with
exponential backoff and full jitter until it gets an answer; other answers are final.
A refusal (4xx) raises ServiceRefused with the envelope's error code (LEASE_LOST, …).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
from pydantic import BaseModel

from capcut_mate.protocol.agent import (
    AGENT_PREFIX,
    ClaimRequest,
    ClaimResponse,
    CompleteRequest,
    CompleteResponse,
    FailRequest,
    FailResponse,
    ProgressRequest,
    ProgressResponse,
    VideoUploadResponse,
)

log = logging.getLogger("capcut_mate.agent.service")

Answer = TypeVar("Answer", bound=BaseModel)
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}


class ServiceRefused(Exception):
    def __init__(self, status: int, error_code: str, message: str):
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code


class Backoff:
    """Exponential backoff with full jitter: sleep a random time up to base × 2^n, capped."""

    def __init__(self, base: float = 0.5, cap: float = 30.0):
        self.base, self.cap, self.failures = base, cap, 0

    def next_delay(self) -> float:
        delay = random.uniform(0, min(self.cap, self.base * 2**self.failures))
        self.failures += 1
        return delay


class ServiceClient:
    def __init__(self, server_url: str, token: str, *, request_timeout: float = 60.0):
        self.base_url = server_url.rstrip("/") + AGENT_PREFIX
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=request_timeout),
        )

    async def close(self) -> None:
        await self._session.close()

    async def claim(self, request: ClaimRequest, *, keep_trying: Callable[[], bool]) -> ClaimResponse:
        return await self._call("POST", "/claim", ClaimResponse, json=request, keep_trying=keep_trying)

    async def progress(self, job_id: int, request: ProgressRequest) -> ProgressResponse:
        # One try: the heartbeat loop tries again on its own schedule, with fresh values.
        return await self._call("POST", f"/jobs/{job_id}/progress", ProgressResponse, json=request, retry=False)

    async def upload_video(self, job_id: int, attempt: int, path: Path) -> VideoUploadResponse:
        return await self._call(
            "PUT", f"/jobs/{job_id}/video?attempt={attempt}", VideoUploadResponse, file=path
        )

    async def complete(self, job_id: int, request: CompleteRequest) -> CompleteResponse:
        return await self._call("POST", f"/jobs/{job_id}/complete", CompleteResponse, json=request)

    async def fail(self, job_id: int, request: FailRequest) -> FailResponse:
        return await self._call("POST", f"/jobs/{job_id}/fail", FailResponse, json=request)

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
    ) -> Answer:
        backoff = Backoff()
        while True:
            try:
                body = json.model_dump(mode="json", exclude_none=True) if json is not None else None
                if file is not None:
                    with open(file, "rb") as data:
                        async with self._session.request(
                            method, self.base_url + path, data=data, headers={"Content-Type": "video/mp4"}
                        ) as response:
                            return await self._answer(response, answer)
                async with self._session.request(method, self.base_url + path, json=body) as response:
                    return await self._answer(response, answer)
            except _Retry as reason:
                problem = str(reason)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
                problem = repr(error)
            if not retry or not keep_trying():
                raise ServiceUnreachable(problem)
            delay = backoff.next_delay()
            log.warning("%s %s: %s; retrying in %.1f s", method, path.split("?")[0], problem, delay)
            await asyncio.sleep(delay)

    @staticmethod
    async def _answer(response: aiohttp.ClientResponse, answer: type[Answer]) -> Answer:
        if response.status in RETRY_STATUSES:
            raise _Retry(f"service answered {response.status}")
        payload = await response.json(content_type=None)
        if response.status >= 400:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            raise ServiceRefused(response.status, error.get("code", "UNKNOWN"), error.get("details", ""))
        return answer.model_validate(payload)


class _Retry(Exception):
    pass


class ServiceUnreachable(Exception):
    """The call was not retried (or retrying was called off) and had no answer."""
