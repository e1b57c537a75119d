"""`capcut-mate serve --workers N`: N service processes on one port, stopped together."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

from support.processes import ServiceProcess, command_env, run_command

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            pass
    return children


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _served_count(url: str) -> str:
    """This process's count of gen_video_active_count requests (counters are per process)."""
    with urlopen(f"{url}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    match = re.search(r'route="/v1/gen_video_active_count".*\} (\S+)', metrics)
    return match.group(1) if match else "0"


def test_workers_share_the_port_and_stop_with_the_first(database_url: str, tmp_path: Path):
    env = command_env(database_url=database_url, data_dir=str(tmp_path / "data"), client_rate_limit="0")
    service = ServiceProcess(env, tmp_path / "serve.log", "--workers", "2").wait_ready()
    try:
        for _ in range(20):  # each on a new connection, which the kernel hands to either process
            with urlopen(f"{service.url}/v1/gen_video_active_count", timeout=10) as response:
                assert response.status == 200
        # Each process counts only what it served: two processes answering show two counts.
        counts = {_served_count(service.url) for _ in range(30)}
        assert len(counts) == 2, f"one process answered everything: {counts}\n{service.log()}"
        others = _children(service.process.pid)
    finally:
        assert service.stop() == 0, service.log()
    # The workers, and multiprocessing's resource tracker, which leaves once it sees the end.
    deadline = time.monotonic() + 10
    while (alive := [pid for pid in others if _running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"left running: {alive}"


def test_workers_need_a_fixed_port(database_url: str):
    result = run_command("serve", "--workers", "2", "--port", "0", env=command_env(database_url=database_url))
    assert result.returncode != 0 and "fixed port" in result.stderr
