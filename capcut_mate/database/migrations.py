"""Run the alembic migrations in migrations/ (plain SQL, async env) from code."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

# The newest revision in migrations/versions/. A mirror of alembic's own answer
# (head_revision(), which tests/test_state_machine.py keeps in step with this), so that a
# command on a database already at head need not import alembic and SQLAlchemy: about half
# a second of `capcut-mate report`'s start.
HEAD_REVISION = "0007"


def alembic_config(dsn: str) -> Config:
    from alembic.config import Config

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
    from alembic import command

    command.upgrade(alembic_config(dsn), "head")


def head_revision() -> str:
    """The head as alembic reads it from migrations/versions/."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("unused"))
    head = script.get_current_head()
    assert head is not None
    return head


def functions_as_created_in(revision_file: str, *functions: str) -> list[str]:
    """The CREATE statements of the named functions as an earlier revision made them, made
    into CREATE OR REPLACE: a downgrade that redefined them goes back with these, so each
    definition is written once, in the revision that introduced it."""
    import importlib.util

    path = MIGRATIONS_DIR / "versions" / revision_file
    spec = importlib.util.spec_from_file_location(f"capcut_mate_revision_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = [
        statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
        for name in functions
        for statement in module.UPGRADE
        if f"CREATE FUNCTION capcut_mate.{name}(" in statement  # after a leading comment, too
    ]
    if len(found) != len(functions):
        raise RuntimeError(f"{revision_file} does not create each of {functions}")
    return found
