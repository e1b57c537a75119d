"""The S3 video store: one bucket (and key prefix) shared by every service host.

Any S3-compatible service works: AWS S3, Cloudflare R2, MinIO, Tencent COS, Aliyun OSS,
Volcengine TOS. Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared config files, instance roles); agents
never see them.

An upload is streamed into the bucket as it arrives: a body that fits in one part is one
PUT, a longer one a multipart upload of PART_BYTES parts (S3's smallest part is 5 MiB),
completed once the last byte is in and aborted if anything goes wrong before, so a cut-off
upload leaves no parts behind. A service process killed mid-upload cannot abort; upkeep
(`sweep`, at start and hourly) aborts the multipart uploads under the prefix whose attempt
is over.

video_url is CAPCUT_MATE_S3_PUBLIC_URL plus the key when a public or CDN base is set, else
a presigned GET valid for CAPCUT_MATE_S3_URL_SECONDS. GET /videos/<name> on any service
host redirects to a freshly signed one, for links kept longer than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from urllib.parse import quote, unquote, urlsplit

from aiobotocore.session import get_session
from aiohttp import StreamReader, web
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.server.video_store import (
    STORED_NAME,
    LiveAttempts,
    StoredVideo,
    new_name,
    read_body,
    stored_name_in,
)
from capcut_mate.settings import Settings

log = logging.getLogger("capcut_mate.server.videos")

PART_BYTES = 8 * 1024 * 1024
_MAX_PARTS = 10_000  # S3's limit per multipart upload
# A passing readiness check is trusted this long: a load balancer probing every second
# should not cost two object writes a second.
READY_FOR_SECONDS = 10.0
READY_CHECK_TIMEOUT = 5.0  # a readiness probe answers in time even when the store does not
_DELETE_BATCH = 1000  # S3's limit per DeleteObjects


class S3VideoStore:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str, *, max_bytes: int, read_timeout: float = 30.0,
                 endpoint_url: str | None = None, region: str | None = None, public_url: str | None = None,
                 url_seconds: int = 7 * 86400, addressing_style: str = "auto"):
        self.bucket = bucket
        self.prefix = prefix  # "" or ending in "/"
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self.endpoint_url = endpoint_url
        self.region = region
        self.public_url = public_url.rstrip("/") if public_url else None
        self.url_seconds = url_seconds
        self.part_bytes = max(PART_BYTES, -(-max_bytes // _MAX_PARTS))
        self._config = Config(
            signature_version="s3v4", s3={"addressing_style": addressing_style},
            connect_timeout=10, read_timeout=60, retries={"mode": "standard", "max_attempts": 3},
        )
        self._exit = contextlib.AsyncExitStack()
        self._client = None
        self._ready_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> S3VideoStore:
        bucket, prefix = settings.video_store_location
        return cls(bucket, prefix, max_bytes=settings.max_video_bytes, read_timeout=settings.body_timeout_seconds,
                   endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                   public_url=settings.s3_public_url, url_seconds=settings.s3_url_seconds,
                   addressing_style=settings.s3_addressing_style)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    async def start(self) -> None:
        client = get_session().create_client("s3", region_name=self.region, endpoint_url=self.endpoint_url,
                                             config=self._config)
        self._client = await self._exit.enter_async_context(client)
        trouble = await self.check()
        log.info("video store: %s%s", self.location, f" at {self.endpoint_url}" if self.endpoint_url else "")
        if trouble:  # the service still starts: the store may come back, and /readyz says so meanwhile
            log.warning("video store: %s", trouble)

    async def close(self) -> None:
        await self._exit.aclose()
        self._client = None

    def key_of(self, name: str) -> str:
        return self.prefix + name

    # --- uploads ----------------------------------------------------------------------------

    async def save(self, job_id: int, attempt: int, body: StreamReader) -> StoredVideo:
        name = new_name(job_id, attempt)
        key = self.key_of(name)
        upload_id: str | None = None
        parts: list[dict] = []
        buffer = bytearray()
        size = 0
        try:
            async for chunk in read_body(body, max_bytes=self.max_bytes, read_timeout=self.read_timeout):
                buffer += chunk
                size += len(chunk)
                if len(buffer) >= self.part_bytes:
                    if upload_id is None:
                        upload_id = await self._begin(key)
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer.clear()
            if upload_id is None:
                await self._call("put_object", Bucket=self.bucket, Key=key, Body=bytes(buffer),
                                 ContentType="video/mp4")
            else:
                if buffer:
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
                await self._call("complete_multipart_upload", Bucket=self.bucket, Key=key, UploadId=upload_id,
                                 MultipartUpload={"Parts": parts})
        except BaseException:
            if upload_id is not None:  # shielded: a cancelled upload still takes its parts with it
                await asyncio.shield(self._abort(key, upload_id))
            raise
        return StoredVideo(name, size)

    async def _begin(self, key: str) -> str:
        answer = await self._call("create_multipart_upload", Bucket=self.bucket, Key=key, ContentType="video/mp4")
        return answer["UploadId"]

    async def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> dict:
        answer = await self._call("upload_part", Bucket=self.bucket, Key=key, UploadId=upload_id,
                                  PartNumber=number, Body=data)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    async def _abort(self, key: str, upload_id: str) -> None:
        try:
            await self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (BotoCoreError, ClientError) as error:  # sweep() takes it later
            log.warning("video store %s: could not abort the upload of %s: %s", self.location, key, error)

    async def sweep(self, live: LiveAttempts) -> None:
        # An upload's key names its job and attempt: once that attempt is over, nobody can
        # finish the upload. (An upload's Initiated time is not to be trusted: some S3
        # look-alikes answer a fixed date.)
        try:
            uploads = []
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix)
            async for page in pages:
                for upload in page.get("Uploads", []):
                    match = STORED_NAME.match(upload["Key"][len(self.prefix):])
                    if match is not None:
                        uploads.append(((int(match.group(1)), int(match.group(2))), upload))
            still_live = await live([attempt for attempt, _ in uploads])
            for attempt, upload in uploads:
                if attempt not in still_live:
                    await self._abort(upload["Key"], upload["UploadId"])
        except (BotoCoreError, ClientError) as error:
            raise self._failure(error) from None

    # --- removal ----------------------------------------------------------------------------

    async def delete(self, name: str) -> None:
        await self._call("delete_object", Bucket=self.bucket, Key=self.key_of(name))

    async def delete_videos_of(self, jobs: list[tuple[int, str]]) -> int:
        keys = []
        for job_id, url in jobs:
            name = stored_name_in(url, job_id)
            if name is not None and unquote(urlsplit(url).path).endswith("/" + self.key_of(name)):
                keys.append(self.key_of(name))
        removed = 0
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start:start + _DELETE_BATCH]
            answer = await self._call("delete_objects", Bucket=self.bucket,
                                      Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
            for error in answer.get("Errors", []):
                log.warning("could not remove the pruned video %s: %s", error.get("Key"), error.get("Message"))
            removed += len(batch) - len(answer.get("Errors", []))
        return removed

    # --- URLs -------------------------------------------------------------------------------

    async def url_for(self, base_url: str, name: str) -> str:
        key = self.key_of(name)
        if self.public_url:
            return f"{self.public_url}/{quote(key)}"
        return await self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.url_seconds)

    async def response_for(self, name: str, base_url: str) -> web.StreamResponse:
        if not STORED_NAME.match(name):
            raise ServiceError(Errors.ROUTE_NOT_FOUND, "no such video")
        raise web.HTTPFound(await self.url_for(base_url, name))

    # --- readiness --------------------------------------------------------------------------

    async def check(self) -> str | None:
        if time.monotonic() < self._ready_until:
            return None
        probe = f"{self.prefix}.readyz/{socket.gethostname()}-{os.getpid()}"

        async def write_and_remove() -> None:
            await self._client.head_bucket(Bucket=self.bucket)
            await self._client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            await self._client.delete_object(Bucket=self.bucket, Key=probe)

        try:
            await asyncio.wait_for(write_and_remove(), READY_CHECK_TIMEOUT)
        except TimeoutError:
            return f"the video store did not answer within {READY_CHECK_TIMEOUT:g} s (s3://{self.bucket})"
        except (BotoCoreError, ClientError) as error:
            return self._reason(error)
        self._ready_until = time.monotonic() + READY_FOR_SECONDS
        return None

    # --- errors -----------------------------------------------------------------------------

    async def _call(self, operation: str, **params):
        try:
            return await getattr(self._client, operation)(**params)
        except (BotoCoreError, ClientError) as error:
            raise self._failure(error) from None

    def _failure(self, error: BotoCoreError | ClientError) -> ServiceError:
        reason = self._reason(error)
        log.error("video store: %s", reason)
        return ServiceError(Errors.STORAGE_FAILED, reason)

    def _reason(self, error: BotoCoreError | ClientError) -> str:
        where = f"s3://{self.bucket}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")
        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            message = error.response.get("Error", {}).get("Message") or ""
            if code in ("404", "NoSuchBucket"):
                return f"the bucket does not exist ({where})"
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                return f"the service may not write to the bucket ({where}: {code} {message})".rstrip()
            return f"the video store answered {code} ({where}: {message})"
        if isinstance(error, NoCredentialsError):
            return (f"the service has no S3 credentials ({where}): set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
        return f"the video store cannot be reached ({where}: {error})"

