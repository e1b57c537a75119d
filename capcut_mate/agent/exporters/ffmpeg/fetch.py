"""Fetching a draft: its list of files, then the files its materials use.

A capcut-mate draft URL (…/get_draft?draft_id=…) answers `{"code": 0, "files": [url, …]}`,
every file of the draft folder (absolute URLs, or URLs relative to the draft URL). Only the
files the draft uses are downloaded: at most `concurrency` at once, each retried with
exponential backoff on network errors and 408/429/5xx answers, resumed where it broke off
when the server accepts byte ranges, and written to a .part file renamed into place only
once whole. The draft's downloads together may not pass `max_draft_bytes`.

With --allow-local-drafts, a file:// URL names a draft folder on this machine, read in place,
or a draft's content file in its folder (draft_content.json, draft_info.json or any name).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import aiohttp

from capcut_mate.agent.exporters.ffmpeg.addresses import AddressPolicy, AddressRefused, GuardedResolver
from capcut_mate.agent.exporters.ffmpeg.paths import UnsafePath, folder_paths
from capcut_mate.agent.service_client import describe_network_error
from capcut_mate.backoff import Backoff

log = logging.getLogger("capcut_mate.agent.ffmpeg")

CONTENT_FILE = "draft_content.json"
INFO_FILE = "draft_info.json"  # JianYing's other name for draft_content.json
NO_CONTENT = f"草稿里没有 {CONTENT_FILE}"
LISTING_MAX_BYTES = 16 * 1024 * 1024
# A get_draft answer listing more files than this is refused (草稿下载失败: 草稿文件过多).
MAX_DRAFT_FILES = 10_000
MAX_REDIRECTS = 5
_RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 256 * 1024


class DownloadFailed(Exception):
    def __init__(self, detail: str, *, retryable: bool):
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


@dataclass(frozen=True)
class FetchLimits:
    max_draft_bytes: int = 2 * 1024**3
    concurrency: int = 4
    attempts: int = 4
    backoff_seconds: float = 0.5  # doubled after each failed attempt
    connect_timeout_seconds: float = 15.0
    read_timeout_seconds: float = 60.0  # between two reads, not for a whole file


class Downloader:
    """HTTP downloads for one draft: the address policy, retries, resuming, and the size cap."""

    def __init__(self, policy: AddressPolicy, limits: FetchLimits):
        self.policy = policy
        self.limits = limits
        self._bytes_left = limits.max_draft_bytes
        self._slots = asyncio.Semaphore(limits.concurrency)
        # URLs whose server answered Accept-Ranges: bytes, with what identifies the file's
        # version (ETag or Last-Modified), so a resume never splices two versions together.
        self._resumable: dict[str, str | None] = {}
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=GuardedResolver(policy)),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=limits.connect_timeout_seconds, sock_read=limits.read_timeout_seconds
            ),
        )

    async def __aenter__(self) -> Downloader:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self._session.close()

    async def get_json(self, url: str) -> Any:
        async def attempt() -> Any:
            async with self._get(url) as response:
                _check_status(url, response.status, expected=(200,))
                body = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK_BYTES):  # all of it, however it arrives
                    body += chunk
                    if len(body) > LISTING_MAX_BYTES:
                        raise DownloadFailed(f"{display(url)} 的回答超过 {LISTING_MAX_BYTES} 字节", retryable=False)
            try:
                return await asyncio.to_thread(json.loads, body)  # up to 16 MB: off the event loop
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                raise DownloadFailed(f"{display(url)} 的回答不是 JSON", retryable=False) from None

        return await self._with_retries(url, attempt)

    async def download(self, url: str, destination: Path) -> Path:
        destination.parent.mkdir(parents=True, exist_ok=True)
        part = destination.with_name(destination.name + ".part")
        async with self._slots:
            await self._with_retries(url, lambda: self._download_once(url, part))
        part.replace(destination)
        return destination

    async def _download_once(self, url: str, part: Path) -> None:
        on_disk = part.stat().st_size if part.exists() else 0
        resume_from = on_disk if url in self._resumable else 0
        headers = {"Range": f"bytes={resume_from}-"} if resume_from else {}
        if resume_from and self._resumable[url]:
            headers["If-Range"] = self._resumable[url]  # the file changed? then send it whole
        async with self._get(url, headers) as response:
            if response.status == 416:  # our partial file is no good: start over next time
                self._resumable.pop(url, None)
            _check_status(url, response.status, expected=(200, 206) if resume_from else (200,))
            if response.status == 206 and _range_start(response) != resume_from:
                self._resumable.pop(url, None)  # not the bytes we asked for: start over next time
                raise DownloadFailed(f"{display(url)} 没有从第 {resume_from} 字节续传", retryable=True)
            if response.headers.get("Accept-Ranges", "").lower() == "bytes":
                self._resumable[url] = response.headers.get("ETag") or response.headers.get("Last-Modified")
            appending = response.status == 206  # a 200 to a range request sends the whole file
            if not appending:
                self._bytes_left += on_disk  # those bytes are written again from the start
            if (response.content_length or 0) > self._bytes_left:
                raise self._too_large()
            with open(part, "ab" if appending else "wb") as file:
                async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                    self._bytes_left -= len(chunk)
                    if self._bytes_left < 0:
                        raise self._too_large()
                    file.write(chunk)  # local disk, a chunk at a time: too quick to need a thread

    def _too_large(self) -> DownloadFailed:
        return DownloadFailed(f"草稿超过大小上限 {self.limits.max_draft_bytes} 字节", retryable=False)

    async def _with_retries(self, url: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        backoff = Backoff(self.limits.backoff_seconds)
        for number in range(1, self.limits.attempts + 1):
            try:
                return await _one_attempt(url, attempt)
            except DownloadFailed as failure:
                if not failure.retryable or number == self.limits.attempts:
                    raise
                delay = backoff.next_delay()
                log.warning("download %s failed (%s); attempt %d in %.1f s", display(url), failure, number + 1, delay)
                await asyncio.sleep(delay)

    @contextlib.asynccontextmanager
    async def _get(self, url: str, headers: dict[str, str] | None = None) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET, following redirects one by one so that each hop passes the address policy.
        What is fetched is the URL the policy judged, host normalised as aiohttp connects."""
        for _ in range(MAX_REDIRECTS + 1):
            target = self.policy.check_url(url)
            response = await self._session.get(target, headers=headers, allow_redirects=False)
            if response.status in _REDIRECT_STATUSES and "Location" in response.headers:
                response.release()
                url = urljoin(url, response.headers["Location"])
                continue
            try:
                yield response
            finally:
                response.release()
            return
        raise DownloadFailed(f"{display(url)}: 重定向超过 {MAX_REDIRECTS} 次", retryable=False)


