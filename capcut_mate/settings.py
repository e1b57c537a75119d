"""Service settings, read from CAPCUT_MATE_* environment variables.

Every field here is listed in the README's settings table; keep the two in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# s3://BUCKET[/PREFIX]; bucket names as S3 and its look-alikes allow them.
_S3_LOCATION = re.compile(r"^s3://(?P<bucket>[A-Za-z0-9][A-Za-z0-9._-]{1,62})(?:/(?P<prefix>.*))?$")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("capcut-mate", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAPCUT_MATE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: an embedded PostgreSQL runs in the data folder.",
    )
    host: str = Field(default="127.0.0.1", description="Address the service listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the service listens on.")
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for the embedded database and the video store.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL put in front of stored videos' paths; unset: the request's own origin.",
    )
    video_dir: Path | None = Field(
        default=None, description="Where uploaded videos are kept; unset: <data_dir>/videos."
    )
    max_video_bytes: int = Field(
        default=4 * 1024**3, gt=0, description="Largest video an agent may upload."
    )
    video_store: str = Field(
        default="local",
        description="Where videos are kept: local (the video folder) or s3://BUCKET[/PREFIX].",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint for non-AWS stores (R2, MinIO, COS, OSS, TOS)."
    )
    s3_region: str | None = Field(default=None, description="S3 region; unset: the AWS chain's default.")
    s3_public_url: str | None = Field(
        default=None,
        description="Public or CDN base URL of the bucket; video_url is then it plus the object key.",
    )
    s3_url_seconds: int = Field(
        default=7 * 86400, ge=1, le=7 * 86400,
        description="Without a public URL, video_url is a presigned GET valid this long (S3 allows 7 days).",
    )
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="Bucket in the path or in the host name (Aliyun OSS needs virtual)."
    )

    lease_seconds: int = Field(default=30, ge=1, le=3600, description="Lease an agent gets per claim.")
    max_attempts: int = Field(default=3, ge=1, le=100, description="Claims a job gets before it fails.")
    pending_timeout_seconds: int = Field(
        default=86400,
        ge=0,
        description="A job still pending after this long fails as expired; 0 keeps it forever.",
    )
    reaper_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often each service process looks for expired leases."
    )
    claim_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How often a waiting claim re-checks the queue besides LISTEN/NOTIFY wake-ups.",
    )

    retention_days: int = Field(
        default=30, ge=0, description="Finished jobs and their history are kept this long; 0 keeps them forever."
    )
    maintenance_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often each service process runs retention and partition upkeep."
    )

    client_api_keys: str = Field(
        default="",
        description="Comma-separated keys; when set, client routes need one (apiKey field or X-Api-Key header).",
    )
    client_rate_limit: float = Field(
        default=100.0, ge=0, description="Client API requests per second per client address; 0 turns it off."
    )
    client_rate_burst: int = Field(default=200, ge=1, description="Requests a client address may make at once.")
    trust_forwarded_for: bool = Field(
        default=False,
        description="Behind a proxy that appends to X-Forwarded-For: rate-limit by the address it appended.",
    )

    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request's headers must arrive within this long of its first byte."
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0,
        description="A JSON body must arrive whole within this long; a video upload may pause this long between reads.",
    )

    errors_as_http_200: bool = Field(
        default=False,
        description="Answer every client API error with HTTP 200, as the public capcut-mate service does.",
    )

    db_pool_size: int = Field(default=10, ge=1, le=200, description="Connections per service process.")
    db_statement_timeout_ms: int = Field(
        default=5000, ge=0, description="statement_timeout of the service's connections (0: none)."
    )
    db_lock_timeout_ms: int = Field(
        default=2000, ge=0, description="lock_timeout of the service's connections (0: none)."
    )

    log_level: str = Field(default="INFO", description="Python logging level.")

    @field_validator("video_store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        value = value.strip()
        if value != "local" and not _S3_LOCATION.match(value):
            raise ValueError("must be local or s3://BUCKET[/PREFIX]")
        return value

    @property
    def video_store_location(self) -> tuple[str, str] | None:
        """(bucket, key prefix ending in / or empty) of an S3 store; None for the local folder."""
        match = _S3_LOCATION.match(self.video_store)
        if match is None:
            return None
        prefix = (match["prefix"] or "").strip("/")
        return match["bucket"], prefix + "/" if prefix else ""

    @property
    def api_keys(self) -> list[str]:
        return [key.strip() for key in self.client_api_keys.split(",") if key.strip()]

    @property
    def videos_path(self) -> Path:
        return self.video_dir or self.data_dir / "videos"

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "pgdata"
