"""Hourly upkeep in every service process: event partitions for the months ahead,
retention (finished jobs and their history older than CAPCUT_MATE_RETENTION_DAYS), the
video store (unfinished uploads nobody can finish, and stored videos no job can show any
more: those of pruned jobs among them), and the rate limit's buckets that refilled."""

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
    result = await prune(store, datetime.now(UTC) - timedelta(days=retention_days)) if retention_days else None
    if videos is not None:
        # After retention: the videos of the jobs it just pruned go now. They are found by
        # asking which stored videos a job can still show, not from a list the prune kept,
        # so a process that dies between the two leaves them to the next upkeep.
        try:
            await videos.sweep(store.live_attempts)
            if removed := await videos.remove_unused(store.videos_in_use):
                log.info("video store upkeep: %d stored video(s) no job shows removed", removed)
        except ServiceError as error:  # the store's trouble is its own
            log.warning("video store upkeep skipped: %s", error.details)
    return result


async def prune(store: Store, cutoff: datetime) -> PruneResult:
    """Retention: finished jobs that ended before `cutoff`, and their history."""
    result = await store.prune(cutoff)
    if result.jobs_deleted or result.partitions_dropped:
        log.info("retention: %d finished job(s) removed; event partitions dropped: %s",
                 result.jobs_deleted, ", ".join(result.partitions_dropped) or "none")
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
