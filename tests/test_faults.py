"""Faults, injected into real processes: killed agents and services, a restarted or cut-off
database, killed backends, a session sitting on locks, an agent cut off from the service.
Every scenario ends with the invariant checker (migration 0004): nothing lost, nothing run
twice at once, every completion the final attempt's, no write from a fenced-out attempt."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import asyncpg
import pytest

from capcut_mate.database.migrations import upgrade_to_head
from capcut_mate.database.store import Store
from support.farm import Farm
from support.postgres import OwnCluster, with_database
from support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

DOCUMENTED_503 = {"code": 2032, "error": {"code": "VIDEO_STATUS_QUERY_FAILED"}}


def draft(name: str) -> str:
    return f"https://drafts.example.com/openapi/capcut-mate/v1/get_draft?draft_id={name}"


def completed(body: dict) -> bool:
    return body["status"] == "completed"


async def no_violations(store: Store, submitted: list[str], *, lease_grace_seconds: float = 10) -> None:
    violations = await store.invariant_violations(submitted, lease_grace_seconds=lease_grace_seconds)
    assert violations == [], violations


def kill_export(farm: Farm, job_id: int, attempt: int) -> None:
    """A dead machine takes its export process with it."""
    if pid := farm.export_pid(job_id, attempt):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("stage", [10, 20, 30, 50, 70, 90])
async def test_an_agent_killed_at_any_stage_loses_nothing(farm: Farm, store, stage):
    service = farm.start_service(lease_seconds="2")
    doomed = await farm.start_agent("doomed", service, stage_seconds=0.8)
    url = draft(f"killed-at-{stage}")
    job_id = (await farm.submit(service, url))["job_id"]
    await farm.wait_for(service, url, lambda b: b["status"] == "processing" and b["progress"] >= stage)
    doomed.kill()
    kill_export(farm, job_id, 1)

    await farm.start_agent("rescuer", service)
    final = await farm.wait_for(service, url, completed, timeout=30)
    job = await store.get_job(final["job_id"])
    assert (job.id, job.attempt, job.agent) == (job_id, 2, "rescuer")
    await no_violations(store, [url])


async def test_a_killed_service_process_is_taken_over_by_another(farm: Farm, store, tmp_path):
    # Two processes of one service on one database, as behind a load balancer (whose
    # address the public URL stands for): a shared video folder, and agents that know both.
    first = farm.start_service(lease_seconds="3", video_dir=str(tmp_path / "videos"))
    second = farm.start_service(lease_seconds="3", video_dir=str(tmp_path / "videos"), public_url=first.url)
    servers = f"{first.url},{second.url}"
    for n in range(3):
        await farm.start_agent(f"agent-{n}", first, stage_seconds=0.3, server=servers)
    urls = [draft(f"takeover-{n}") for n in range(9)]
    for url in urls[:6]:
        await farm.submit(first, url)
    await farm.wait_for(first, urls[0], lambda b: b["progress"] >= 30)

    first.kill()
    for url in urls[6:]:
        await farm.submit(second, url)
    for url in urls:
        final = await farm.wait_for(second, url, completed, timeout=60)
        assert final["video_url"].startswith(first.url)  # the shared public address
    await no_violations(store, urls)


@pytest.fixture
async def own_database(embedded_data_dir):
    """A migrated database on a PostgreSQL cluster this test may stop and start (its data
    outside pytest's temporary folders, as embedded_data_dir says why)."""
    cluster = await asyncio.to_thread(OwnCluster, embedded_data_dir / "cluster")
    try:
        admin = await asyncpg.connect(cluster.maintenance_url)
        await admin.execute("CREATE DATABASE restartable")
        await admin.close()
        dsn = with_database(cluster.maintenance_url, "restartable")
        await asyncio.to_thread(upgrade_to_head, dsn)
        yield cluster, dsn
    finally:
        await asyncio.to_thread(cluster.close)


async def test_a_postgres_restart_mid_run_loses_nothing(own_database, tmp_path):
    cluster, dsn = own_database
    store = await Store.open(dsn, pool_size=2)
    farm = Farm(tmp_path, dsn, store)
    try:
        service = farm.start_service(lease_seconds="10")
        for n in range(2):
            await farm.start_agent(f"agent-{n}", service, stage_seconds=0.4)
        urls = [draft(f"restart-{n}") for n in range(4)]
        for url in urls:
            await farm.submit(service, url)
        await farm.wait_for(service, urls[0], lambda b: b["progress"] >= 20)

        await asyncio.to_thread(cluster.stop)
        async with farm.http.post(f"{service.url}/v1/gen_video_status", json={"draft_url": urls[0]}) as down:
            assert down.status == 503
            body = await down.json()
            assert (body["code"], body["error"]["code"]) == (2032, "VIDEO_STATUS_QUERY_FAILED")
        await asyncio.sleep(2)
        await asyncio.to_thread(cluster.start)

        recovered_at = time.monotonic()
        await farm.wait_for(service, urls[0], lambda b: True, timeout=15)  # answers again
        assert time.monotonic() - recovered_at < 10
        late = draft("after-restart")
        await farm.submit(service, late)
        for url in [*urls, late]:
            await farm.wait_for(service, url, completed, timeout=60)
        await store.close()
        store = await Store.open(dsn, pool_size=2)
        await no_violations(store, [*urls, late])
    finally:
        await farm.close()
        await store.close()


async def test_killed_backends_including_the_listener_are_replaced(farm: Farm, store):
    service = farm.start_service()
    await farm.start_agent("steady", service, stage_seconds=0.2)
    urls = [draft(f"terminated-{n}") for n in range(4)]
    await farm.submit(service, urls[0])
    await farm.wait_for(service, urls[0], lambda b: b["progress"] >= 20)

    for _ in range(100):  # the LISTEN connection is up
        if await store.pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'capcut-mate-listener'"
            " AND datname = current_database()"
        ):
            break
        await asyncio.sleep(0.05)
    killed = await store.pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name IN ('capcut-mate', 'capcut-mate-listener') AND datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    assert killed >= 2  # the service's pool and its LISTEN connection
    await farm.wait_for(service, urls[0], completed, timeout=30)
    for _ in range(100):  # the LISTEN connection is back, not just the fallback poll
        if await store.pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'capcut-mate-listener'"
            " AND datname = current_database()"
        ):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the LISTEN connection did not come back")
    # The agent's claim is long-polling: a submit must reach it as fast as a wake-up does.
    started = time.monotonic()
    await farm.submit(service, urls[1])
    await farm.wait_for(service, urls[1], lambda b: b["status"] != "pending", timeout=10)
    assert time.monotonic() - started < 3  # woken, not a lease later
    for url in urls[2:]:
        await farm.submit(service, url)
    for url in urls:
        await farm.wait_for(service, url, completed, timeout=30)
    await no_violations(store, urls)


