"""What every benchmark shares: rows, databases, service processes, load tools, machine facts.

Each benchmark gets a fresh database on the PostgreSQL server the tests use
(CAPCUT_MATE_TEST_DATABASE_URL, else 127.0.0.1:5432, else an embedded server started once
for the whole run), runs `capcut-mate serve` in child processes, and generates load from
other processes: wrk where it is installed, else a Python child (benchmarks/child.py).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from capcut_mate.database.migrations import upgrade_to_head
from capcut_mate.database.store import Store

ROOT = Path(__file__).resolve().parent.parent
# The tests' helpers start real service and agent processes; the benchmarks use the same ones.
sys.path.insert(0, str(ROOT / "tests"))
from support.agents import register_agent  # noqa: E402
from support.postgres import postgres_server, throwaway_database  # noqa: E402
from support.processes import ServiceProcess, command_env, free_port  # noqa: E402

__all__ = ["ROOT", "Row", "ServiceProcess", "command_env", "free_port", "register_agent"]


@dataclass
class Row:
    """One figure of the table. `ratio` is value / reference unless the benchmark sets it."""

    figure: str
    value: float | None
    unit: str
    reference: float | None = None
    reference_unit: str | None = None
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.ratio is None and self.value is not None and self.reference:
            self.ratio = self.value / self.reference


# --- PostgreSQL ----------------------------------------------------------------------------

_server_stack = ExitStack()
_server_url: str | None = None
atexit.register(_server_stack.close)


def server_url() -> str:
    """The maintenance database of the server every benchmark uses (started once if embedded)."""
    global _server_url
    if _server_url is None:
        _server_url = _server_stack.enter_context(postgres_server())
    return _server_url


@contextmanager
def fresh_database(*, migrate: bool = True) -> Iterator[str]:
    """A new database for one benchmark, at the newest schema; dropped afterwards."""
    with throwaway_database(server_url(), prefix="capcut_mate_bench") as dsn:
        if migrate:
            upgrade_to_head(dsn)
        yield dsn


async def sql(dsn: str, statement: str, *args) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn, server_settings={"search_path": "capcut_mate, public"})
    try:
        return await connection.fetch(statement, *args)
    finally:
        await connection.close()


async def agent_tokens(dsn: str, count: int, prefix: str = "bench") -> list[str]:
    """Register `count` agents; their tokens, in name order."""
    store = await Store.open(dsn, pool_size=2)
    try:
        return [await register_agent(store, f"{prefix}-{n:03d}") for n in range(count)]
    finally:
        await store.close()


def table_stats(dsn: str, table: str) -> dict[str, int]:
    """pg_stat_user_tables counters of one capcut_mate table. A backend reports its counts at
    the end of a transaction at most once a second, and when it exits: read these after the
    connections that did the work have closed."""
    rows = asyncio.run(sql(
        dsn,
        "SELECT n_tup_upd, n_tup_hot_upd, n_dead_tup, n_live_tup FROM pg_stat_user_tables "
        "WHERE schemaname = 'capcut_mate' AND relname = $1", table))
    return dict(rows[0]) if rows else {}


def commits(dsn: str) -> int:
    """Transactions committed in `dsn`'s database so far (pg_stat_database; read after the
    connections that did the work have closed, as table_stats)."""
    return asyncio.run(sql(dsn, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))[0][0]


# --- processes -----------------------------------------------------------------------------

@contextmanager
def scratch_dir(name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"capcut-mate-bench-{name}-") as folder:
        yield Path(folder)


# Set by `python -m benchmarks --profile DIR`: every service process is sampled with py-spy,
# its stacks written to PROFILE_DIR/<PROFILE_LABEL>-<pid>.txt (the label: the benchmark's name).
PROFILE_DIR: Path | None = None
PROFILE_LABEL = "service"


# Service processes per service: one per core (`serve --workers`), as a deployment would run it.
WORKERS = os.cpu_count() or 1


@contextmanager
def service(dsn: str, scratch: Path, *extra_args: str, workers: int = WORKERS, **settings: str
            ) -> Iterator[ServiceProcess]:
    """`capcut-mate serve --workers N` on `dsn`, in child processes: no client rate limit, no
    retention, quiet logs."""
    env = command_env(
        database_url=dsn,
        data_dir=str(scratch / "service-data"),
        client_rate_limit="0",  # the load comes from one address, far faster than a client may
        log_level="WARNING",  # INFO would log every request: the access log is not what we measure
        retention_days="0",  # the fixtures' 60 days of history must not be pruned while we measure
        **settings,
    )
    process = ServiceProcess(env, scratch / f"service-{time.monotonic_ns()}.log", "--workers", str(workers),
                             *extra_args)
    try:
        process.wait_ready(120)
        with _profiled(process.process.pid):
            yield process
    finally:
        process.stop()


@contextmanager
def _profiled(pid: int) -> Iterator[None]:
    """With PROFILE_DIR set: py-spy samples `pid` for as long as the block runs, and writes
    its stacks (collapsed, one line each) to PROFILE_DIR/<PROFILE_LABEL>-<pid>.txt."""
    if PROFILE_DIR is None:
        yield
        return
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    output = PROFILE_DIR / f"{PROFILE_LABEL}-{pid}.txt"
    spy = subprocess.Popen(
        [_py_spy(), "record", "--subprocesses", "--format", "raw", "--rate", "200", "--output", str(output),
         "--pid", str(pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
        spy.wait(30)


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("--profile needs py-spy: pip install -e '.[bench]'")
    return found


def run_child(target: str, timeout: float = 1800, **kwargs) -> dict:
    """Run `module:function(**kwargs)` in a child Python process (benchmarks/child.py) and
    answer what it returned: load comes from a process of its own, never the service's."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", target, json.dumps(kwargs)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{target} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a service's worker processes)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(stat.parent.name))
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for parent in frontier for child in parents.get(parent, [])]
        tree += frontier
    return tree


