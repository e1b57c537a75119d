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
from urllib.parse import quote, unquote, urlsplit

from aiobotocore.session import get_session
from aiohttp import StreamReader, web
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from capcut_mate.protocol.agent import DirectUploadResponse, UploadedPart, UploadPart
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.server.video_store import (
    STORED_NAME,
    LiveAttempts,
    ReadinessCheck,
    StoredVideo,
    VideosInUse,
    attempt_of,
    new_name,
    read_body,
    stored_name_in,
    unused,
)
from capcut_mate.settings import Settings

log = logging.getLogger("capcut_mate.server.videos")

PART_BYTES = 8 * 1024 * 1024
_MAX_PARTS = 10_000  # S3's limit per multipart upload
# A direct upload's part URLs stay valid this long: time enough for a slow link's 4 GiB.
DIRECT_PART_SECONDS = 6 * 3600
READY_CHECK_TIMEOUT = 3.0  # a readiness probe answers in time even when the store does not
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
            # Checksums only where the S3 API requires one: S3 look-alikes that predate
            # flexible checksums refuse them, and each costs a pass over the bytes on the loop.
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        # Readiness checks try once, quickly: a probe wants the store's state now, and says
        # why it failed rather than that it ran out of time retrying.
        self._probe_config = self._config.merge(Config(connect_timeout=2, read_timeout=2,
                                                       retries={"mode": "standard", "max_attempts": 1}))
        self._exit = contextlib.AsyncExitStack()
        self._client = None
        self._probe_client = None
        self._readiness = ReadinessCheck(self._probe)

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
        session = get_session()
        self._client, self._probe_client = [
            await self._exit.enter_async_context(session.create_client(
                "s3", region_name=self.region, endpoint_url=self.endpoint_url, config=config))
            for config in (self._config, self._probe_config)]
        trouble = await self.check()
        log.info("video store: %s%s", self.location, f" at {self.endpoint_url}" if self.endpoint_url else "")
        if trouble:  # the service still starts: the store may come back, and /readyz says so meanwhile
            log.warning("video store: %s", trouble)

    async def close(self) -> None:
        await self._exit.aclose()
        self._client = self._probe_client = None

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

    # --- direct uploads: the agent PUTs the parts to presigned URLs ---------------------------

    async def begin_direct(self, job_id: int, attempt: int, size: int) -> DirectUploadResponse:
        if size > self.max_bytes:
            raise ServiceError(Errors.PAYLOAD_TOO_LARGE, f"videos are limited to {self.max_bytes} bytes")
        name = new_name(job_id, attempt)
        key = self.key_of(name)
        upload_id = await self._begin(key)
        try:
            parts = []
            for number, offset in enumerate(range(0, size, self.part_bytes), start=1):
                url = await self._client.generate_presigned_url(
                    "upload_part", Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id,
                                           "PartNumber": number},
                    ExpiresIn=DIRECT_PART_SECONDS)
                parts.append(UploadPart(number=number, offset=offset, size=min(self.part_bytes, size - offset),
                                        url=url))
        except BaseException:
            await asyncio.shield(self._abort(key, upload_id))
            raise
        return DirectUploadResponse(name=name, upload_id=upload_id, parts=parts)

    async def finish_direct(self, name: str, upload_id: str, size: int, parts: list[UploadedPart]) -> StoredVideo:
        key = self.key_of(name)
        try:
            listed = await self._uploaded_parts(key, upload_id)
        except ClientError as error:
            if _code(error) != "NoSuchUpload":
                raise self._failure(error) from None
            if await self._size_of(key) == size:
                return StoredVideo(name, size)  # a repeat of a finish that went through
            raise ServiceError(Errors.ROUTE_NOT_FOUND, "no such upload (aborted, or never begun)") from None
        except BotoCoreError as error:
            raise self._failure(error) from None
        if sum(listed.values()) != size or sorted(listed) != sorted(part.number for part in parts):
            await self._abort(key, upload_id)
            raise ServiceError(Errors.VALIDATION_FAILED, f"the uploaded parts ({len(listed)}, {sum(listed.values())} "
                                                         f"bytes) are not the video announced ({size} bytes)")
        await self._call("complete_multipart_upload", Bucket=self.bucket, Key=key, UploadId=upload_id,
                         MultipartUpload={"Parts": [{"PartNumber": part.number, "ETag": part.etag}
                                                    for part in sorted(parts, key=lambda part: part.number)]})
        stored = await self._size_of(key)
        if stored != size:  # the store's own word on the finished object
            await self.delete(name)
            raise ServiceError(Errors.VALIDATION_FAILED, f"the stored video has {stored} bytes, not {size}")
        return StoredVideo(name, size)

    async def abort_direct(self, name: str, upload_id: str) -> None:
        await self._abort(self.key_of(name), upload_id)

    async def _uploaded_parts(self, key: str, upload_id: str) -> dict[int, int]:
        """Part number → bytes, as the store has them."""
        sizes = {}
        pages = self._client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=key, UploadId=upload_id)
        async for page in pages:
            for part in page.get("Parts", []):
                sizes[part["PartNumber"]] = part["Size"]
        return sizes

    async def _size_of(self, key: str) -> int | None:
        try:
            return (await self._client.head_object(Bucket=self.bucket, Key=key))["ContentLength"]
        except ClientError as error:
            if _code(error) in ("404", "NoSuchKey"):
                return None
            raise self._failure(error) from None
        except BotoCoreError as error:
            raise self._failure(error) from None

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
                    if (attempt := attempt_of(upload["Key"][len(self.prefix):])) is not None:
                        uploads.append((attempt, upload))
            still_live = await live([attempt for attempt, _ in uploads])
            for attempt, upload in uploads:
                if attempt not in still_live:
                    await self._abort(upload["Key"], upload["UploadId"])
        except (BotoCoreError, ClientError) as error:
            raise self._failure(error) from None

    # --- removal ----------------------------------------------------------------------------

    async def remove_unused(self, in_use: VideosInUse) -> int:
        try:
            names = []
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            async for page in pages:
                for listed in page.get("Contents", []):
                    if STORED_NAME.match(name := listed["Key"][len(self.prefix):]):
                        names.append(name)
        except (BotoCoreError, ClientError) as error:
            raise self._failure(error) from None
        keys = [self.key_of(name) for name in await unused(names, in_use)]
        removed = 0
        for start in range(0, len(keys), _DELETE_BATCH):
            removed += await self._delete_keys(keys[start:start + _DELETE_BATCH])
        return removed

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
            removed += await self._delete_keys(keys[start:start + _DELETE_BATCH])
        return removed

    async def _delete_keys(self, keys: list[str]) -> int:
        """Remove these objects; answer how many went. Never raises: every key that cannot go
        is logged by name, and upkeep tries it again next time."""
        try:
            answer = await self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True})
        except (BotoCoreError, ClientError) as error:
            # Some S3 look-alikes refuse DeleteObjects (it wants a Content-MD5 botocore no
            # longer sends): one DeleteObject per key instead.
            log.warning("video store %s: DeleteObjects refused (%s); deleting one by one", self.location,
                        self._reason(error))
            removed = 0
            for key in keys:
                try:
                    await self._client.delete_object(Bucket=self.bucket, Key=key)
                    removed += 1
                except (BotoCoreError, ClientError) as single:
                    log.warning("could not remove the video %s: %s", key, self._reason(single))
            return removed
        for error in answer.get("Errors", []):
            log.warning("could not remove the video %s: %s", error.get("Key"), error.get("Message"))
        return len(keys) - len(answer.get("Errors", []))

    # --- URLs -------------------------------------------------------------------------------

    async def url_for(self, base_url: str, name: str) -> str:
        key = self.key_of(name)
        if self.public_url:
            return f"{self.public_url}/{quote(key)}"
        return await self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.url_seconds)

    async def response_for(self, name: str, base_url: str, *, head: bool = False) -> web.StreamResponse:
        size = await self._size_of(self.key_of(name)) if STORED_NAME.match(name) else None
        if size is None:
            raise ServiceError(Errors.ROUTE_NOT_FOUND, "no such video")
        if head:  # a URL signed for GET answers no HEAD: say what a GET would find
            return web.Response(headers={"Content-Type": "video/mp4", "Content-Length": str(size)})
        raise web.HTTPFound(await self.url_for(base_url, name))

    # --- readiness --------------------------------------------------------------------------

    async def check(self) -> str | None:
        return await self._readiness()

    async def _probe(self, name: str) -> str | None:
        probe = f"{self.prefix}.readyz/{name}"

        async def write_and_remove() -> None:  # PutObject alone says "no such bucket" too
            await self._probe_client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            await self._probe_client.delete_object(Bucket=self.bucket, Key=probe)

        try:
            await asyncio.wait_for(write_and_remove(), READY_CHECK_TIMEOUT)
        except TimeoutError:
            return f"the video store did not answer within {READY_CHECK_TIMEOUT:g} s (s3://{self.bucket})"
        except (BotoCoreError, ClientError) as error:
            return self._reason(error)
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
            code = _code(error)
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



def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
