"""How database errors are told apart: "unreachable for now" (503), "the input cannot be
stored" (400), or "this query failed" (500)."""

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
    asyncpg.exceptions.InternalClientError,  # a connection left unusable by a termination notice
)


def is_outage(error: BaseException) -> bool:
    return isinstance(error, OUTAGE_ERRORS)


def is_bad_input(error: BaseException) -> bool:
    """Class 22 (data exception): a value PostgreSQL cannot hold, e.g. out of range. Input
    validation should catch these first; this keeps a miss from turning into a 500."""
    return isinstance(error, asyncpg.exceptions.DataError)


def is_database_error(error: BaseException) -> bool:
    return is_outage(error) or isinstance(error, asyncpg.exceptions.PostgresError)
