"""The video store: where the MP4s agents upload are kept, and the URLs clients get for them.

Two backends behind one interface, chosen by CAPCUT_MATE_VIDEO_STORE:

- `local` (the default): a folder on the service host, served under /videos/ (`local.py`);
- `s3://BUCKET[/PREFIX]`: any S3-compatible object store (AWS S3, R2, MinIO, COS, OSS,
  TOS), shared by every service host (`s3.py`).

Either way the agent's `PUT …/video` body is streamed into the store: agents never hold
storage credentials, and the agent protocol is the same for both. Names are generated here
(job, attempt, random suffix); nothing from the caller becomes part of a name, a path or
a key. A video becomes visible only once whole.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import StreamReader, web

from capcut_mate.protocol.agent import STORED_VIDEO_NAME, DirectUploadResponse, UploadedPart
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.settings import Settings

# A stored video's name: <job>-<attempt>-<16 hex>.mp4, made by new_name and nothing else.
STORED_NAME = re.compile(STORED_VIDEO_NAME)
# Of some (job id, attempt) pairs, those still processing (Store.live_attempts).
LiveAttempts = Callable[[list[tuple[int, int]]], Awaitable[set[tuple[int, int]]]]
# Of some stored videos, (job id, attempt, name), the names a job may still show (Store.videos_in_use).
VideosInUse = Callable[[list[tuple[int, int, str]]], Awaitable[set[str]]]
# How many stored videos upkeep asks about at once.
UPKEEP_BATCH = 1000


@dataclass(frozen=True)
class StoredVideo:
    name: str
    size: int  # bytes


class VideoStore(Protocol):
    kind: str  # "local" or "s3": the label of the store's metrics
    max_bytes: int

    @property
    def location(self) -> str:
        """Where the videos go, for logs: a folder or s3://bucket/prefix."""

    async def start(self) -> None:
        """Open what the store needs; clear uploads a dead process left behind."""

    async def close(self) -> None: ...

    async def save(self, job_id: int, attempt: int, body: StreamReader) -> StoredVideo:
        """Stream the body into the store under a new name. Nothing is left behind when the
        body breaks off, is too big or the store fails (ServiceError says which)."""

    async def begin_direct(self, job_id: int, attempt: int, size: int) -> DirectUploadResponse:
        """A new name and the parts an agent PUTs to the store itself; no parts when this
        store takes videos only through the service (PUT …/video)."""

    async def finish_direct(self, name: str, upload_id: str, size: int, parts: list[UploadedPart]) -> StoredVideo:
        """Make a direct upload the stored video, once its parts add up to `size` bytes."""

    async def abort_direct(self, name: str, upload_id: str) -> None: ...

    async def delete(self, name: str) -> None: ...

    async def delete_videos_of(self, jobs: list[tuple[int, str]]) -> int:
        """Remove the videos of these (job id, video_url) pairs that this store made for that
        very job (see stored_name_in); answer how many went."""

    async def url_for(self, base_url: str, name: str) -> str:
        """The video_url clients get; `base_url` is the service's own public origin."""

    async def response_for(self, name: str, base_url: str, *, head: bool = False) -> web.StreamResponse:
        """GET (or HEAD) /videos/<name>: the video itself, or a redirect to where it is."""

    async def sweep(self, live: LiveAttempts) -> None:
        """Upkeep: remove unfinished uploads that no process can still finish."""

    async def remove_unused(self, in_use: VideosInUse) -> int:
        """Upkeep: remove the stored videos no job can show any more (their job pruned, or
        their attempt over without them); answer how many went. Retention relies on it, so
        a prune that dies before its videos are gone leaves them to the next upkeep."""

    async def check(self) -> str | None:
        """Readiness (a ReadinessCheck): None when the store is reachable and writable, else
        why not, in words fit for an unauthenticated route (no folder path)."""


# A readiness check's answer is kept this long (passing, failing): a load balancer probing
# every second should not cost the store a write a second.
READY_FOR_SECONDS, NOT_READY_FOR_SECONDS = 10.0, 2.0


