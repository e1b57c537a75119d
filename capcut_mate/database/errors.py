"""How database errors are told apart: "unreachable for now" (503), "the input cannot be
stored" (400), or "this query failed" (500).

An OSError or a timeout is an outage only when it happened on the way to PostgreSQL: the
store raises those as DatabaseUnreachable. Any other OSError (a full video disk, a
client that hung up, a missing file) is not the database's, and is never answered as if
it were."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg


class DatabaseUnreachable(Exception):
    """A connection to PostgreSQL was refused, reset, timed out or could not be made."""


@contextlib.contextmanager
def reaching_the_database() -> Iterator[None]:
    """Network trouble (OSError, timeouts) inside is the database's: DatabaseUnreachable."""
    try:
        yield
    except OSError as error:  # TimeoutError included: connect or command timeout, a half-open connection
        raise DatabaseUnreachable(repr(error)) from error


OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseUnreachable,  # refused, reset, unreachable, timed out
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
