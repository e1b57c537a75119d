"""The local video store: a folder on the service host, served under /videos/.

An upload lands in a hidden .incoming/ file and is renamed into place only once whole, so a
half-written video is never served.

Several service processes, on one host or on several through a shared folder, may use one
store at once: upkeep clears only what no upload can still be writing (.part files untouched
for STALE_UPLOAD_SECONDS), never another process's upload in flight.

Trouble with the folder itself (disk full, no permission, the folder gone) is a storage
error (507 STORAGE_FAILED, with the reason), never mistaken for a database outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import time
from pathlib import Path

from aiohttp import StreamReader, web

from capcut_mate.protocol.agent import DirectUploadResponse, UploadedPart
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.server.video_store import (
    STORED_NAME,
    LiveAttempts,
    ReadinessCheck,
    StoredVideo,
    VideosInUse,
    new_name,
    read_body,
    stored_name_in,
    unused,
)

log = logging.getLogger("capcut_mate.server.videos")

ROUTE_PREFIX = "/videos/"
_THROUGH_THE_SERVICE = "no such upload: this service's video store takes videos only through PUT …/video"
_WRITE_CHUNK = 1024 * 1024
# A .part file untouched this long belongs to a process that died mid-upload: uploads write
# at least every body-timeout seconds, far less than this.
STALE_UPLOAD_SECONDS = 3600.0
_REASONS = {
    errno.ENOSPC: "the video store is full",
    errno.EDQUOT: "the video store's quota is used up",
    errno.EACCES: "the service may not write to the video store",
    errno.EPERM: "the service may not write to the video store",
    errno.EROFS: "the video store is read-only",
    errno.ENOENT: "a file or folder of the video store went missing",
    errno.EFBIG: "the video is larger than the video store allows",
}


def storage_failure(error: OSError) -> ServiceError:
    reason = _REASONS.get(error.errno, "the video store failed")
    log.error("video store: %s: %r", reason, error)
    return ServiceError(Errors.STORAGE_FAILED, f"{reason} ({os.strerror(error.errno) if error.errno else error})")


class LocalVideoStore:
    kind = "local"

    def __init__(self, folder: Path, *, max_bytes: int, read_timeout: float = 30.0):
        self.folder = folder
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self._incoming = folder / ".incoming"
        self._open = open  # the one way in to the disk, for writing
        self._readiness = ReadinessCheck(self._probe)

    @property
    def location(self) -> str:
        return str(self.folder)

    async def start(self) -> None:
        await asyncio.to_thread(self._incoming.mkdir, parents=True, exist_ok=True)
        await self.sweep()  # needs no database: mtimes tell

    async def close(self) -> None:
        pass

    async def sweep(self, live: LiveAttempts | None = None, *, now: float | None = None) -> None:
        # A .part file's mtime is the disk's own word that nobody writes it any more.
        await asyncio.to_thread(self._sweep, time.time() if now is None else now)

    def _sweep(self, now: float) -> None:
        cutoff = now - STALE_UPLOAD_SECONDS
        with contextlib.suppress(FileNotFoundError):
            for leftover in self._incoming.iterdir():  # from a process that died mid-upload, long ago
                with contextlib.suppress(FileNotFoundError):
                    if leftover.stat().st_mtime < cutoff:
                        leftover.unlink()

    async def remove_unused(self, in_use: VideosInUse) -> int:
        names = await asyncio.to_thread(self._stored_names)
        return await asyncio.to_thread(self._remove, await unused(names, in_use))

    def _stored_names(self) -> list[str]:
        with os.scandir(self.folder) as entries:
            return [entry.name for entry in entries if STORED_NAME.match(entry.name) and entry.is_file()]

    def _remove(self, names: list[str]) -> int:
        removed = 0
        for name in names:
            try:
                (self.folder / name).unlink()
                removed += 1
            except FileNotFoundError:  # another process's upkeep was first
                pass
            except OSError as error:
                log.warning("could not remove the unused video %s: %r", name, error)
        return removed

    async def save(self, job_id: int, attempt: int, body: StreamReader) -> StoredVideo:
        name = new_name(job_id, attempt)
        partial = self._incoming / (name + ".part")
        try:
            await asyncio.to_thread(self._incoming.mkdir, parents=True, exist_ok=True)
            file = await asyncio.to_thread(self._open, partial, "wb")
            try:
                size = await self._write(body, file)
            finally:
                await asyncio.to_thread(file.close)
            await asyncio.to_thread(os.replace, partial, self.folder / name)
        except OSError as error:
            raise storage_failure(error) from None
        finally:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
        return StoredVideo(name, size)

    async def _write(self, body: StreamReader, file) -> int:
        size = 0
        buffer = bytearray()
        async for chunk in read_body(body, max_bytes=self.max_bytes, read_timeout=self.read_timeout):
            size += len(chunk)
            buffer += chunk
            if len(buffer) >= _WRITE_CHUNK:
                await asyncio.to_thread(file.write, bytes(buffer))
                buffer.clear()
        await asyncio.to_thread(file.write, bytes(buffer))
        await asyncio.to_thread(file.flush)
        return size

    async def begin_direct(self, job_id: int, attempt: int, size: int) -> DirectUploadResponse:
        return DirectUploadResponse()  # a folder on this host: the bytes come through the service

    async def finish_direct(self, name: str, upload_id: str, size: int, parts: list[UploadedPart]) -> StoredVideo:
        raise ServiceError(Errors.ROUTE_NOT_FOUND, _THROUGH_THE_SERVICE)

    async def abort_direct(self, name: str, upload_id: str) -> None:
        raise ServiceError(Errors.ROUTE_NOT_FOUND, _THROUGH_THE_SERVICE)

    async def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread((self.folder / name).unlink)

    async def delete_videos_of(self, jobs: list[tuple[int, str]]) -> int:
        return await asyncio.to_thread(self._delete_videos_of, jobs)

    def _delete_videos_of(self, jobs: list[tuple[int, str]]) -> int:
        removed = 0
        for job_id, url in jobs:
            name = stored_name_in(url, job_id)
            if name is None or not url.split("?", 1)[0].endswith(ROUTE_PREFIX + name):
                continue  # not ours, or another job's file: never removed on this job's account
            try:
                (self.folder / name).unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as error:
                log.warning("could not remove the video %s: %r", name, error)
        return removed

    async def url_for(self, base_url: str, name: str) -> str:
        return f"{base_url.rstrip('/')}{ROUTE_PREFIX}{name}"

    async def check(self) -> str | None:
        return await self._readiness()

    async def _probe(self, name: str) -> str | None:
        return await asyncio.to_thread(self._probe_now, self._incoming / f"{name}.probe")

    def _probe_now(self, probe: Path) -> str | None:
        try:
            self._incoming.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as error:
            reason = f"{_REASONS.get(error.errno, 'the video store failed')} ({error.strerror or type(error).__name__})"
            log.warning("video store %s not ready: %s", self.folder, error)  # the folder: in the log, not on /readyz
            return reason
        return None

    async def response_for(self, name: str, base_url: str, *, head: bool = False) -> web.StreamResponse:
        path = self.folder / name
        if not STORED_NAME.match(name) or not await asyncio.to_thread(path.is_file):
            raise ServiceError(Errors.ROUTE_NOT_FOUND, "no such video")
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})
