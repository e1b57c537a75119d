"""Waking long-polling claims the moment a job becomes claimable.

Each service process keeps one dedicated connection that LISTENs on the channel the jobs
trigger notifies (capcut_mate_jobs, with the job's id and requirements). A notification
wakes the longest-waiting claim whose tags cover the job's requirements, one per
notification, so a submit costs one claim query per process rather than one per waiting
agent. A woken claim that finds nothing (another process's agent was quicker) waits
again. Waiting claims also re-check on a timer: every claim_poll_seconds while listening
(jobs whose retry backoff ends send no notification), and every FALLBACK_POLL_SECONDS
while the LISTEN connection is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import asyncpg

from capcut_mate.backoff import Backoff
from capcut_mate.database.errors import is_database_error

log = logging.getLogger("capcut_mate.server.claim_wakeups")

CHANNEL = "capcut_mate_jobs"
FALLBACK_POLL_SECONDS = 0.5
HEALTH_CHECK_SECONDS = 5.0
# Between tries to get the LISTEN connection back.
RECONNECT_BASE_SECONDS, RECONNECT_CAP_SECONDS = 0.2, 5.0


class Waiter:
    def __init__(self, tags: frozenset[str]):
        self.tags = tags
        self._woken = asyncio.Event()
        self.woken_for: list[str] | None = None  # the requirements of the job that woke it

    def covers(self, requirements: list[str]) -> bool:
        return self.tags.issuperset(requirements)

    @property
    def woken(self) -> bool:
        return self._woken.is_set()

    def wake(self, requirements: list[str] | None = None) -> None:
        self.woken_for = requirements
        self._woken.set()

    async def wait(self, timeout: float) -> None:
        """Until woken or `timeout` seconds pass; either way the caller claims next."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout)
        self._woken.clear()


class ClaimWakeups:
    def __init__(self, dsn: str, *, poll_seconds: float):
        self._dsn = dsn
        self.poll_seconds = poll_seconds
        self._waiters: list[Waiter] = []  # oldest first
        self._supervisor: asyncio.Task | None = None
        self.listening = False
        self.closing = False

    @property
    def poll_interval(self) -> float:
        return self.poll_seconds if self.listening else FALLBACK_POLL_SECONDS

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._listen_forever(), name="claim-wakeups")

    def release_waiters(self) -> None:
        """Shutting down: every waiting claim answers now, and no new one waits."""
        self.closing = True
        self.wake_all()

    async def close(self) -> None:
        self.release_waiters()
        if self._supervisor:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor

    @contextlib.asynccontextmanager
    async def waiting(self, tags: list[str]) -> AsyncIterator[Waiter]:
        """Register before the first claim query, so no notification falls in between."""
        waiter = Waiter(frozenset(tags))
        self._waiters.append(waiter)
        try:
            yield waiter
        finally:
            self._waiters.remove(waiter)
            if waiter.woken and waiter.woken_for is not None:
                # Woken but gone without claiming again (it claimed its fill, or the agent
                # hung up): the job may still be there for another waiting claim.
                self._wake_one(waiter.woken_for)

    def _on_notification(self, _connection, _pid, _channel, payload: str) -> None:
        try:
            requirements = json.loads(payload).get("requirements") or []
        except (ValueError, AttributeError):
            requirements = []
        self._wake_one(requirements)

    def _wake_one(self, requirements: list[str]) -> None:
        for waiter in self._waiters:
            if not waiter.woken and waiter.covers(requirements):
                waiter.wake(requirements)
                return

    def wake_all(self) -> None:
        for waiter in self._waiters:
            waiter.wake()

    async def _listen_forever(self) -> None:
        backoff = Backoff(RECONNECT_BASE_SECONDS, RECONNECT_CAP_SECONDS)
        while not self.closing:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(
                    self._dsn, timeout=5, server_settings={"application_name": "capcut-mate-listener"}
                )
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._on_notification)
                self.listening = True
                backoff.reset()
                log.info("listening for new jobs")
                # Jobs may have arrived while nobody listened.
                self.wake_all()
                while not lost.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(lost.wait(), HEALTH_CHECK_SECONDS)
                    if not lost.is_set():
                        # A half-open connection never says it died; ask it something.
                        await connection.execute("SELECT 1", timeout=HEALTH_CHECK_SECONDS)
                raise ConnectionResetError("LISTEN connection terminated")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not is_database_error(error) and not isinstance(error, ConnectionError):
                    log.exception("LISTEN connection failed")
                elif self.listening:
                    log.warning("LISTEN connection lost (%r); polling every %.1f s until it is back",
                                error, FALLBACK_POLL_SECONDS)
            finally:
                self.listening = False
                if connection is not None:
                    connection.terminate()
                self.wake_all()  # move every waiting claim onto the fallback timer
            await asyncio.sleep(backoff.next_delay())