@dataclass(frozen=True)
class DraftFolder:
    """A draft's files by their path under its folder: URLs, or paths on this machine."""

    files: dict[str, str]
    local: bool = False

    async def fetch(self, path: str, downloader: Downloader, into: Path) -> Path:
        """The file on this machine: downloaded under `into`, or in place for a local draft."""
        if self.local:
            return Path(self.files[path])
        return await downloader.download(self.files[path], into / path)


async def list_draft(draft_url: str, draft_id: str | None, downloader: Downloader) -> DraftFolder:
    """The draft's files: from the get_draft answer, or from a local folder (file:// URLs)."""
    if urlsplit(draft_url).scheme == "file":
        if not downloader.policy.allow_private:
            raise DownloadFailed("本地草稿 (file://) 需要用 --allow-local-drafts 启动导出代理", retryable=False)
        return await asyncio.to_thread(_local_folder, draft_url)
    answer = await downloader.get_json(draft_url)
    if not isinstance(answer, dict) or answer.get("code", 0) != 0:
        message = answer.get("message") if isinstance(answer, dict) else None
        raise DownloadFailed(f"草稿服务回答错误: {message or str(answer)[:200]}", retryable=False)
    files = answer.get("files")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise DownloadFailed("草稿服务的回答里没有文件列表 (files)", retryable=False)
    if len(files) > MAX_DRAFT_FILES:
        raise DownloadFailed(f"草稿文件过多: {len(files)} 个 (最多 {MAX_DRAFT_FILES} 个)", retryable=False)
    try:
        paths = await asyncio.to_thread(folder_paths, [urljoin(draft_url, f) for f in files], draft_id)
    except UnsafePath as unsafe:
        raise DownloadFailed(str(unsafe), retryable=False) from None
    return DraftFolder(paths)


def _local_folder(draft_url: str) -> DraftFolder:
    path = Path(url2pathname(urlsplit(draft_url).path))
    root = path.parent if path.is_file() else path
    if not root.is_dir():
        raise DownloadFailed(f"本地草稿文件夹不存在: {root}", retryable=False)
    # The draft's content: the .json file the URL names (draft_content.json, draft_info.json
    # or another name), else the folder's draft_content.json, else its draft_info.json.
    # Looked for first, so a folder that is no draft's (a home folder, /) is not walked.
    candidates = (path,) if path.is_file() else (root / CONTENT_FILE, root / INFO_FILE)
    content = next((file for file in candidates if file.is_file() and file.suffix.lower() == ".json"), None)
    if content is None:
        raise DownloadFailed(NO_CONTENT, retryable=False)
    # The walk stops one file past the limit: a draft folder is small, a mistaken one may not be.
    found = itertools.islice((p for p in root.rglob("*") if p.is_file()), MAX_DRAFT_FILES + 1)
    files = {p.relative_to(root).as_posix(): str(p) for p in found}
    if len(files) > MAX_DRAFT_FILES:
        raise DownloadFailed(f"草稿文件过多: 超过 {MAX_DRAFT_FILES} 个", retryable=False)
    files[CONTENT_FILE] = str(content)
    return DraftFolder(files, local=True)


async def _one_attempt(url: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
    """Its failures as DownloadFailed: a refused address is final, network trouble is not."""
    try:
        return await attempt()
    except AddressRefused as refusal:
        raise DownloadFailed(str(refusal), retryable=False) from None
    except (TimeoutError, aiohttp.ClientError, OSError) as error:
        raise DownloadFailed(f"{display(url)}: {describe_network_error(error)}", retryable=True) from None


def _range_start(response: aiohttp.ClientResponse) -> int | None:
    """Where a 206's Content-Range (`bytes START-END/TOTAL`) starts."""
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _check_status(url: str, status: int, *, expected: tuple[int, ...]) -> None:
    if status in expected:
        return
    retryable = status in _RETRYABLE_STATUSES or status == 416
    raise DownloadFailed(f"{display(url)} 返回 HTTP {status}", retryable=retryable)


def display(url: str) -> str:
    """A URL for messages: without its query, which may carry a signature or a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else url
