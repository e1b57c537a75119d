"""Client API keys and per-address rate limits."""

from __future__ import annotations

import asyncio

import pytest

from capcut_mate.protocol.client import CLIENT_PREFIXES
from capcut_mate.server.client_guard import ClientGuard

DRAFT = "https://drafts.example.com/get_draft?draft_id=guarded"


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
async def test_with_keys_configured_every_client_route_needs_one(service, prefix):
    client = await service(client_api_keys="k-one, k-two")
    calls = [
        ("POST", "/gen_video", {"draft_url": DRAFT}),
        ("POST", "/gen_video_status", {"draft_url": DRAFT}),
        ("POST", "/cancel_video", {"draft_url": DRAFT}),
        ("GET", "/gen_video_active_count", None),
    ]
    for method, path, body in calls:
        for wrong in ({}, {"apiKey": "nope"}, {"apiKey": ""}, {"apiKey": 42}):
            response = await client.request(method, prefix + path, json={**(body or {}), **wrong},
                                            headers={"Accept-Language": "en"})
            assert response.status == 401, (path, wrong)
            envelope = await response.json()
            assert (envelope["code"], envelope["message"]) == (1004, "Authentication failed")

    submitted = await client.post(prefix + "/gen_video", json={"draft_url": DRAFT, "apiKey": "k-two"})
    assert submitted.status == 200
    by_header = await client.post(prefix + "/gen_video_status", json={"draft_url": DRAFT},
                                  headers={"X-Api-Key": "k-one"})
    assert by_header.status == 200
    counted = await client.get(prefix + "/gen_video_active_count", headers={"X-Api-Key": "k-one"})
    assert (await counted.json())["count"] == 1


async def test_without_keys_configured_an_api_key_is_ignored(service):
    client = await service()
    response = await client.post("/v1/gen_video", json={"draft_url": DRAFT, "apiKey": "anything"})
    assert response.status == 200


async def test_agent_and_operations_routes_are_not_client_routes(service):
    client = await service(client_api_keys="k", client_rate_limit=1, client_rate_burst=1)
    for _ in range(3):  # neither the key nor the client rate limit applies here
        assert (await client.get("/healthz")).status == 200
        assert (await client.post("/agent/v1/claim", json={})).status == 401  # its own token instead


async def test_a_flood_from_one_address_gets_429_and_then_is_let_through(service, store):
    client = await service(client_rate_limit=10, client_rate_burst=5)
    statuses = [(await client.post("/v1/gen_video_status", json={"draft_url": DRAFT})).status for _ in range(5)]
    assert statuses == [404] * 5  # within the burst: answered
    refused = await client.post("/v1/gen_video", json={"draft_url": DRAFT})
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await refused.json())["error"]["code"] == "RATE_LIMITED"
    assert await store.find_job_for_draft(DRAFT) is None  # refused input changes nothing
    await asyncio.sleep(0.15)  # 10 a second: one more is allowed
    assert (await client.post("/v1/gen_video_status", json={"draft_url": DRAFT})).status == 404


async def test_forwarded_addresses_count_apart_only_when_trusted(service):
    trusting = await service(client_rate_limit=0.001, client_rate_burst=1, trust_forwarded_for=True)
    for address in ("203.0.113.1", "203.0.113.2"):
        response = await trusting.get("/v1/gen_video_active_count", headers={"X-Forwarded-For": address})
        assert response.status == 200
    # What the client wrote before the proxy's entry changes nothing: the proxy saw .2 again.
    spoofed = await trusting.get("/v1/gen_video_active_count", headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.2"})
    assert spoofed.status == 429
    wary = await service(client_rate_limit=0.001, client_rate_burst=1)
    first = await wary.get("/v1/gen_video_active_count", headers={"X-Forwarded-For": "203.0.113.1"})
    second = await wary.get("/v1/gen_video_active_count", headers={"X-Forwarded-For": "203.0.113.2"})
    assert (first.status, second.status) == (200, 429)


async def test_the_bucket_refills_at_the_rate(store):
    guard = ClientGuard([], rate=2, burst=3, trust_forwarded_for=False)
    assert [await guard.seconds_until_allowed(store, "a") for _ in range(3)] == [0, 0, 0]
    assert await guard.seconds_until_allowed(store, "a") == pytest.approx(0.5, abs=0.05)
    # Half a second later (the bucket's clock moved back instead of the test waiting):
    await store.pool.execute("UPDATE capcut_mate.client_rate_buckets SET tat = tat - interval '0.5 s'")
    assert await guard.seconds_until_allowed(store, "a") == 0
    assert await guard.seconds_until_allowed(store, "a") > 0
    assert await guard.seconds_until_allowed(store, "b") == 0  # each address has its own bucket
    off = ClientGuard([], rate=0, burst=1, trust_forwarded_for=False)
    assert await off.seconds_until_allowed(store, "a") == 0


async def test_the_rate_limit_holds_across_service_processes(service, store):
    """Two processes of one service (each its own app, as `serve --workers 2` runs them)
    share one bucket per address: together they let through the burst, not twice it."""
    first = await service(client_rate_limit=0.001, client_rate_burst=5)
    second = await service(client_rate_limit=0.001, client_rate_burst=5)
    statuses = [(await (first if n % 2 else second).get("/v1/gen_video_active_count")).status for n in range(12)]
    assert statuses.count(200) == 5 and statuses.count(429) == 7
