"""What stops a command before it can start, found early and said in one line.

Each check names what is wrong and what to change (a flag, a CAPCUT_MATE_* setting, a
folder, a database to create). `capcut-mate` prints a StartupError as that one line and
exits non-zero; whatever it had started by then (the embedded PostgreSQL) is stopped on the
way out.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

# How long a configured database may take to answer the first connection.
CONNECT_TIMEOUT_SECONDS = 10.0


class StartupError(Exception):
    """A mistake in the setup, not a bug: its message is the whole story."""


def check_data_dir(path: Path, *, what: str = "data folder", setting: str = "CAPCUT_MATE_DATA_DIR") -> None:
    """The data folder (or another the service writes) exists or can be made, is a folder,
    and takes files."""
    change = f"set {setting} to a folder you can write"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StartupError(f"{what} {path} is not a folder (it, or one above it, is a file): {change}") from None
    except OSError as error:
        raise StartupError(f"cannot create the {what} {path} ({error.strerror}): {change}") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise StartupError(f"cannot write in the {what} {path} ({error.strerror}): {change}") from None


def listen_error(error: OSError, host: str, port: int) -> StartupError:
    """An OSError from binding host:port, as what to do about it."""
    if error.errno == errno.EADDRINUSE:
        return StartupError(
            f"port {port} on {host} is already in use (another capcut-mate serve?): stop that, "
            "or choose another port with --port or CAPCUT_MATE_PORT"
        )
    if error.errno in (errno.EACCES, errno.EPERM):
        return StartupError(
            f"not allowed to listen on port {port}: choose one above 1023 with --port or CAPCUT_MATE_PORT"
        )
    return StartupError(
        f"cannot listen on {host}:{port} ({error.strerror or error}): choose another address with "
        "--host or CAPCUT_MATE_HOST, or another port with --port or CAPCUT_MATE_PORT"
    )


def check_port_free(host: str, port: int) -> None:
    """Bind host:port once and let go, as the service is about to: before the database is
    started and migrated for nothing. (The service's own bind reports a port taken in
    between the same way.)"""
    if not port:
        return
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise StartupError(
            f"cannot listen on {host!r} ({error.strerror}): choose another address with --host or CAPCUT_MATE_HOST"
        ) from None
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
            try:
                probe.bind(address)
            except OSError as error:
                raise listen_error(error, host, port) from None


def database_place(dsn: str) -> str:
    """host:port/database of a PostgreSQL URL, without its password."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}/{unquote(parts.path.lstrip('/')) or parts.username or ''}"


def check_database(dsn: str) -> None:
    """The configured database answers and lets us in; otherwise, what to change."""
    import asyncpg

    place = database_place(dsn)
    fix = "or point CAPCUT_MATE_DATABASE_URL at another"

    async def connect() -> None:
        connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        await connection.close()

    try:
        asyncio.run(connect())
    except asyncpg.InvalidCatalogNameError:
        name = place.rsplit("/", 1)[1]
        raise StartupError(f"database {name!r} does not exist on {place.rsplit('/', 1)[0]}: "
                           f"create it (createdb {name}) {fix}") from None
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as error:
        raise StartupError(f"PostgreSQL at {place} refused the login ({error}): fix the user or password "
                           "in CAPCUT_MATE_DATABASE_URL") from None
    except TimeoutError:
        raise StartupError(f"PostgreSQL at {place} did not answer within {CONNECT_TIMEOUT_SECONDS:.0f} s: "
                           f"check it runs and is reachable, {fix}") from None
    except OSError as error:
        # A negative errno is getaddrinfo's (a host that does not resolve): its own words.
        reason = os.strerror(error.errno) if error.errno and error.errno > 0 else (error.strerror or str(error))
        raise StartupError(f"cannot reach PostgreSQL at {place} ({reason}): start it, {fix}") from None
    except (ValueError, asyncpg.ClientConfigurationError) as error:
        raise StartupError(f"CAPCUT_MATE_DATABASE_URL is not a usable PostgreSQL URL ({error})") from None
    except asyncpg.PostgresError as error:
        raise StartupError(f"PostgreSQL at {place} refused the connection ({error}) {fix}") from None


def describe_settings_error(error) -> str:
    """A pydantic ValidationError of Settings, as the variables to fix."""
    problems = []
    for item in error.errors():
        field = "_".join(str(part) for part in item["loc"]).upper()
        problems.append(f"CAPCUT_MATE_{field}: {item['msg']}")
    return "bad setting: " + "; ".join(problems)
