"""Bad input and intruders: malformed bodies on every route, injection strings, tokens at
rest, and what the service refuses to do on a client's behalf."""

from __future__ import annotations

import hashlib
import re

import pytest
from aiohttp import web

from capcut_mate.server.app import ENDPOINTS
from capcut_mate.server.openapi import openapi_path
from support.agents import ProtocolAgent, register_agent, register_operator

INJECTIONS = [
    "'; DROP TABLE capcut_mate.video_jobs; --",
    "\" OR \"1\"=\"1",
    "1) OR (1=1",
    "$$; DELETE FROM capcut_mate.job_events; $$",
    "\\'; SELECT pg_sleep(5); --",
]
# (method, path, security, whether it reads a JSON body) of every route a body may go to.
ROUTES_WITH_BODIES = sorted(
    {(e.method, openapi_path(prefix, e.path), group.security, e.body is not None)
     for group in ENDPOINTS for prefix in group.prefixes for e in group.endpoints if e.method in ("POST", "PUT")},
    key=str,
)
MALFORMED = {
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "huge string": b'{"draft_url": "https://d.example.com/' + b"x" * 900_000 + b'"}',
    "invalid UTF-8": b'{"draft_url": "https://d.example.com/\xff\xfe", "attempt": 1}',
    "wrong types": b'{"draft_url": {"nested": [1, 2]}, "attempt": "one", "progress": [50], "wait": "forever"}',
    "huge numbers": b'{"attempt": 1e999, "progress": 99999999999999999999999, "priority": -1e308}',
    "form, not JSON": b"draft_url=https%3A%2F%2Fd.example.com%2Fx&attempt=1",
    "NUL everywhere": b'{"draft_url": "https://d.example.com/\\u0000", "error_message": "\\u0000", "stage": "\\u0000"}',
}


@pytest.fixture
async def callers(client, store):
    """Valid credentials for every kind of route, so the bodies get past authentication."""
    return {
        "agentToken": {"Authorization": f"Bearer {await register_agent(store, 'hostile')}"},
        "operatorToken": {"Authorization": f"Bearer {await register_operator(store, 'hostile')}"},
        None: {},
    }


@pytest.mark.parametrize("kind", MALFORMED)
@pytest.mark.parametrize(("method", "path", "security", "reads_json"), ROUTES_WITH_BODIES, ids=str)
async def test_malformed_bodies_never_get_a_5xx_and_refused_ones_change_nothing(
        client, store, callers, kind, method, path, security, reads_json):
    await client.post("/v1/gen_video", json={"draft_url": "https://d.example.com/get_draft?draft_id=victim"})
    before = await store.pool.fetch("SELECT * FROM video_jobs ORDER BY id")
    content_type = "application/x-www-form-urlencoded" if kind.startswith("form") else "application/json"
    response = await client.request(
        method, path.replace("{job_id}", "1") + ("?attempt=1" if method == "PUT" else ""),
        data=MALFORMED[kind], headers={**callers[security], "Content-Type": content_type},
    )
    assert response.status < 500, (response.status, await response.text())
    if response.status >= 400:  # refused: with the envelope, and nothing changed
        assert set(await response.json()) >= {"code", "message", "detail", "error"}
        assert await store.pool.fetch("SELECT * FROM video_jobs ORDER BY id") == before
    else:  # fine where the body is not JSON to read, or only holds fields a claim ignores
        assert not reads_json or path == "/agent/v1/claim", kind


@pytest.mark.parametrize("injection", INJECTIONS)
async def test_injection_strings_are_stored_and_returned_literally(client, store, injection):
    url = "https://d.example.com/get_draft?draft_id=" + injection.replace(" ", "%20")
    assert (await client.post("/v1/gen_video", json={"draft_url": url, "apiKey": injection})).status == 200
    status = await (await client.post("/v1/gen_video_status", json={"draft_url": url})).json()
    assert status["draft_url"] == url

    agent = ProtocolAgent(client, await register_agent(store, "literal"), "literal")
    (job,) = await agent.claim(hostname=injection, version=injection[:64])
    assert (await agent.progress(job, 30, stage=injection[:64], message=injection))[0] == 200
    assert (await agent.fail(job, injection))[0] == 200

    stored = await store.get_job(job["id"])
    assert stored.error_message == injection
    events = await store.job_events(job["id"])
    assert events[2]["message"] == injection and events[2]["stage"] == injection[:64]
    listed = await store.list_agents()
    assert [a.hostname for a in listed] == [injection]

    operator = {"Authorization": f"Bearer {await register_operator(store, 'reader')}"}
    found = await client.get("/api/v1/jobs", params={"agent": injection}, headers=operator)
    assert (found.status, (await found.json())["jobs"]) == (200, [])
    # The tables are all still there, with their rows.
    assert await store.pool.fetchval("SELECT count(*) FROM video_jobs") == 1
    assert await store.pool.fetchval("SELECT count(*) FROM job_events") == 4


async def test_tokens_are_kept_only_as_hashes(client, store):
    tokens = [await register_agent(store, "hashed-agent"), await register_operator(store, "hashed-operator")]
    rows = [*await store.pool.fetch("SELECT * FROM agents"), *await store.pool.fetch("SELECT * FROM operators")]
    dump = " ".join(str(dict(row)) for row in rows)
    for token in tokens:
        assert token not in dump and token.rsplit("_", 1)[1] not in dump  # neither it nor its secret
    hashes = {bytes(r["token_hash"]) for r in await store.pool.fetch("SELECT token_hash FROM agents UNION ALL "
                                                                      "SELECT token_hash FROM operators")}
    assert hashes == {hashlib.sha256(token.encode()).digest() for token in tokens}


async def test_the_service_never_fetches_a_draft_url(client, aiohttp_server, store):
    visits = []

    async def record(request: web.Request) -> web.Response:
        visits.append(request.path)
        return web.json_response({"code": 0, "files": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    draft_server = await aiohttp_server(app)
    url = str(draft_server.make_url("/get_draft?draft_id=never-fetched"))
    for path in ("/v1/gen_video", "/v1/gen_video_status", "/v1/cancel_video"):
        await client.post(path, json={"draft_url": url})
    assert visits == []  # only an export agent fetches drafts, and only when it claims one


async def test_uploaded_videos_get_names_no_caller_can_steer(client, store, settings):
    agent = ProtocolAgent(client, await register_agent(store, "namer"), "namer")
    await client.post("/v1/gen_video", json={"draft_url": "https://d.example.com/get_draft?draft_id=named"})
    (job,) = await agent.claim()
    status, body = await agent.call(
        "PUT", f"/jobs/{job['id']}/video?attempt=1&name=../../../etc/passwd&filename=..%2F..%2Fx",
        data=b"video bytes",
        headers={"Content-Disposition": 'attachment; filename="../../escape.mp4"'},
    )
    assert status == 200
    name = body["video_url"].rsplit("/", 1)[1]
    assert re.fullmatch(rf"{job['id']}-1-[0-9a-f]{{16}}\.mp4", name)
    assert [p.name for p in settings.videos_path.iterdir() if p.is_file()] == [name]
    for probe in ("/videos/..%2F..%2Fetc%2Fpasswd", "/videos/../../etc/passwd", "/videos/.incoming"):
        assert (await client.get(probe)).status == 404
