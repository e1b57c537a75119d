"""The video store: a local folder, served under /videos/.

Names are generated here (job, attempt, random suffix); nothing from the caller becomes
part of a path. An upload lands in a hidden .incoming/ file and is renamed into place only
once whole, so a half-written video is never served.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path

from aiohttp import StreamReader

from capcut_mate.protocol.errors import Errors, ServiceError

ROUTE_PREFIX = "/videos/"
_WRITE_CHUNK = 1024 * 1024


class LocalVideoStore:
    def __init__(self, folder: Path, *, max_bytes: int):
        self.folder = folder
        self.max_bytes = max_bytes
        self._incoming = folder / ".incoming"

    def prepare(self) -> None:
        self._incoming.mkdir(parents=True, exist_ok=True)
        for leftover in self._incoming.iterdir():  # from a process that died mid-upload
            leftover.unlink(missing_ok=True)

    async def save(self, job_id: int, attempt: int, body: StreamReader) -> str:
        """Stream the body into the store; answer the stored file's name."""
        name = f"{job_id}-{attempt}-{secrets.token_hex(8)}.mp4"
        partial = self._incoming / (name + ".part")
        size = 0
        try:
            with open(partial, "wb") as file:
                buffer = bytearray()
                async for chunk in body.iter_chunked(_WRITE_CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ServiceError(Errors.PAYLOAD_TOO_LARGE, f"videos are limited to {self.max_bytes} bytes")
                    buffer += chunk
                    if len(buffer) >= _WRITE_CHUNK:
                        await asyncio.to_thread(file.write, bytes(buffer))
                        buffer.clear()
                await asyncio.to_thread(file.write, bytes(buffer))
            if size == 0:
                raise ServiceError(Errors.VALIDATION_FAILED, "the video body is empty")
            os.replace(partial, self.folder / name)
        finally:
            partial.unlink(missing_ok=True)
        return name

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / name).unlink()

    @staticmethod
    def url_for(base_url: str, name: str) -> str:
        return f"{base_url.rstrip('/')}{ROUTE_PREFIX}{name}"
