"""Every row of CONTRACT.md's error table, in both languages, under both prefixes."""

from __future__ import annotations

import asyncio

import pytest

from capcut_mate.database.migrations import upgrade_to_head
from capcut_mate.protocol.client import CLIENT_PREFIXES
from capcut_mate.server.app import create_app
from capcut_mate.settings import Settings
from support.postgres import throwaway_database
from support.tcp_proxy import TcpProxy

# CONTRACT.md, "Errors", written out again here so that the catalogue is checked against
# the document rather than against itself: (HTTP, code, error.code, zh, en).
TABLE = {
    "required": (400, 1001, "VALIDATION_ERROR", "draft_url是必填项", "draft_url is required"),
    "invalid": (400, 2001, "VALIDATION_ERROR", "无效的草稿URL", "Invalid draft URL"),
    "not_an_object": (400, 1001, "VALIDATION_ERROR", "参数校验失败", "Parameter validation failed"),
    "not_found": (404, 2031, "VIDEO_TASK_NOT_FOUND", "视频生成任务未找到", "Video generation task not found"),
    "query_failed": (500, 2032, "VIDEO_STATUS_QUERY_FAILED", "视频任务状态查询失败", "Video task status query failed"),
    "database_down": (503, 2032, "VIDEO_STATUS_QUERY_FAILED", "视频任务状态查询失败", "Video task status query failed"),
}
LANGUAGES = {
    "zh-default": ({}, 3),
    "zh-explicit": ({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, 3),
    "other-is-zh": ({"Accept-Language": "fr-FR"}, 3),
    "en": ({"Accept-Language": "en"}, 4),
    "en-US-first": ({"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"}, 4),
}
DRAFT_ROUTES = ("gen_video", "gen_video_status", "cancel_video")

REQUIRED_BODIES = [{}, {"draft_url": None}, {"draft_url": 42}, {"draft_url": ["x"]}, {"draft_url": ""}]
INVALID_URLS = [
    "ftp://drafts.example.com/d",
    "not a url",
    "/openapi/capcut-mate/v1/get_draft?draft_id=1",
    "http://",
    "https:///path-only",
    "http://exa mple.com/d",
    "javascript:alert(1)",
    "https://drafts.example.com/get_draft?draft_id=" + "9" * 2010,  # over 2048 characters
    "https://drafts.example.com/get_draft?draft_id=%00",  # a draft key PostgreSQL could not store
    "https://drafts.example.com/get_draft?draft_id=%ff%fe",  # a draft_id that is not UTF-8: no key
]
NOT_OBJECT_BODIES = [b"[1, 2]", b'"https://drafts.example.com/d"', b"null", b"42", b"{not json", b"", b"\xff\xfe{}"]


def assert_envelope(status: int, body: dict, row: str, language_index: int, *, errors_as_200=False):
    http, code, error_code, *messages = TABLE[row]
    message = messages[language_index - 3]
    assert status == (200 if errors_as_200 else http)
    assert body["code"] == code
    assert body["message"] == message
    assert body["detail"] == message
    assert body["error"]["code"] == error_code
    assert body["error"]["message"] == message
    assert isinstance(body["error"]["details"], str) and body["error"]["details"]


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("route", DRAFT_ROUTES)
@pytest.mark.parametrize("body", REQUIRED_BODIES, ids=repr)
async def test_draft_url_required(client, store, prefix, language, route, body):
    headers, index = LANGUAGES[language]
    response = await client.post(f"{prefix}/{route}", json=body, headers=headers)
    assert_envelope(response.status, await response.json(), "required", index)
    assert await store.count_active_jobs() == 0


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("route", DRAFT_ROUTES)
@pytest.mark.parametrize("url", INVALID_URLS, ids=lambda u: u[:40])
async def test_draft_url_invalid(client, store, prefix, language, route, url):
    headers, index = LANGUAGES[language]
    response = await client.post(f"{prefix}/{route}", json={"draft_url": url}, headers=headers)
    assert_envelope(response.status, await response.json(), "invalid", index)
    assert await store.count_active_jobs() == 0


async def test_2048_characters_is_still_a_valid_url(client):
    url = "https://drafts.example.com/get_draft?draft_id="
    url += "7" * (2048 - len(url))
    response = await client.post("/v1/gen_video", json={"draft_url": url})
    assert response.status == 200


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("route", DRAFT_ROUTES)
@pytest.mark.parametrize("raw", NOT_OBJECT_BODIES, ids=repr)
async def test_body_not_a_json_object(client, store, prefix, language, route, raw):
    headers, index = LANGUAGES[language]
    response = await client.post(
        f"{prefix}/{route}", data=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert_envelope(response.status, await response.json(), "not_an_object", index)
    assert await store.count_active_jobs() == 0


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("route", ["gen_video_status", "cancel_video"])
async def test_no_job_for_that_draft(client, prefix, language, route):
    headers, index = LANGUAGES[language]
    response = await client.post(
        f"{prefix}/{route}", json={"draft_url": "https://drafts.example.com/get_draft?draft_id=never"},
        headers=headers,
    )
    body = await response.json()
    assert_envelope(response.status, body, "not_found", index)
    if index == 3:
        assert body["error"]["details"] == "指定的草稿URL没有对应的视频生成任务"


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
async def test_errors_as_http_200_setting(aiohttp_client, settings, store, prefix):
    app = create_app(settings.model_copy(update={"errors_as_http_200": True}), settings.database_url)
    client = await aiohttp_client(app)
    response = await client.post(f"{prefix}/gen_video_status", json={"draft_url": "https://d.example.com/none"})
    assert_envelope(response.status, await response.json(), "not_found", 3, errors_as_200=True)


# --- the database's own failures ------------------------------------------------------


@pytest.fixture
def broken_database_url(postgres_url):
    """A migrated database of its own, which the test may break."""
    with throwaway_database(postgres_url, prefix="capcut_mate_broken") as dsn:
        upgrade_to_head(dsn)
        yield dsn


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
@pytest.mark.parametrize("language", LANGUAGES)
async def test_query_failed_is_500_without_internals(aiohttp_client, tmp_path, broken_database_url, prefix, language):
    import asyncpg

    client = await aiohttp_client(create_app(Settings(data_dir=tmp_path), broken_database_url))
    connection = await asyncpg.connect(broken_database_url)
    await connection.execute("ALTER TABLE capcut_mate.video_jobs RENAME TO video_jobs_gone")
    await connection.close()
    headers, index = LANGUAGES[language]
    response = await client.post(
        f"{prefix}/gen_video_status", json={"draft_url": "https://d.example.com/x"}, headers=headers
    )
    text = await response.text()
    assert_envelope(response.status, await response.json(), "query_failed", index)
    for leak in ("video_jobs", "SELECT", "Traceback", "asyncpg", "relation"):
        assert leak not in text


@pytest.fixture
async def proxy(database_url):
    proxy = await TcpProxy(database_url).start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def proxied_client(aiohttp_client, settings, store, proxy):
    """The service reaching its database through a proxy the test can cut."""
    fast = settings.model_copy(update={"db_statement_timeout_ms": 2000})
    return await aiohttp_client(create_app(fast, proxy.dsn()))


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("route", ["gen_video", "gen_video_status", "cancel_video", "gen_video_active_count"])
async def test_database_down_is_503(proxied_client, proxy, prefix, language, route):
    headers, index = LANGUAGES[language]
    await proxy.cut()
    if route == "gen_video_active_count":
        response = await proxied_client.get(f"{prefix}/{route}", headers=headers)
    else:
        response = await proxied_client.post(
            f"{prefix}/{route}", json={"draft_url": "https://d.example.com/get_draft?draft_id=1"}, headers=headers
        )
    assert_envelope(response.status, await response.json(), "database_down", index)
    assert response.headers["Retry-After"]


async def test_service_recovers_by_itself_when_the_database_returns(proxied_client, proxy, store):
    draft = "https://d.example.com/get_draft?draft_id=recovers"
    assert (await proxied_client.post("/v1/gen_video", json={"draft_url": draft})).status == 200

    await proxy.cut()
    for _ in range(3):
        down = await proxied_client.post("/v1/gen_video_status", json={"draft_url": draft})
        assert down.status == 503

    await proxy.restore()
    statuses = []
    for _ in range(50):
        response = await proxied_client.post("/v1/gen_video_status", json={"draft_url": draft})
        statuses.append(response.status)
        if response.status == 200:
            break
        await asyncio.sleep(0.1)
    assert statuses[-1] == 200, statuses
    assert (await response.json())["status"] == "pending"
    # And it stays up: writes work again too.
    again = await proxied_client.post("/v1/gen_video", json={"draft_url": draft + "-2"})
    assert again.status == 200
