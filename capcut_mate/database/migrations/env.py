"""Alembic environment: async, on asyncpg, migrations in plain SQL.

`capcut-mate migrate` passes the DSN in config.attributes["dsn"]; run by hand, alembic
takes it from CAPCUT_MATE_DATABASE_URL.
"""

import asyncio
import os

import asyncpg
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

SCHEMA = "capcut_mate"
# Any fixed number: every process that migrates takes this lock first, so two service
# processes starting at once never run the same migration twice.
MIGRATION_LOCK_KEY = 7_362_901_514


def _dsn() -> str:
    dsn = context.config.attributes.get("dsn") or os.environ.get("CAPCUT_MATE_DATABASE_URL")
    if not dsn:
        raise SystemExit("Set CAPCUT_MATE_DATABASE_URL, or run `capcut-mate migrate`.")
    return dsn


def _run(connection) -> None:
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
    # The version table lives in our schema, so the schema must exist before alembic looks.
    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    context.configure(
        connection=connection,
        version_table_schema=SCHEMA,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    dsn = _dsn()
    engine = create_async_engine(
        "postgresql+asyncpg://",
        async_creator=lambda: asyncpg.connect(dsn),
        poolclass=NullPool,
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported; run against a database.")
asyncio.run(_run_async())
