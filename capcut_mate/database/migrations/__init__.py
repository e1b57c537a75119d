"""The alembic migrations (plain SQL, async env), shipped inside the package, run from code.

This folder is alembic's script location: `env.py`, and one file per revision in
`versions/`, installed as package data so a wheel migrates as well as a checkout does.
Migrations are forward-only. `../schema.sql` is the schema they arrive at, in one file to
read; tests/test_schema.py holds the two to the same `pg_dump`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSIONS_DIR = MIGRATIONS_DIR / "versions"

# A revision's file is named after its id: versions/<revision>_<slug>.py, ids in order.
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


def alembic_config(dsn: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["dsn"] = dsn
    return config


def upgrade_to_head(dsn: str) -> None:
    """Bring the schema to the newest revision. Safe to run from several processes at once.

    Blocking (alembic runs its own event loop): call it before the service's loop starts,
    or in a thread.
    """
    from alembic import command

    command.upgrade(alembic_config(dsn), "head")


@functools.cache
def head_revision() -> str:
    """The newest revision, read off the file names in versions/: a command on a database
    already at head need not import alembic and SQLAlchemy to know it is (alembic's own
    answer agrees; tests/test_schema.py checks)."""
    revisions = [m.group(1) for m in map(_REVISION_FILE.match, (p.name for p in VERSIONS_DIR.iterdir())) if m]
    if not revisions:
        raise RuntimeError(f"no migrations in {VERSIONS_DIR}")
    return max(revisions)


def executing(statements: list[str]):
    """A revision's upgrade(): run its statements in order, in the migration's transaction."""

    def upgrade() -> None:
        from alembic import op

        for statement in statements:
            op.execute(statement)

    return upgrade