async def test_a_session_sitting_on_locks_stops_nothing_else(farm: Farm, store, database_url):
    service = farm.start_service()
    locked_url, other_url = draft("locked"), draft("not-locked")
    locked = await farm.submit(service, locked_url)
    intruder = await asyncpg.connect(database_url)
    try:
        # Someone opened a transaction in psql, locked a pending job's row, and went to lunch.
        await intruder.execute("BEGIN")
        await intruder.execute("SELECT 1 FROM capcut_mate.video_jobs WHERE id = $1 FOR UPDATE", locked["job_id"])

        started = time.monotonic()
        assert (await farm.status(service, locked_url))["status"] == "pending"  # reads never wait
        await farm.submit(service, other_url)
        await farm.start_agent("worker", service)
        await farm.wait_for(service, other_url, completed, timeout=20)  # the claim skipped the locked row
        assert (await farm.status(service, locked_url))["status"] == "pending"
        async with farm.http.post(f"{service.url}/v1/cancel_video", json={"draft_url": locked_url}) as blocked:
            assert blocked.status == 503  # waits out lock_timeout (2 s), then says so
        assert time.monotonic() - started < 20
    finally:
        await intruder.close()  # the lunch is over: the lock goes
    await farm.wait_for(service, locked_url, completed, timeout=20)
    await no_violations(store, [locked_url, other_url])


async def test_an_agent_cut_off_while_its_lease_runs_out_is_fenced_out(farm: Farm, store):
    service = farm.start_service(lease_seconds="3")
    proxy = await TcpProxy(service.url).start()
    try:
        cut_off = await farm.start_agent("cut-off", service, stage_seconds=1.0, server=proxy.url())
        url = draft("cut-off")
        job_id = (await farm.submit(service, url))["job_id"]
        await farm.wait_for(service, url, lambda b: b["status"] == "processing")

        proxy.stall()  # its requests go out and nothing comes back: they time out
        await farm.wait_for(service, url, lambda b: b["status"] == "pending", timeout=15)
        await farm.start_agent("replacement", service)
        final = await farm.wait_for(service, url, completed, timeout=30)
        assert (await store.get_job(final["job_id"])).agent == "replacement"

        await proxy.restore()  # back on the network, with its result from the lost attempt
        await asyncio.sleep(8)
        assert "abandoned" in cut_off.log() or "lease lost" in cut_off.log()
        job = await store.get_job(job_id)
        assert (job.status, job.attempt, job.agent) == ("completed", 2, "replacement")
        await no_violations(store, [url])
    finally:
        await proxy.close()
