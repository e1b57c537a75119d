"""`serve --local-agents N`: export agents as child processes beside the service.

For one-machine setups. Each agent gets a name of its own (local-<host>-<port>-<n>) and a
fresh token at every start; it runs the ordinary `capcut-mate agent` command, talking HTTP
to this service like any remote agent. An agent that dies is restarted. On shutdown the
agents drain first, while the service still answers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import sys
from dataclasses import dataclass, field

from capcut_mate.database.store import Store
from capcut_mate.server.auth import AGENT_TOKEN, new_token

log = logging.getLogger("capcut_mate.server.local_agents")

RESTART_DELAY_SECONDS = 2.0
TOKEN_REJECTED_EXIT = 2  # what `capcut-mate agent` exits with when the service refuses its token


@dataclass(frozen=True)
class LocalAgentsPlan:
    count: int
    exporter: str
    command: str | None = None
    extra_args: tuple[str, ...] = ()
    drain_seconds: float = 20.0
    env: dict[str, str] = field(default_factory=dict)


def agent_names(count: int, port: int) -> list[str]:
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40]
    return [f"local-{host}-{port}-{n}" for n in range(1, count + 1)]


class LocalAgents:
    def __init__(self, plan: LocalAgentsPlan, server_url: str, port: int):
        self.plan = plan
        self.server_url = server_url
        self.port = port
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._supervisors: list[asyncio.Task] = []
        self._stopping = False

    async def start(self, store: Store) -> None:
        for name in agent_names(self.plan.count, self.port):
            token = new_token(AGENT_TOKEN)
            await store.add_agent(name, token_id=token.token_id, token_hash=token.token_hash, tags=[], replace=True)
            self._supervisors.append(asyncio.create_task(self._supervise(name, token.token), name=name))
        log.info("started %d local agent(s) with the %s exporter", self.plan.count, self.plan.exporter)

    async def _supervise(self, name: str, token: str) -> None:
        args = [
            sys.executable, "-m", "capcut_mate", "agent",
            "--server", self.server_url,
            "--exporter", self.plan.exporter,
            "--drain-seconds", str(self.plan.drain_seconds),
            "--parent-pid", str(os.getpid()),
            *(["--command", self.plan.command] if self.plan.command else []),
            *self.plan.extra_args,
        ]
        env = {**os.environ, **self.plan.env, "CAPCUT_MATE_AGENT_TOKEN": token}
        while not self._stopping:
            process = await asyncio.create_subprocess_exec(*args, env=env, start_new_session=True)
            self._processes[name] = process
            code = await process.wait()
            if self._stopping:
                return
            if code == TOKEN_REJECTED_EXIT:
                log.error("local agent %s: its token was rejected (revoked?); not restarting it", name)
                return
            log.warning("local agent %s exited with %s; restarting in %.0f s", name, code, RESTART_DELAY_SECONDS)
            await asyncio.sleep(RESTART_DELAY_SECONDS)

    def any_running(self) -> bool:
        """Whether some agent still runs (and stopping waits for it to drain)."""
        return any(p.returncode is None for p in self._processes.values())

    async def stop(self, now: asyncio.Event | None = None) -> None:
        """Drain every agent (SIGTERM), then make sure they are gone. Once `now` is set,
        a second SIGTERM tells them to hand their running jobs back at once."""
        self._stopping = True
        running = [p for p in self._processes.values() if p.returncode is None]
        self._signal(running)
        if running:
            exits = asyncio.ensure_future(asyncio.wait([asyncio.ensure_future(p.wait()) for p in running]))
            hurry = asyncio.ensure_future(now.wait()) if now else asyncio.get_running_loop().create_future()
            await asyncio.wait([exits, hurry], timeout=self.plan.drain_seconds + 15,
                               return_when=asyncio.FIRST_COMPLETED)
            if hurry.done() and not exits.done():
                self._signal(running)  # the agents' own second signal: hand back now
                await asyncio.wait([exits], timeout=15)
            hurry.cancel()
            exits.cancel()
            for process in running:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    await process.wait()
        for task in self._supervisors:
            task.cancel()
        await asyncio.gather(*self._supervisors, return_exceptions=True)

    @staticmethod
    def _signal(processes: list[asyncio.subprocess.Process]) -> None:
        for process in processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
