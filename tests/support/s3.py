"""A real S3 API on loopback: moto's server in a process of its own, and a client of it.

Every test gets a bucket of its own on the one server of the session. The credentials are
moto's dummies, set as the standard AWS variables, so the service finds them the way it
finds real ones.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from aiobotocore.session import get_session
from botocore.config import Config

from support.processes import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "capcut-mate-test",
    "AWS_SECRET_ACCESS_KEY": "capcut-mate-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance-metadata address for a role
}
_buckets = itertools.count(1)


@contextlib.contextmanager
def moto_server(log_path: Path) -> Iterator[str]:
    """Start moto's S3 server; answer its endpoint URL."""
    port = free_port()
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start: " + log_path.read_text()[-2000:]) from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.kill()
        process.wait()


class Bucket:
    """One test's bucket, and what a test looks at in it."""

    def __init__(self, endpoint: str, name: str, client):
        self.endpoint = endpoint
        self.name = name
        self.client = client

    @property
    def location(self) -> str:
        return f"s3://{self.name}/videos"

    def settings(self) -> dict[str, str]:
        """The service's settings for this bucket (field names of Settings)."""
        return {"video_store": self.location, "s3_endpoint_url": self.endpoint, "s3_region": "us-east-1"}

    async def keys(self, prefix: str = "") -> list[str]:
        answer = await self.client.list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for item in answer.get("Contents", []))

    async def read(self, key: str) -> bytes:
        answer = await self.client.get_object(Bucket=self.name, Key=key)
        async with answer["Body"] as body:
            return await body.read()

    async def unfinished_uploads(self) -> list[dict]:
        """Multipart uploads begun and neither completed nor aborted, with their parts."""
        answer = await self.client.list_multipart_uploads(Bucket=self.name)
        uploads = []
        for upload in answer.get("Uploads", []):
            try:
                parts = await self.client.list_parts(Bucket=self.name, Key=upload["Key"], UploadId=upload["UploadId"])
            except self.client.exceptions.NoSuchUpload:  # ended between the two calls
                continue
            uploads.append({"key": upload["Key"], "parts": len(parts.get("Parts", []))})
        return uploads


@contextlib.asynccontextmanager
async def new_bucket(endpoint: str) -> AsyncIterator[Bucket]:
    name = f"capcut-mate-test-{next(_buckets)}-{int(time.time() * 1000) % 10**8}"
    config = Config(signature_version="s3v4")
    async with get_session().create_client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                           config=config) as client:
        await client.create_bucket(Bucket=name)
        yield Bucket(endpoint, name, client)
