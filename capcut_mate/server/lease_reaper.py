"""The lease reaper, in every service process.

Every reaper_interval_seconds it returns expired leases to the queue (or fails them when
attempts are used up, or when a cancel went unanswered) and, now and then, fails jobs that
waited in the queue too long. Several processes reaping at once share the work through
SKIP LOCKED; none waits on another.
"""

from __future__ import annotations

import asyncio
import logging
import time

from capcut_mate.database.errors import is_outage
from capcut_mate.database.store import Store
from capcut_mate.server.observability import ServiceMetrics
from capcut_mate.settings import Settings

log = logging.getLogger("capcut_mate.server.lease_reaper")

BATCH = 100
PENDING_CHECK_SECONDS = 60.0


async def reap_once(store: Store, settings: Settings, metrics: ServiceMetrics, *, check_pending: bool) -> int:
    reaped = 0
    while True:
        expired = await store.expire_leases(batch=BATCH)
        for lease in expired:
            log.info("job %s attempt %s: lease expired -> %s", lease.job_id, lease.attempt, lease.status)
            metrics.lease_expirations.labels(lease.status).inc()
        reaped += len(expired)
        if len(expired) < BATCH:
            break
    if check_pending and settings.pending_timeout_seconds:
        for job_id in await store.expire_pending_jobs(settings.pending_timeout_seconds, batch=1000):
            log.info("job %s: waited over %s s in the queue -> failed", job_id, settings.pending_timeout_seconds)
    return reaped


async def run_lease_reaper(store: Store, settings: Settings, metrics: ServiceMetrics) -> None:
    last_pending_check = 0.0
    database_down = False
    while True:
        try:
            check_pending = time.monotonic() - last_pending_check >= PENDING_CHECK_SECONDS
            await reap_once(store, settings, metrics, check_pending=check_pending)
            if check_pending:
                last_pending_check = time.monotonic()
            if database_down:
                log.info("database reachable again; reaping resumed")
            database_down = False
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not is_outage(error):
                log.exception("lease reaper failed")
            elif not database_down:
                log.warning("database unreachable; reaping paused (%r)", error)
            database_down = is_outage(error)
        await asyncio.sleep(settings.reaper_interval_seconds)
