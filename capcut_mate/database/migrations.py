"""Run the alembic migrations in migrations/ (plain SQL, async env) from code."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(dsn: str) -> Config:
    if not (MIGRATIONS_DIR / "env.py").exists():
        raise RuntimeError(
            f"migrations not found at {MIGRATIONS_DIR}; install capcut-mate from its source "
            "checkout with `pip install -e .`"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["dsn"] = dsn
    return config


def upgrade_to_head(dsn: str) -> None:
    """Bring the schema to the newest revision. Safe to run from several processes at once.

    Blocking (alembic runs its own event loop): call it before the service's loop starts,
    or in a thread.
    """
    command.upgrade(alembic_config(dsn), "head")


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("unused"))
    head = script.get_current_head()
    assert head is not None
    return head
