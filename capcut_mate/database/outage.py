"""Which database errors mean "the database is unreachable for now" (503) rather than
"this query failed" (500)."""

from __future__ import annotations

import asyncio

import asyncpg

OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    asyncio.TimeoutError,  # connect or command timeout, e.g. a half-open connection
    asyncpg.exceptions.PostgresConnectionError,  # class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, restart, statement timeout
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.LockNotAvailableError,  # lock_timeout: another session holds the row
    asyncpg.exceptions.InterfaceError,  # "connection is closed" and its kin
)


def is_outage(error: BaseException) -> bool:
    return isinstance(error, OUTAGE_ERRORS)


def is_database_error(error: BaseException) -> bool:
    return is_outage(error) or isinstance(error, asyncpg.exceptions.PostgresError)
