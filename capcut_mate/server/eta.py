"""ETAs for processing jobs, from how long each stage took in recent history.

A job in stage S for e seconds has left: max(mean(S) − e, 0) plus the means of the stages
after S. Means come from stages that finished in the last WINDOW, refreshed in the
background every REFRESH_SECONDS, so a status poll never waits on them. With fewer than
MIN_SAMPLES of any stage still ahead, there is no estimate (null).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from aiohttp import web

from capcut_mate.database.errors import is_database_error
from capcut_mate.database.store import Store
from capcut_mate.protocol.jobs import STAGES, Job, JobStatus

log = logging.getLogger("capcut_mate.server.eta")

WINDOW = timedelta(hours=24)
REFRESH_SECONDS = 30.0
MIN_SAMPLES = 3


class EtaEstimator:
    def __init__(self) -> None:
        self._means: dict[int, float] = {}  # stage threshold -> mean seconds, well-sampled only

    def use(self, stage_means: dict[int, tuple[int, float]]) -> None:
        self._means = {stage: mean for stage, (samples, mean) in stage_means.items() if samples >= MIN_SAMPLES}

    def eta_seconds(self, job: Job, now: datetime | None = None) -> int | None:
        if job.status is not JobStatus.PROCESSING:
            return None
        current = max(threshold for threshold in STAGES if threshold <= job.progress)
        ahead = [threshold for threshold in STAGES if threshold >= current]
        if any(threshold not in self._means for threshold in ahead):
            return None
        in_stage = ((now or datetime.now(UTC)) - job.stage_started_at).total_seconds()
        left = max(self._means[current] - in_stage, 0.0) + sum(self._means[t] for t in ahead if t != current)
        return round(left)

    async def refresh(self, store: Store) -> None:
        self.use(await store.stage_means(datetime.now(UTC) - WINDOW))

    async def keep_fresh(self, store: Store) -> None:
        while True:
            try:
                await self.refresh(store)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not is_database_error(error):
                    log.exception("could not refresh stage durations")
            await asyncio.sleep(REFRESH_SECONDS)


ETA = web.AppKey("eta", EtaEstimator)
