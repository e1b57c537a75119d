"""The application factory: routes, middleware, and the resources each process holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from capcut_mate.database.store import Store
from capcut_mate.server import agent_api, client_api
from capcut_mate.server.claim_wakeups import ClaimWakeups
from capcut_mate.server.http import ERRORS_AS_200, MAX_BODY_BYTES, envelope_errors, stamp_request_id
from capcut_mate.server.keys import SETTINGS, STORE, VIDEO_STORE, WAKEUPS
from capcut_mate.server.lease_reaper import run_lease_reaper
from capcut_mate.server.video_store import ROUTE_PREFIX, LocalVideoStore
from capcut_mate.settings import Settings


def create_app(settings: Settings, dsn: str) -> web.Application:
    app = web.Application(middlewares=[envelope_errors], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[ERRORS_AS_200] = settings.errors_as_http_200
    app[VIDEO_STORE] = LocalVideoStore(settings.videos_path, max_bytes=settings.max_video_bytes)
    app[VIDEO_STORE].prepare()
    app.on_response_prepare.append(stamp_request_id)

    async def database(app: web.Application) -> AsyncIterator[None]:
        app[STORE] = await Store.open(
            dsn,
            pool_size=settings.db_pool_size,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            lock_timeout_ms=settings.db_lock_timeout_ms,
        )
        yield
        await app[STORE].close()

    async def claim_wakeups(app: web.Application) -> AsyncIterator[None]:
        app[WAKEUPS] = ClaimWakeups(dsn, poll_seconds=settings.claim_poll_seconds)
        await app[WAKEUPS].start()
        yield
        await app[WAKEUPS].close()

    async def lease_reaper(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run_lease_reaper(app[STORE], settings), name="lease-reaper")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def release_waiting_claims(app: web.Application) -> None:
        # Long-polling claims answer at once on shutdown instead of holding it up.
        app[WAKEUPS].release_waiters()

    app.cleanup_ctx.extend([database, claim_wakeups, lease_reaper])
    app.on_shutdown.append(release_waiting_claims)
    app.add_routes(client_api.routes())
    agent_api.mount(app)
    app.router.add_static(ROUTE_PREFIX, settings.videos_path, follow_symlinks=False)
    return app
