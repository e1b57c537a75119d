"""Running the service process: listen, start local agents, and stop in the right order."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from capcut_mate.processes import wait_until_orphaned
from capcut_mate.server.app import create_app
from capcut_mate.server.app_keys import STORE
from capcut_mate.server.connections import ServiceRunner
from capcut_mate.server.local_agents import LocalAgents, LocalAgentsPlan
from capcut_mate.settings import Settings
from capcut_mate.startup import listen_error

log = logging.getLogger("capcut_mate.server")

# Under the data directory: heap snapshots written on SIGUSR1 (see write_heap_snapshot).
HEAP_SNAPSHOTS = "heap-snapshots"

ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs [%{X-Request-ID}o]'


async def serve(
    settings: Settings,
    dsn: str,
    *,
    local_agents: LocalAgentsPlan | None = None,
    reuse_port: bool = False,
    parent_pid: int | None = None,
    on_listening: Callable[[], object] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT (or, given `parent_pid`, until that process is gone).
    Local agents drain first, while the service still answers them; then the service stops.
    A second SIGINT or SIGTERM while they drain stops them at once: their running jobs are
    handed back as retryable, as on a lost lease."""
    app = create_app(settings, dsn)
    runner = ServiceRunner(app, header_timeout=settings.header_timeout_seconds,
                           access_log_format=ACCESS_LOG_FORMAT, shutdown_timeout=10)
    await runner.setup()
    stop, stop_now = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_stop_signal() -> None:
        if not stop.is_set():
            stop.set()
        elif not stop_now.is_set():
            print("capcut-mate: stopping now; running jobs go back to the queue", flush=True)
            stop_now.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop_signal)
    # Taken over even untraced: SIGUSR1's default is to end the process.
    loop.add_signal_handler(signal.SIGUSR1, write_heap_snapshot, settings.data_dir / HEAP_SNAPSHOTS)
    orphan_watch = asyncio.create_task(_stop_when_orphaned(parent_pid, stop)) if parent_pid else None
    agents: LocalAgents | None = None
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port)
        try:
            await site.start()
        except OSError as error:
            raise listen_error(error, settings.host, settings.port) from None
        if on_listening:
            on_listening()
        print(f"capcut-mate serving on http://{settings.host}:{settings.port}", flush=True)
        if local_agents and local_agents.count:
            host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
            agents = LocalAgents(local_agents, f"http://{host}:{settings.port}", settings.port)
            await agents.start(app[STORE])
        await stop.wait()
        if agents and agents.any_running():
            print(f"capcut-mate: stopping; local agents finish their running jobs (up to "
                  f"{agents.plan.drain_seconds:.0f} s). Ctrl-C again to stop now", flush=True)
        else:
            log.info("stopping")
    finally:
        if orphan_watch:
            orphan_watch.cancel()
        if agents:
            await agents.stop(now=stop_now)
        await runner.cleanup()


def write_heap_snapshot(folder: Path) -> Path | None:
    """Started with allocation tracing on (PYTHONTRACEMALLOC=<frames>), a service process
    writes what Python has allocated, and where, on SIGUSR1: how a leak is told from an
    allocator that keeps freed memory (resident size alone cannot tell them apart). Read
    with tracemalloc.Snapshot.load; docs/reliability.md."""
    if not tracemalloc.is_tracing():
        log.warning("SIGUSR1: no heap snapshot, allocation tracing is off (start with PYTHONTRACEMALLOC=10)")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{os.getpid()}-{time.time_ns()}.tracemalloc"
    partial = path.with_suffix(".partial")
    tracemalloc.take_snapshot().dump(str(partial))
    partial.rename(path)  # whole or not at all, for whoever watches the folder
    log.info("heap snapshot %s: %.1f MB traced", path, tracemalloc.get_traced_memory()[0] / 1e6)
    return path


def serve_processes(settings: Settings, dsn: str, workers: int, *, local_agents: LocalAgentsPlan | None = None) -> None:
    """`workers` service processes on one port (SO_REUSEPORT: the kernel spreads new
    connections among them), so one service uses every core. This process is the first
    and runs the local agents; on its way out it stops the others (SIGTERM: each drains as
    a lone service would). Each process has its own pool, reaper and LISTEN connection, as
    separately started processes would."""
    context = multiprocessing.get_context("spawn")
    listening = [context.Event() for _ in range(1, workers)]
    others = [
        context.Process(target=_worker, args=(settings, dsn, os.getpid(), ready), name=f"capcut-mate-worker-{n}")
        for n, ready in enumerate(listening, start=1)
    ]
    for process in others:
        process.start()
    try:
        # The others listen before this one does, so that once this process announces it
        # serves, every process takes connections.
        for ready, process in zip(listening, others):
            while not ready.wait(0.5):
                if not process.is_alive():
                    raise SystemExit(f"capcut-mate serve: worker {process.name} exited with {process.exitcode}")
        asyncio.run(serve(settings, dsn, local_agents=local_agents, reuse_port=True))
    finally:
        for process in others:
            process.terminate()
        for process in others:
            process.join(30)


def _worker(settings: Settings, dsn: str, parent_pid: int, listening) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(settings, dsn, reuse_port=True, parent_pid=parent_pid, on_listening=listening.set))


async def _stop_when_orphaned(parent_pid: int, stop: asyncio.Event) -> None:
    """A worker whose first process died without stopping it (SIGKILL) stops by itself."""
    await wait_until_orphaned(parent_pid)
    log.warning("the first service process is gone; stopping")
    stop.set()
