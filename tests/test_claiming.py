"""Claiming with FOR UPDATE SKIP LOCKED: concurrency, order, requirements, and its index."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

from capcut_mate.database.store import QUERIES, AgentCredentials, Store
from capcut_mate.protocol.jobs import STAGES
from support.agents import store_agent


async def submit_many(store: Store, count: int, **fields) -> list[int]:
    ids = []
    for n in range(count):
        job, _ = await store.submit(f"https://drafts.example.com/get_draft?draft_id=bulk-{n}", **fields)
        ids.append(job.id)
    return ids


async def test_eight_concurrent_claimers_take_each_job_exactly_once(store: Store):
    ids = await submit_many(store, 500)
    claimed: list[tuple[str, int]] = []

    async def claimer(agent: AgentCredentials) -> None:
        while batch := await store.claim(agent, [], max_jobs=random.randint(1, 7), lease_seconds=30):
            claimed.extend((agent.name, job.id) for job in batch)
            await asyncio.sleep(0)

    await asyncio.gather(*[claimer(await store_agent(store, f"agent-{n}")) for n in range(8)])

    counts = Counter(job_id for _, job_id in claimed)
    assert sorted(counts) == ids
    assert set(counts.values()) == {1}
    assert len({name for name, _ in claimed}) > 1  # they really ran side by side
    # The history agrees: one claim per job, by the agent that got it.
    events = await store.pool.fetch(
        "SELECT job_id, agent FROM job_events WHERE from_status = 'pending' AND to_status = 'processing'"
    )
    assert sorted((e["agent"], e["job_id"]) for e in events) == sorted(claimed)


async def test_claims_go_by_priority_then_age(store: Store):
    plan = [0, 5, -3, 5, 0, 100, -100, 0]
    ids = []
    for n, priority in enumerate(plan):
        job, _ = await store.submit(f"https://drafts.example.com/get_draft?draft_id=order-{n}", priority=priority)
        ids.append((priority, job.id))
    order, agent = [], await store_agent(store, "agent")
    while batch := await store.claim(agent, [], max_jobs=3, lease_seconds=30):
        order += [job.id for job in batch]
    assert order == [job_id for _, job_id in sorted(ids, key=lambda p: (-p[0], p[1]))]


async def test_requirements_are_a_subset_of_the_agents_tags(store: Store):
    plain, = await submit_many(store, 1)
    gpu, _ = await store.submit("https://drafts.example.com/get_draft?draft_id=gpu", requirements=["gpu"])
    both, _ = await store.submit(
        "https://drafts.example.com/get_draft?draft_id=both", requirements=["gpu", "jianying-6"]
    )
    async def claimed_by(name: str, tags: list[str]) -> list[int]:
        return [j.id for j in await store.claim(await store_agent(store, name), tags, max_jobs=10, lease_seconds=30)]

    assert await claimed_by("tagless", []) == [plain]
    assert await claimed_by("jy", ["jianying-6"]) == []
    assert await claimed_by("gpu", ["gpu", "linux"]) == [gpu.id]
    assert await claimed_by("all", ["jianying-6", "gpu"]) == [both.id]


async def test_a_claim_starts_the_next_attempt_with_a_lease(store: Store):
    (job_id,) = await submit_many(store, 1)
    (claimed,) = await store.claim(await store_agent(store, "agent-a"), [], max_jobs=1, lease_seconds=30)
    job = await store.get_job(job_id)
    assert (claimed.attempt, job.attempt, job.status, job.progress, job.stage, job.agent) == (
        1, 1, "processing", 10, STAGES[10], "agent-a"
    )
    assert job.started_at is not None
    remaining = (claimed.lease_expires_at - job.updated_at).total_seconds()
    assert 29 <= remaining <= 31


async def test_retryable_failures_wait_out_their_backoff(store: Store):
    (job_id,) = await submit_many(store, 1)
    agent = await store_agent(store, "agent")
    (claimed,) = await store.claim(agent, [], max_jobs=1, lease_seconds=30)
    outcome = await store.fail(job_id, claimed.attempt, agent, error_message="network blip", retryable=True)
    assert outcome.status == "pending"
    job = await store.get_job(job_id)
    assert 9 <= (outcome.retry_at - job.updated_at).total_seconds() <= 11  # 10 s × 2^0
    assert job.run_after == outcome.retry_at
    assert await store.claim(agent, [], max_jobs=1, lease_seconds=30) == []


async def test_an_expired_lease_requeues_and_counts_the_attempt(store: Store):
    (job_id,) = await submit_many(store, 1)
    await store.claim(await store_agent(store, "vanished"), [], max_jobs=1, lease_seconds=1)
    await asyncio.sleep(1.1)
    (expired,) = await store.expire_leases()
    assert (expired.job_id, expired.status, expired.attempt) == (job_id, "pending", 1)
    (again,) = await store.claim(await store_agent(store, "other"), [], max_jobs=1, lease_seconds=30)
    assert (again.id, again.attempt) == (job_id, 2)


async def test_expired_leases_fail_once_attempts_are_used_up(store: Store):
    job, _ = await store.submit("https://drafts.example.com/get_draft?draft_id=lost", max_attempts=2)
    for attempt in (1, 2):
        (claimed,) = await store.claim(await store_agent(store, f"agent-{attempt}"), [], max_jobs=1, lease_seconds=1)
        assert claimed.attempt == attempt
        await asyncio.sleep(1.1)
        (expired,) = await store.expire_leases()
    assert expired.status == "failed"
    final = await store.get_job(job.id)
    assert (final.status, final.error_message, final.attempt) == ("failed", "导出代理失联", 2)


async def test_explain_shows_the_claim_uses_its_partial_index(store: Store):
    await submit_many(store, 300)
    # Plenty of finished history beside the queue, as in production.
    await store.pool.execute(
        """
        INSERT INTO video_jobs (draft_url, draft_key)
        SELECT 'https://drafts.example.com/h/' || n, 'history-' || n FROM generate_series(1, 20000) AS n;
        UPDATE video_jobs SET status = 'processing', attempt = 1, progress = 10, agent = 'old',
               lease_expires_at = now(), started_at = now() WHERE draft_key LIKE 'history-%';
        UPDATE video_jobs SET status = 'completed', progress = 100, video_url = 'https://v/x.mp4',
               lease_expires_at = NULL, completed_at = now() WHERE draft_key LIKE 'history-%';
        ANALYZE video_jobs;
        """,
        timeout=300,  # a bulk load, not a request: a busy machine may take a while
    )
    async with store.pool.acquire() as connection:
        plan = await connection.fetchval(
            "EXPLAIN (FORMAT JSON) " + QUERIES["claim_jobs"], "agent", [], 4, 30.0, STAGES[10]
        )
    indexes = set()

    def walk(node: dict) -> None:
        if "Index Name" in node:
            indexes.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(plan)[0]["Plan"])
    assert "video_jobs_claim_order" in indexes, plan