def rss_mb(pid: int) -> float:
    """Resident memory of one process (VmRSS), in MB (10^6 bytes)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise ProcessLookupError(pid)


# --- load tools ----------------------------------------------------------------------------

def have_wrk() -> bool:
    return shutil.which("wrk") is not None


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk(url: str, script: Path, *, connections: int, seconds: float, threads: int = 2) -> dict:
    """wrk's requests/s and p50/p99 latency (ms) for `url`, with a Lua script for the body."""
    completed = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script),
         url],
        capture_output=True, text=True, check=True,
    )
    out = completed.stdout

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M).groups()
        return float(value) * _WRK_UNITS[unit]

    if errors := re.search(r"Non-2xx or 3xx responses: \d+", out):
        raise RuntimeError(f"wrk {url}: {errors.group(0)}: a figure of failures would mean nothing")
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
    }


def pgbench(dsn: str, *args: str, clients: int, seconds: float, options: str = "") -> dict:
    """Run /usr/bin/pgbench against `dsn` for `seconds`; its tps and mean latency (ms)."""
    env = {**os.environ, "PGOPTIONS": options} if options else None
    completed = subprocess.run(
        ["pgbench", "-n", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)),
         "-T", str(max(1, round(seconds))), *args, dsn],
        capture_output=True, text=True, env=env,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    out = completed.stdout
    return {
        "tps": float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1)),
        "latency_ms": float(re.search(r"latency average = ([\d.]+) ms", out).group(1)),
        "transactions": int(re.search(r"number of transactions actually processed: (\d+)", out).group(1)),
    }


def percentile(samples: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]


# --- the machine ---------------------------------------------------------------------------

def machine_facts() -> dict[str, str]:
    facts = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cores": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "memory": f"{_mem_total_gib():.1f} GiB",
        "python": platform.python_version(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    with contextlib.suppress(Exception):
        facts["postgresql"] = asyncio.run(sql(server_url(), "SELECT version()"))[0][0]
    facts["load generator"] = "wrk " + _wrk_version() if have_wrk() else "Python aiohttp (wrk not installed)"
    return facts


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return 0.0


def _wrk_version() -> str:
    completed = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    match = re.search(r"wrk (\S+)", completed.stdout + completed.stderr)
    return match.group(1) if match else ""


def wrk_post_script(folder: Path, body_before: str, body_after: str, count: int) -> Path:
    """A wrk Lua script POSTing JSON bodies `body_before <n> body_after`, n random in 1…count."""
    script = folder / "post.lua"
    script.write_text(f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local before, after, count = {json.dumps(body_before)}, {json.dumps(body_after)}, {count}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  math.randomseed(seed)
end
function request()
  return wrk.format(nil, nil, nil, before .. math.random(count) .. after)
end
""")
    return script


@contextmanager
def background_child(target: str, port: int, **kwargs) -> Iterator[subprocess.Popen]:
    """`module:function(port=…, **kwargs)` serving in a child process until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.child", target, json.dumps({"port": port, **kwargs})],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        _wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"child exited with {process.returncode}: {process.stderr.read().decode()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def pgbench_init(dsn: str, scale: int) -> None:
    """pgbench's own tables in `dsn` (pgbench -i), for its built-in scripts."""
    subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), dsn], check=True, capture_output=True)


class CpuShares:
    """Where the machine's CPU went while a block ran, in cores: the service process(es),
    the load (child processes this process waited for meanwhile), and the rest, which on a
    quiet machine is PostgreSQL. On 2 cores, this says which of the three a figure is
    waiting for."""

    def __init__(self, *service_pids: int):
        self.service_pids = service_pids
        self.cores: dict[str, float] = {}

    def __enter__(self) -> CpuShares:
        self._start = self._snapshot()
        return self

    def __exit__(self, *_exc) -> None:
        end = self._snapshot()
        wall = end["wall"] - self._start["wall"]
        spent = {key: (end[key] - self._start[key]) / wall for key in ("busy", "idle", "service", "load")}
        self.cores = {
            **({"service": spent["service"]} if self.service_pids else {}),
            "load": spent["load"],
            "postgres and the rest": max(spent["busy"] - spent["service"] - spent["load"], 0.0),
            "idle": spent["idle"],
        }

    def summary(self, rate: float | None = None, unit: str = "request") -> str:
        """The cores each used; with `rate` (units of work per second), also the CPU
        milliseconds each spent per unit."""
        text = "CPU in cores: " + ", ".join(f"{name} {cores:.2f}" for name, cores in self.cores.items())
        if rate:
            busy = {name: cores for name, cores in self.cores.items() if name != "idle"}
            text += f"; CPU ms per {unit}: " + ", ".join(f"{name} {cores / rate * 1e3:.2f}"
                                                         for name, cores in busy.items())
        return text

    def _snapshot(self) -> dict[str, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "wall": time.monotonic(),
            "busy": (sum(fields[:8]) - idle) / ticks,
            "idle": idle / ticks,
            "service": sum(_process_cpu(pid) for pid in self.service_pids) / ticks,
            "load": children.ru_utime + children.ru_stime,
        }


def _process_cpu(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])
