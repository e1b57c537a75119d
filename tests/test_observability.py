"""/metrics in the Prometheus format, /healthz and /readyz."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command

from capcut_mate.database.migrations import alembic_config, upgrade_to_head
from capcut_mate.server.app import create_app
from capcut_mate.settings import Settings
from support.agents import ProtocolAgent, register_agent
from support.metrics import scrape, value
from support.postgres import throwaway_database
from support.tcp_proxy import TcpProxy

DRAFT = "https://drafts.example.com/get_draft?draft_id=metrics"


async def test_metrics_move_when_jobs_move(client, store, settings):
    before = await scrape(client)
    assert value(before, "capcut_mate_jobs", status="pending") == 0

    agent = ProtocolAgent(client, await register_agent(store, "metered"), "metered")
    await client.post("/v1/gen_video", json={"draft_url": DRAFT})
    pending = await scrape(client)
    assert value(pending, "capcut_mate_jobs", status="pending") == 1
    assert value(pending, "capcut_mate_oldest_pending_job_age_seconds") >= 0

    (job,) = await agent.claim()
    for progress in (20, 50, 90):
        await agent.progress(job, progress)
        await asyncio.sleep(0.01)
    await agent.complete(job)
    done = await scrape(client)
    assert value(done, "capcut_mate_jobs", status="pending") == 0
    assert value(done, "capcut_mate_jobs", status="completed") == 1
    assert value(done, "capcut_mate_claim_wait_seconds_count") == 1
    assert value(done, "capcut_mate_stage_duration_seconds_count", stage="素材处理") == 1
    assert value(done, "capcut_mate_agents_online") == 1
    assert value(done, "capcut_mate_http_requests_total", route="/agent/v1/jobs/{job_id}/progress",
                 method="POST", code="200") == 3
    assert value(done, "capcut_mate_http_requests_total", route="/v1/gen_video", method="POST", code="200") == 1


async def test_retries_cancels_and_lease_expirations_are_counted(service, store):
    client = await service(lease_seconds=1, reaper_interval_seconds=0.1)
    agent = ProtocolAgent(client, await register_agent(store, "counted"), "counted")
    await client.post("/v1/gen_video", json={"draft_url": DRAFT + "-retry"})
    (job,) = await agent.claim()
    await agent.fail(job, "blip", retryable=True)
    await client.post("/v1/gen_video", json={"draft_url": DRAFT + "-cancel"})
    await client.post("/v1/cancel_video", json={"draft_url": DRAFT + "-cancel"})
    await client.post("/v1/gen_video", json={"draft_url": DRAFT + "-lost"})
    assert len(await agent.claim()) == 1
    await asyncio.sleep(1.5)
    samples = await scrape(client)
    assert value(samples, "capcut_mate_retries_total") == 1
    assert value(samples, "capcut_mate_cancels_total") == 1
    assert value(samples, "capcut_mate_lease_expirations_total", outcome="pending") == 1


async def test_health_and_readiness(client):
    healthy = await client.get("/healthz")
    assert (healthy.status, await healthy.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 200 and body["database"] == "reachable" and body["schema_revision"]


async def test_not_ready_while_the_database_is_down(aiohttp_client, settings, store, database_url):
    proxy = await TcpProxy(database_url).start()
    try:
        client = await aiohttp_client(create_app(settings, proxy.dsn()))
        assert (await client.get("/readyz")).status == 200
        await proxy.cut()
        down = await client.get("/readyz")
        assert (down.status, (await down.json())["database"]) == (503, "unreachable")
        assert (await client.get("/healthz")).status == 200  # the process itself is fine
        assert (await client.get("/metrics")).status == 200  # and still has its own counters
    finally:
        await proxy.close()


@pytest.fixture
def database_behind(postgres_url):
    """A database one migration short of head."""
    with throwaway_database(postgres_url, prefix="capcut_mate_behind") as dsn:
        command.upgrade(alembic_config(dsn), "0002")
        yield dsn


async def test_not_ready_until_migrated(aiohttp_client, database_behind, tmp_path):
    client = await aiohttp_client(create_app(Settings(data_dir=tmp_path), database_behind))
    behind = await client.get("/readyz")
    assert (behind.status, (await behind.json())["schema_revision"]) == (503, "0002")
    await asyncio.to_thread(upgrade_to_head, database_behind)
    assert (await client.get("/readyz")).status == 200
