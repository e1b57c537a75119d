"""The video store: a local folder, served under /videos/.

Names are generated here (job, attempt, random suffix); nothing from the caller becomes
part of a path. An upload lands in a hidden .incoming/ file and is renamed into place only
once whole, so a half-written video is never served.

Several service processes, on one host or on several through a shared folder, may use
one store at once: a start clears only what no upload can still be writing (.part files
untouched for STALE_UPLOAD_SECONDS), never another process's upload in flight.

Trouble with the folder itself (disk full, no permission, the folder gone) is a storage
error (507 STORAGE_FAILED, with the reason), never mistaken for a database outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import StreamReader, web

from capcut_mate.protocol.errors import Errors, ServiceError

log = logging.getLogger("capcut_mate.server.videos")

ROUTE_PREFIX = "/videos/"
_WRITE_CHUNK = 1024 * 1024
# An upload writes at least every body-timeout seconds; a .part file untouched for this
# long belongs to an upload that died with its process.
STALE_UPLOAD_SECONDS = 3600.0
_STORED_NAME = re.compile(r"^(\d+)-\d+-[0-9a-f]{16}\.mp4$")
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
    def __init__(self, folder: Path, *, max_bytes: int, read_timeout: float = 30.0):
        self.folder = folder
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self._incoming = folder / ".incoming"
        self._open = open  # the one way in to the disk, for writing

    def prepare(self, *, now: float | None = None) -> None:
        self._incoming.mkdir(parents=True, exist_ok=True)
        cutoff = (time.time() if now is None else now) - STALE_UPLOAD_SECONDS
        for leftover in self._incoming.iterdir():  # from a process that died mid-upload, long ago
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    async def save(self, job_id: int, attempt: int, body: StreamReader) -> str:
        """Stream the body into the store; answer the stored file's name."""
        name = f"{job_id}-{attempt}-{secrets.token_hex(8)}.mp4"
        partial = self._incoming / (name + ".part")
        try:
            await asyncio.to_thread(self._incoming.mkdir, parents=True, exist_ok=True)
            file = await asyncio.to_thread(self._open, partial, "wb")
            try:
                size = await self._write(body, file)
            finally:
                await asyncio.to_thread(file.close)
            if size == 0:
                raise ServiceError(Errors.VALIDATION_FAILED, "the video body is empty")
            await asyncio.to_thread(os.replace, partial, self.folder / name)
        except OSError as error:
            raise storage_failure(error) from None
        finally:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
        return name

    async def _write(self, body: StreamReader, file) -> int:
        size = 0
        buffer = bytearray()
        while True:
            try:
                chunk = await asyncio.wait_for(body.readany(), self.read_timeout)
            except TimeoutError:
                raise ServiceError(Errors.REQUEST_TIMEOUT, f"no video bytes for {self.read_timeout:g} s") from None
            except (ConnectionResetError, web.RequestPayloadError):  # the agent hung up mid-upload
                raise ServiceError(Errors.VALIDATION_FAILED, "the video body broke off") from None
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_bytes:
                raise ServiceError(Errors.PAYLOAD_TOO_LARGE, f"videos are limited to {self.max_bytes} bytes")
            buffer += chunk
            if len(buffer) >= _WRITE_CHUNK:
                await asyncio.to_thread(file.write, bytes(buffer))
                buffer.clear()
        await asyncio.to_thread(file.write, bytes(buffer))
        await asyncio.to_thread(file.flush)
        return size

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / name).unlink()

    def delete_videos_of(self, jobs: list[tuple[int, str]] | tuple) -> int:
        """Remove the stored videos of these (job id, video_url) pairs: those whose URL names
        a file of this store made for that very job. Answers how many went."""
        removed = 0
        for job_id, url in jobs:
            path = urlsplit(url).path
            if not path.startswith(ROUTE_PREFIX):
                continue
            name = path[len(ROUTE_PREFIX):]
            match = _STORED_NAME.match(name)
            if match is None or int(match.group(1)) != job_id:
                continue  # not ours, or another job's file: never removed on this job's account
            try:
                (self.folder / name).unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as error:
                log.warning("could not remove the pruned video %s: %r", name, error)
        return removed

    @staticmethod
    def url_for(base_url: str, name: str) -> str:
        return f"{base_url.rstrip('/')}{ROUTE_PREFIX}{name}"
