"""Hourly upkeep in every service process: event partitions for the months ahead, and
retention (finished jobs and their history older than CAPCUT_MATE_RETENTION_DAYS)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from capcut_mate.database.errors import is_database_error
from capcut_mate.database.store import PruneResult, Store
from capcut_mate.settings import Settings

log = logging.getLogger("capcut_mate.server.maintenance")


async def maintain_once(store: Store, retention_days: int) -> PruneResult | None:
    await store.ensure_event_partitions()
    if not retention_days:
        return None
    result = await store.prune(datetime.now(UTC) - timedelta(days=retention_days))
    if result.jobs_deleted or result.partitions_dropped:
        log.info("retention: %d finished job(s) removed; event partitions dropped: %s",
                 result.jobs_deleted, ", ".join(result.partitions_dropped) or "none")
    return result


async def run_maintenance(store: Store, settings: Settings) -> None:
    while True:
        try:
            await maintain_once(store, settings.retention_days)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_database_error(error):
                log.warning("maintenance skipped: %r", error)
            else:
                log.exception("maintenance failed")
        await asyncio.sleep(settings.maintenance_interval_seconds)
