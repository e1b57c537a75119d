"""The application factory: routes, middleware, and the resources each process holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from capcut_mate.database.store import Store
from capcut_mate.server import agent_api, client_api, observability, operations_api, pages, sample_drafts, videos
from capcut_mate.server.app_keys import OPENAPI_DOCUMENT, SETTINGS, STORE, VIDEO_STORE, WAKEUPS
from capcut_mate.server.claim_wakeups import ClaimWakeups
from capcut_mate.server.client_guard import CLIENT_GUARD, ClientGuard
from capcut_mate.server.eta import ETA, EtaEstimator
from capcut_mate.server.freed_memory import give_back_freed_memory
from capcut_mate.server.http import BODY_TIMEOUT, ERRORS_AS_200, MAX_BODY_BYTES, envelope_errors, stamp_request_id
from capcut_mate.server.lease_reaper import run_lease_reaper
from capcut_mate.server.maintenance import run_maintenance
from capcut_mate.server.observability import METRICS, ServiceMetrics, count_requests
from capcut_mate.server.openapi import build_document
from capcut_mate.server.video_store import open_video_store
from capcut_mate.settings import Settings

ENDPOINTS = [client_api.GROUP, agent_api.GROUP, operations_api.GROUP, observability.GROUP, pages.GROUP,
             videos.GROUP, sample_drafts.GROUP]


def create_app(settings: Settings, dsn: str) -> web.Application:
    app = web.Application(
        middlewares=[count_requests, envelope_errors], client_max_size=MAX_BODY_BYTES,
        # Bodies are read as sent: a Content-Encoding is refused (http.refuse_encoded_body),
        # never inflated on the event loop.
        handler_args={"auto_decompress": False},
    )
    app[SETTINGS] = settings
    app[BODY_TIMEOUT] = settings.body_timeout_seconds
    app[ERRORS_AS_200] = settings.errors_as_http_200
    app[METRICS] = ServiceMetrics()
    app[ETA] = EtaEstimator()
    app[CLIENT_GUARD] = ClientGuard(
        settings.api_keys, rate=settings.client_rate_limit, burst=settings.client_rate_burst,
        trust_forwarded_for=settings.trust_forwarded_for,
    )
    app[VIDEO_STORE] = open_video_store(settings)
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

    async def video_store(app: web.Application) -> AsyncIterator[None]:
        await app[VIDEO_STORE].start()
        yield
        await app[VIDEO_STORE].close()

    async def claim_wakeups(app: web.Application) -> AsyncIterator[None]:
        app[WAKEUPS] = ClaimWakeups(dsn, poll_seconds=settings.claim_poll_seconds)
        await app[WAKEUPS].start()
        yield
        await app[WAKEUPS].close()

    async def background_work(app: web.Application) -> AsyncIterator[None]:
        store = app[STORE]
        tasks = [
            asyncio.create_task(run_lease_reaper(store, settings, app[METRICS]), name="lease-reaper"),
            asyncio.create_task(run_maintenance(store, settings, app[VIDEO_STORE]), name="maintenance"),
            asyncio.create_task(app[ETA].keep_fresh(store), name="eta"),
            asyncio.create_task(give_back_freed_memory(), name="freed-memory"),
        ]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def release_waiting_claims(app: web.Application) -> None:
        # Long-polling claims answer at once on shutdown instead of holding it up.
        app[WAKEUPS].release_waiters()

    app.cleanup_ctx.extend([database, video_store, claim_wakeups, background_work])
    app.on_shutdown.append(release_waiting_claims)
    for group in ENDPOINTS:
        group.mount(app, MAX_BODY_BYTES)
    app[OPENAPI_DOCUMENT] = build_document(ENDPOINTS)
    return app
