"""A render farm in child processes: `capcut-mate serve` and `capcut-mate agent`, for real.

Agents run the command exporter with support/fake_export.py. Everything started here is
stopped (SIGKILL if need be) when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from capcut_mate.database.store import Store
from support.agents import register_agent
from support.processes import ServiceProcess, command_env

FAKE_EXPORT = Path(__file__).with_name("fake_export.py")
EXPORT_COMMAND = f"{sys.executable} {FAKE_EXPORT} {{draft_url}} {{output}}"


class AgentProcess:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


class Farm:
    def __init__(self, tmp_path: Path, database_url: str, store: Store):
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.store = store
        self.pid_dir = tmp_path / "export-pids"
        self.pid_dir.mkdir()
        self.services: list[ServiceProcess] = []
        self.agents: list[AgentProcess] = []
        self.http = aiohttp.ClientSession()

    def start_service(self, *extra_args: str, port: int | None = None, **settings: str) -> ServiceProcess:
        env = command_env(
            database_url=self.database_url,
            data_dir=str(self.tmp_path / "service-data"),
            reaper_interval_seconds="0.2",
            client_rate_limit="0",  # tests poll far faster than a client should
            log_level="INFO",
            **settings,
        )
        service = ServiceProcess(env, self.tmp_path / f"service-{len(self.services)}.log", *extra_args, port=port)
        self.services.append(service)
        return service.wait_ready()

    async def start_agent(
        self,
        name: str,
        service: ServiceProcess,
        *extra_args: str,
        stage_seconds: float = 0.05,
        tags: list[str] | None = None,
        server: str | None = None,
    ) -> AgentProcess:
        """An agent of `service` (or of `server`: a proxy in front of it, or several services'
        URLs, comma-separated)."""
        token = await register_agent(self.store, name, tags)
        env = command_env(log_level="INFO")
        env.update(
            CAPCUT_MATE_AGENT_TOKEN=token,
            FAKE_EXPORT_STAGE_SECONDS=str(stage_seconds),
            FAKE_EXPORT_PID_DIR=str(self.pid_dir),
        )
        args = [
            sys.executable, "-m", "capcut_mate", "agent",
            "--server", server or service.url,
            "--command", EXPORT_COMMAND,
            "--work-dir", str(self.tmp_path / f"work-{name}"),
            "--claim-wait", "5",
            *extra_args,
        ]
        agent = AgentProcess(name, args, env, self.tmp_path / f"agent-{name}.log")
        self.agents.append(agent)
        return agent

    def export_pid(self, job_id: int, attempt: int) -> int | None:
        path = self.pid_dir / f"{job_id}-{attempt}.pid"
        return int(path.read_text()) if path.exists() else None

    async def submit(self, service: ServiceProcess, draft_url: str, **fields) -> dict:
        async with self.http.post(f"{service.url}/v1/gen_video", json={"draft_url": draft_url, **fields}) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def status(self, service: ServiceProcess, draft_url: str) -> dict:
        async with self.http.post(f"{service.url}/v1/gen_video_status", json={"draft_url": draft_url}) as r:
            return await r.json()

    async def wait_for(self, service: ServiceProcess, draft_url: str, predicate, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            try:
                body = await self.status(service, draft_url)
                if predicate(body):
                    return body
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out; last status {body}\n" + self.logs())

    def logs(self) -> str:
        parts = [f"--- service {n} ---\n{s.log()[-4000:]}" for n, s in enumerate(self.services)]
        parts += [f"--- agent {a.name} ---\n{a.log()[-4000:]}" for a in self.agents]
        return "\n".join(parts)

    async def close(self) -> None:
        for agent in self.agents:
            agent.kill()
        for service in self.services:
            service.kill()
        for pid_file in self.pid_dir.glob("*.pid"):
            # Most of these exports ended long ago and their pids may now be anyone's (a
            # soak's thousands of exports wrap the pid space): once, a PostgreSQL backend's.
            pid = int(pid_file.read_text().strip() or 0)
            if pid and is_fake_export(pid, self.pid_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        await self.http.close()


def is_fake_export(pid: int, pid_dir: Path) -> bool:
    """Whether `pid` is a fake export of the farm writing its pid into `pid_dir`."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"FAKE_EXPORT_PID_DIR={pid_dir}".encode() in environ


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
