"""The operations API under /api/v1: operator tokens, jobs, agents, the queue, reports."""

from __future__ import annotations

import asyncio

import pytest

from capcut_mate.protocol.jobs import JobStatus
from support.agents import ProtocolAgent, register_agent, register_operator
from support.drive import drive


def draft(name: str) -> str:
    return f"https://drafts.example.com/get_draft?draft_id={name}"


@pytest.fixture
async def ops(client, store):
    token = await register_operator(store)

    async def call(method: str, path: str, **kwargs):
        response = await client.request(method, "/api/v1" + path, headers={"Authorization": f"Bearer {token}"},
                                        **kwargs)
        return response.status, await response.json()

    return call


ROUTES = [("GET", "/jobs"), ("GET", "/jobs/1"), ("POST", "/jobs/1/cancel"), ("POST", "/jobs/1/retry"),
          ("GET", "/agents"), ("GET", "/queue"), ("GET", "/report")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_operations_need_an_operator_token(client, store, method, path):
    for headers in ({}, {"Authorization": "Bearer cmop_000000000000_nope"}, {"Authorization": "Token x"}):
        response = await client.request(method, "/api/v1" + path, headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "UNAUTHORIZED"
    agent_token = await register_agent(store, "not-an-operator")
    response = await client.request(method, "/api/v1" + path, headers={"Authorization": f"Bearer {agent_token}"})
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "FORBIDDEN"


async def test_a_revoked_operator_is_refused(client, store):
    token = await register_operator(store, "leaver")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/queue", headers=headers)).status == 200
    assert await store.revoke_operator("leaver")
    assert (await client.get("/api/v1/queue", headers=headers)).status == 401


async def test_jobs_filter_by_status_agent_draft_and_time(ops, store):
    first = await drive(store, draft("one"), JobStatus.COMPLETED)
    await asyncio.sleep(0.01)
    middle = await store.pool.fetchval("SELECT now()")
    second = await drive(store, draft("two"), JobStatus.FAILED)
    third = await drive(store, draft("three"), JobStatus.PENDING)

    async def ids(query: str) -> list[int]:
        status, body = await ops("GET", "/jobs" + query)
        assert status == 200, body
        return [job["id"] for job in body["jobs"]]

    assert await ids("") == [third.id, second.id, first.id]
    assert await ids("?status=failed") == [second.id]
    assert await ids("?agent=test-agent") == [second.id, first.id]
    assert await ids("?draft=two") == [second.id]
    assert await ids("?draft=" + draft("one").replace("?", "%3F").replace("=", "%3D")) == [first.id]
    stamp = middle.isoformat().replace("+00:00", "Z")
    assert await ids(f"?created_from={stamp}") == [third.id, second.id]
    assert await ids(f"?created_before={stamp}") == [first.id]


async def test_jobs_come_in_cursor_pages(ops, store):
    made = [(await store.submit(draft(f"page-{n}")))[0].id for n in range(5)]
    seen, cursor = [], None
    while True:
        status, body = await ops("GET", "/jobs?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200 and len(body["jobs"]) <= 2
        seen += [job["id"] for job in body["jobs"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)


@pytest.mark.parametrize(
    "query", ["?status=done", "?limit=0", "?limit=201", "?cursor=abc", "?created_from=yesterday", "?colour=red"]
)
async def test_bad_job_queries_are_400(ops, query):
    status, body = await ops("GET", "/jobs" + query)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


async def test_one_job_with_its_timeline(ops, store):
    job = await drive(store, draft("timeline"), JobStatus.COMPLETED)
    status, body = await ops("GET", f"/jobs/{job.id}")
    assert status == 200
    assert (body["job"]["id"], body["job"]["status"], body["job"]["video_url"]) == (
        job.id, "completed", "https://videos.example.com/out.mp4"
    )
    assert [(e["from_status"], e["to_status"]) for e in body["events"]] == [
        (None, "pending"), ("pending", "processing"), ("processing", "completed")
    ]
    assert (await ops("GET", "/jobs/999999"))[0] == 404


async def test_cancel_by_id(ops, store):
    pending = await drive(store, draft("c1"), JobStatus.PENDING)
    running = await drive(store, draft("c2"), JobStatus.PROCESSING)
    done = await drive(store, draft("c3"), JobStatus.COMPLETED)
    status, body = await ops("POST", f"/jobs/{pending.id}/cancel")
    assert (status, body["status"], body["error_message"]) == (200, "failed", "任务已取消")
    status, body = await ops("POST", f"/jobs/{running.id}/cancel")
    assert (status, body["status"], body["cancel_requested"]) == (200, "processing", True)
    status, body = await ops("POST", f"/jobs/{done.id}/cancel")
    assert (status, body["error"]["code"]) == (409, "VIDEO_TASK_NOT_CANCELLABLE")
    assert (await ops("POST", "/jobs/424242/cancel"))[0] == 404


async def test_retry_makes_a_new_job_for_a_failed_one(ops, store):
    failed = await drive(store, draft("again"), JobStatus.FAILED)
    status, body = await ops("POST", f"/jobs/{failed.id}/retry")
    assert status == 200 and body["created"] is True
    new = body["job"]
    assert new["id"] != failed.id and new["status"] == "pending" and new["attempt"] == 0
    assert (new["draft_url"], new["requirements"]) == (failed.draft_url, failed.requirements)
    # Retrying again while that job is active returns it, and makes nothing new.
    status, body = await ops("POST", f"/jobs/{failed.id}/retry")
    assert (status, body["created"], body["job"]["id"]) == (200, False, new["id"])
    status, body = await ops("POST", f"/jobs/{new['id']}/retry")
    assert (status, body["error"]["code"]) == (409, "JOB_NOT_RETRYABLE")


async def test_agents_and_queue(client, ops, store):
    busy = ProtocolAgent(client, await register_agent(store, "busy-one"), "busy-one")
    idle = ProtocolAgent(client, await register_agent(store, "idle-one"), "idle-one")
    await register_agent(store, "never-seen")
    await register_agent(store, "gone")
    await store.revoke_agent("gone")
    await store.submit(draft("q1"))
    await store.submit(draft("q2"), requirements=["gpu"])
    await store.submit(draft("q3"), requirements=["gpu"])
    assert len(await busy.claim()) == 1
    assert len(await idle.claim(wait=0)) == 0

    status, body = await ops("GET", "/agents")
    assert status == 200
    assert {a["name"]: a["state"] for a in body["agents"]} == {
        "busy-one": "busy", "idle-one": "idle", "never-seen": "offline", "gone": "revoked"
    }
    status, queue = await ops("GET", "/queue")
    assert status == 200
    assert (queue["pending"], queue["processing"], queue["agents_online"], queue["agents_busy"]) == (2, 1, 2, 1)
    assert queue["oldest_pending_seconds"] >= 0


async def test_report_over_the_api(ops, store):
    await drive(store, draft("r1"), JobStatus.COMPLETED)
    await drive(store, draft("r2"), JobStatus.FAILED, error_message="导出草稿失败: 坏了")
    status, body = await ops("GET", "/report?since=1h")
    assert status == 200
    assert {row["status"]: row["jobs"] for row in body["jobs"]} == {"completed": 1, "failed": 1}
    assert [(f["error_message"], f["jobs"]) for f in body["failures"]] == [("导出草稿失败: 坏了", 1)]
    for bad in ("forever", "99999999999999w", "-1h", "1.5h"):
        assert (await ops("GET", f"/report?since={bad}"))[0] == 400, bad
    # Further back than ten years reads as ten years (documented with the parameter), not as an error.
    status, decade = await ops("GET", "/report?since=100000000d")
    assert status == 200 and {row["status"]: row["jobs"] for row in decade["jobs"]} == {"completed": 1, "failed": 1}