class ReadinessCheck:
    """A store's write probe as /readyz asks for it: one at a time per process, its answer
    shared by every probe meanwhile and kept a little while, and written under a name of its
    own (host, process, random), so that checks of other processes and hosts sharing the
    store never remove each other's probe (a crash between writing and removing leaves one
    small file, which the local store's upkeep removes after an hour)."""

    def __init__(self, probe: Callable[[str], Awaitable[str | None]]):
        self._probe = probe  # writes and removes a probe of the given name: None, or why not
        self._checking: asyncio.Future | None = None
        self._last: tuple[float, str | None] | None = None  # (kept until, the check's answer)

    async def __call__(self) -> str | None:
        if self._last is not None and time.monotonic() < self._last[0]:
            return self._last[1]
        if self._checking is None:
            name = f"ready-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
            self._checking = asyncio.ensure_future(self._probe(name))
        checking = self._checking
        trouble = await asyncio.shield(checking)
        if self._checking is checking:
            self._checking = None
            keep = READY_FOR_SECONDS if trouble is None else NOT_READY_FOR_SECONDS
            self._last = (time.monotonic() + keep, trouble)
        return trouble


def attempt_of(name: str) -> tuple[int, int] | None:
    """The (job id, attempt) a stored video's name was made for; None for any other name."""
    match = STORED_NAME.match(name)
    return (int(match.group(1)), int(match.group(2))) if match is not None else None


def name_of_attempt(name: str, job_id: int, attempt: int) -> bool:
    """Whether `name` is one the store made for this job's attempt."""
    return attempt_of(name) == (job_id, attempt)


async def unused(names: list[str], in_use: VideosInUse) -> list[str]:
    """Of these stored names, those no job can show any more, asked in batches."""
    unused = []
    for start in range(0, len(names), UPKEEP_BATCH):
        batch = [(*attempt_of(name), name) for name in names[start:start + UPKEEP_BATCH]]
        kept = await in_use(batch)
        unused += [name for *_, name in batch if name not in kept]
    return unused


def new_name(job_id: int, attempt: int) -> str:
    return f"{job_id}-{attempt}-{secrets.token_hex(8)}.mp4"


def stored_name_in(url: str, job_id: int, attempt: int | None = None) -> str | None:
    """The stored video named by the last segment of `url`'s path, if it was made for
    `job_id` (and `attempt`): a URL pointing elsewhere, or at another job's video, names
    nothing to remove."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    made_for = attempt_of(name)
    if made_for is None or made_for[0] != job_id or attempt not in (None, made_for[1]):
        return None
    return name


async def read_body(body: StreamReader, *, max_bytes: int, read_timeout: float) -> AsyncIterator[bytes]:
    """The upload's bytes as they arrive, with the errors every store answers the same way:
    a pause longer than `read_timeout`, a body that breaks off, one over `max_bytes`, an
    empty one."""
    size = 0
    while True:
        try:
            chunk = await asyncio.wait_for(body.readany(), read_timeout)
        except TimeoutError:
            raise ServiceError(Errors.REQUEST_TIMEOUT, f"no video bytes for {read_timeout:g} s") from None
        except (ConnectionResetError, web.RequestPayloadError):  # the agent hung up mid-upload
            raise ServiceError(Errors.VALIDATION_FAILED, "the video body broke off") from None
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise ServiceError(Errors.PAYLOAD_TOO_LARGE, f"videos are limited to {max_bytes} bytes")
        yield chunk
    if size == 0:
        raise ServiceError(Errors.VALIDATION_FAILED, "the video body is empty")


def open_video_store(settings: Settings) -> VideoStore:
    """The store the settings name (not yet started)."""
    location = settings.video_store_location
    if location is None:
        from capcut_mate.server.video_store.local import LocalVideoStore

        return LocalVideoStore(settings.videos_path, max_bytes=settings.max_video_bytes,
                               read_timeout=settings.body_timeout_seconds)
    from capcut_mate.server.video_store.s3 import S3VideoStore

    return S3VideoStore.from_settings(settings)
