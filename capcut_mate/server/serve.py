"""Running the service process: listen, start local agents, and stop in the right order."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from capcut_mate.server.app import create_app
from capcut_mate.server.keys import STORE
from capcut_mate.server.local_agents import LocalAgents, LocalAgentsPlan
from capcut_mate.settings import Settings

log = logging.getLogger("capcut_mate.server")

ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs [%{X-Request-ID}o]'


async def serve(settings: Settings, dsn: str, *, local_agents: LocalAgentsPlan | None = None) -> None:
    """Serve until SIGTERM or SIGINT. Local agents drain first, while the service still
    answers them; then the service stops."""
    app = create_app(settings, dsn)
    runner = web.AppRunner(app, access_log_format=ACCESS_LOG_FORMAT, shutdown_timeout=10)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    agents: LocalAgents | None = None
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        print(f"capcut-mate serving on http://{settings.host}:{settings.port}", flush=True)
        if local_agents and local_agents.count:
            host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
            agents = LocalAgents(local_agents, f"http://{host}:{settings.port}", settings.port)
            await agents.start(app[STORE])
        await stop.wait()
        log.info("stopping")
    finally:
        if agents:
            await agents.stop()
        await runner.cleanup()
