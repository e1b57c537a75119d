"""Hourly upkeep in every service process: event partitions for the months ahead,
retention (finished jobs and their history older than CAPCUT_MATE_RETENTION_DAYS, and the
videos the service stored for them), and the rate limit's buckets that refilled."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from capcut_mate.database.errors import is_database_error
from capcut_mate.database.store import PruneResult, Store
from capcut_mate.protocol.errors import ServiceError
from capcut_mate.server.video_store import VideoStore
from capcut_mate.settings import Settings

log = logging.getLogger("capcut_mate.server.maintenance")


async def maintain_once(store: Store, retention_days: int, videos: VideoStore | None = None
                        ) -> PruneResult | None:
    await store.ensure_event_partitions()
    await store.forget_full_rate_buckets()
    if videos is not None:
        try:
            await videos.sweep(store.live_attempts)
        except ServiceError as error:  # the store's trouble is its own: retention still runs
            log.warning("video store upkeep skipped: %s", error.details)
    if not retention_days:
        return None
    return await prune(store, datetime.now(UTC) - timedelta(days=retention_days), videos)


async def prune(store: Store, cutoff: datetime, videos: VideoStore | None) -> PruneResult:
    """Retention: finished jobs that ended before `cutoff`, their history, and the videos
    this service stored for them (a video elsewhere is its owner's to remove)."""
    result = await store.prune(cutoff)
    removed = await videos.delete_videos_of(result.videos) if videos else 0
    if result.jobs_deleted or result.partitions_dropped:
        log.info("retention: %d finished job(s) and %d stored video(s) removed; event partitions dropped: %s",
                 result.jobs_deleted, removed, ", ".join(result.partitions_dropped) or "none")
    return result


async def run_maintenance(store: Store, settings: Settings, videos: VideoStore | None = None) -> None:
    while True:
        try:
            await maintain_once(store, settings.retention_days, videos)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_database_error(error):
                log.warning("maintenance skipped: %r", error)
            else:
                log.exception("maintenance failed")
        await asyncio.sleep(settings.maintenance_interval_seconds)
