"""The application factory: routes, middleware, and the resources each process holds."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from capcut_mate.database.store import Store
from capcut_mate.server import client_api
from capcut_mate.server.http import ERRORS_AS_200, envelope_errors, stamp_request_id
from capcut_mate.server.keys import SETTINGS, STORE
from capcut_mate.settings import Settings

# CONTRACT.md: bodies over 1 MiB are refused with 413. Video uploads stream past this.
MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings, dsn: str) -> web.Application:
    app = web.Application(middlewares=[envelope_errors], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[ERRORS_AS_200] = settings.errors_as_http_200
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

    app.cleanup_ctx.append(database)
    app.add_routes(client_api.routes())
    return app
