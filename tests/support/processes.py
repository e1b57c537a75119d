"""Running the real `capcut-mate` command in child processes, as users and operators do."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def command_env(**settings: str | None) -> dict[str, str]:
    """This environment without any CAPCUT_MATE_* of the developer's, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPCUT_MATE_")}
    env.update({f"CAPCUT_MATE_{k.upper()}": v for k, v in settings.items() if v is not None})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


# How the tests run `capcut-mate`: this interpreter, on the code under test.
CAPCUT_MATE = (sys.executable, "-m", "capcut_mate")


def run_command(*args: str, env: Mapping[str, str], timeout: float = 120,
                program: Sequence[str] = CAPCUT_MATE) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*program, *args],
        env=dict(env), capture_output=True, text=True, timeout=timeout,
    )


class ServiceProcess:
    """`capcut-mate serve` in a child process, with its output in a log file."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *extra_args: str, port: int | None = None,
                 program: Sequence[str] = CAPCUT_MATE):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [*program, "serve", "--port", str(self.port), *extra_args],
            env=dict(env), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> ServiceProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urlopen(f"{self.url}/v1/gen_video_active_count", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (URLError, OSError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"service not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        """Until the service has printed `text` (it prints as it goes: PYTHONUNBUFFERED)."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"never printed {text!r}:\n{self.log()}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        self.stop(signal.SIGKILL)


def processes_mentioning(text: str) -> list[int]:
    """The pids of this machine's processes whose command line holds `text` (a job's work
    folder, say: what is still running for it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
