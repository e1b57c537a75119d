"""Shared fixtures. Every test talks to a real PostgreSQL: see support/postgres.py."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from capcut_mate.database.migrations import upgrade_to_head
from capcut_mate.database.store import Store
from capcut_mate.server.app import create_app
from capcut_mate.settings import Settings
from support.farm import Farm
from support.postgres import postgres_server, throwaway_database
from support.s3 import CREDENTIALS, Bucket, moto_server, new_bucket

# Tables that hold the schema's own definitions rather than data.
DEFINITION_TABLES = ("alembic_version", "job_status_transitions")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The maintenance database of the server tests run on."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """A data folder for a test's own embedded PostgreSQL, outside pytest's temporary
    folders: run as root, the server runs as a user of its own that must traverse every
    parent, and a pytest session starting beside this one makes /tmp/pytest-of-<user>
    private again."""
    with tempfile.TemporaryDirectory(prefix="capcut-mate-test-data-") as folder:
        yield Path(folder) / "data"


@pytest.fixture(scope="session")
def database_url(postgres_url: str) -> Iterator[str]:
    """One migrated database for the session; each test starts from empty tables."""
    with throwaway_database(postgres_url) as dsn:
        upgrade_to_head(dsn)
        yield dsn


async def empty_all_tables(store: Store) -> None:
    tables = await store.pool.fetch(
        "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables "
        "WHERE schemaname = 'capcut_mate' AND NOT tablename = ANY($1::text[])",
        list(DEFINITION_TABLES),
    )
    await store.pool.execute(
        f"TRUNCATE {', '.join(row['name'] for row in tables)} RESTART IDENTITY CASCADE"
    )


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = await Store.open(database_url, pool_size=20)
    await empty_all_tables(store)
    yield store
    await store.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Tests fire requests faster than any client should; the rate limit has tests of its own.
    return Settings(database_url=database_url, data_dir=tmp_path / "data", lease_seconds=30, client_rate_limit=0)


@pytest.fixture
async def client(aiohttp_client, settings: Settings, store: Store):
    """A test client of the whole service on the session database (tables emptied)."""
    return await aiohttp_client(create_app(settings, settings.database_url))


@pytest.fixture
def service(aiohttp_client, settings: Settings, store: Store):
    """Start a test client of the service with some settings changed: `await service(**changes)`."""

    async def start(**changes):
        changed = settings.model_copy(update=changes)
        return await aiohttp_client(create_app(changed, changed.database_url))

    return start


@pytest.fixture
async def farm(tmp_path: Path, database_url: str, store: Store) -> AsyncIterator[Farm]:
    """Service and agent processes for the test, all stopped when it ends."""
    farm = Farm(tmp_path, database_url, store)
    yield farm
    await farm.close()


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """moto's S3 server, one process for the session."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture
async def bucket(s3_endpoint: str, monkeypatch) -> AsyncIterator[Bucket]:
    """A new bucket on the S3 server, and its credentials in this process's environment
    (which child processes inherit)."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    async with new_bucket(s3_endpoint) as made:
        yield made
