"""The `capcut-mate` command as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.request import Request, urlopen

import asyncpg
import pytest

from support.postgres import postmaster_running, throwaway_database
from support.processes import ServiceProcess, command_env, run_command

DRAFT = "https://capcut-mate.jcaigc.cn/openapi/capcut-mate/v1/get_draft?draft_id=2025092811473036584258"


def post(url: str, body: dict) -> tuple[int, dict]:
    request = Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except Exception as error:  # HTTPError carries the envelope
        return error.code, json.loads(error.read())


def test_help_lists_the_commands():
    result = run_command("--help", env=command_env())
    assert result.returncode == 0
    for command in ("serve", "migrate"):
        assert command in result.stdout
    serve_help = run_command("serve", "--help", env=command_env())
    assert "--host" in serve_help.stdout and "--port" in serve_help.stdout


def test_migrate_brings_a_database_to_head(postgres_url):
    with throwaway_database(postgres_url) as dsn:
        result = run_command("migrate", env=command_env(database_url=dsn))
        assert result.returncode == 0, result.stderr

        async def tables():
            connection = await asyncpg.connect(dsn)
            try:
                return {
                    r["tablename"]
                    for r in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'capcut_mate'")
                }
            finally:
                await connection.close()

        import asyncio

        assert {"video_jobs", "job_events", "job_status_transitions"} <= asyncio.run(tables())
        # Running it again changes nothing and succeeds.
        assert run_command("migrate", env=command_env(database_url=dsn)).returncode == 0


def test_a_command_migrates_a_database_that_is_behind_and_only_then(postgres_url):
    with throwaway_database(postgres_url) as dsn:
        env = command_env(database_url=dsn, log_level="INFO")
        first = run_command("report", "--since", "1h", env=env)  # an empty database: migrated first
        assert first.returncode == 0, first.stderr
        assert "Running upgrade" in first.stderr
        again = run_command("report", "--since", "1h", env=env)  # at head: alembic is not even loaded
        assert again.returncode == 0, again.stderr
        assert "alembic" not in again.stderr
        assert "Jobs created in the window" in again.stdout


@pytest.mark.slow
def test_serve_with_no_database_url_runs_embedded_postgres_and_keeps_data(tmp_path: Path, embedded_data_dir: Path):
    data_dir = embedded_data_dir
    env = command_env(data_dir=str(data_dir))
    service = ServiceProcess(env, tmp_path / "serve-1.log").wait_ready()
    try:
        assert post(f"{service.url}/v1/gen_video_status", {"draft_url": DRAFT})[0] == 404
        status, body = post(f"{service.url}/v1/gen_video", {"draft_url": DRAFT})
        assert (status, body["status"]) == (200, "pending")
    finally:
        assert service.stop() == 0
    assert (data_dir / "pgdata" / "PG_VERSION").exists()
    assert not postmaster_running(data_dir / "pgdata"), "the embedded server must stop with the service"

    again = ServiceProcess(env, tmp_path / "serve-2.log").wait_ready()
    try:
        status, body = post(f"{again.url}/openapi/capcut-mate/v1/gen_video_status", {"draft_url": DRAFT})
        assert (status, body["status"], body["job_id"]) == (200, "pending", 1)
    finally:
        again.stop()


def test_a_traced_service_writes_a_heap_snapshot_on_sigusr1(database_url, tmp_path: Path):
    """Chasing memory in production: start with PYTHONTRACEMALLOC, send SIGUSR1, read the
    snapshot with tracemalloc."""
    import signal
    import time
    import tracemalloc

    data_dir = tmp_path / "data"
    env = {**command_env(database_url=database_url, data_dir=str(data_dir)), "PYTHONTRACEMALLOC": "5"}
    service = ServiceProcess(env, tmp_path / "serve.log").wait_ready()
    try:
        assert post(f"{service.url}/v1/gen_video", {"draft_url": DRAFT})[0] == 200
        service.process.send_signal(signal.SIGUSR1)
        folder = data_dir / "heap-snapshots"
        deadline = time.monotonic() + 30
        while not list(folder.glob("*.tracemalloc")) and time.monotonic() < deadline:
            time.sleep(0.1)
        (path,) = folder.glob("*.tracemalloc")
        assert path.name.startswith(f"{service.process.pid}-")
        snapshot = tracemalloc.Snapshot.load(str(path))
        traced = {frame.filename for trace in snapshot.traces for frame in trace.traceback}
        assert any("capcut_mate" in filename for filename in traced)
        assert snapshot.traceback_limit == 5
        # It keeps serving.
        assert post(f"{service.url}/v1/gen_video_status", {"draft_url": DRAFT})[0] == 200
    finally:
        assert service.stop() == 0


def test_an_untraced_service_survives_sigusr1_and_says_what_is_missing(database_url, tmp_path: Path):
    import signal
    import time

    service = ServiceProcess(command_env(database_url=database_url, data_dir=str(tmp_path / "data")),
                             tmp_path / "serve.log").wait_ready()
    try:
        service.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while "PYTHONTRACEMALLOC" not in service.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "allocation tracing is off" in service.log()
        assert post(f"{service.url}/v1/gen_video_status", {"draft_url": DRAFT})[0] in (200, 404)
        assert not (tmp_path / "data" / "heap-snapshots").exists()
    finally:
        assert service.stop() == 0
