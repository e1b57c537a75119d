"""The S3 video store, against a real S3 API (moto's server, in a process of its own):
uploads streamed into the bucket, URLs that download, nothing left behind, readiness, and
two service hosts sharing one bucket."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from botocore.exceptions import ClientError

from capcut_mate.agent import service_client
from capcut_mate.agent.service_client import ServiceClient
from capcut_mate.server.app_keys import VIDEO_STORE
from capcut_mate.server.maintenance import maintain_once
from capcut_mate.server.video_store.s3 import PART_BYTES
from capcut_mate.settings import Settings
from support.agents import ProtocolAgent, register_agent, until
from support.clients import draft_status, submit_draft
from support.drive import finished_days_ago
from support.farm import Farm
from support.metrics import scrape, value
from support.processes import free_port
from support.s3 import Bucket

DRAFT = "https://drafts.example.com/get_draft?draft_id=s3"
# Three parts: two of PART_BYTES and a short last one, bytes that tell a misplaced part.
BIG_VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * ((2 * PART_BYTES + 123_457) // 256)


async def submit(client, draft_url: str = DRAFT) -> dict:
    return await submit_draft(client, draft_url)


async def status_of(client, draft_url: str = DRAFT) -> dict:
    return await draft_status(client, draft_url)


async def download(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.read()


@pytest.fixture
async def s3_service(service, bucket: Bucket):
    async def start(**changes):
        return await service(**{**bucket.settings(), **changes})
    return start


async def claimed(client, store, name: str, draft_url: str = DRAFT) -> tuple[ProtocolAgent, dict]:
    agent = ProtocolAgent(client, await register_agent(store, name), name)
    await submit(client, draft_url)
    (job,) = await agent.claim()
    return agent, job


async def test_a_video_streams_into_the_bucket_and_its_url_downloads(s3_service, store, bucket):
    client = await s3_service()
    agent, job = await claimed(client, store, "uploader")
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=BIG_VIDEO)
    assert status == 200, body
    url = body["video_url"]
    name = url.split("?", 1)[0].rsplit("/", 1)[1]
    assert re.fullmatch(rf"{job['id']}-1-[0-9a-f]{{16}}\.mp4", name)
    assert await bucket.keys() == [f"videos/{name}"]
    assert await bucket.unfinished_uploads() == []
    assert "X-Amz-Signature=" in url and url.startswith(bucket.endpoint)  # presigned, straight to the bucket

    assert await agent.complete(job, url) == (200, {"status": "completed"})
    final = await status_of(client)
    assert final["status"] == "completed" and final["video_url"] == url
    assert await download(url) == (200, BIG_VIDEO)

    # The service's own /videos/<name> sends a client to a freshly signed URL of the object.
    redirect = await client.get(f"/videos/{name}", allow_redirects=False)
    assert redirect.status == 302 and "X-Amz-Signature=" in redirect.headers["Location"]
    assert await download(redirect.headers["Location"]) == (200, BIG_VIDEO)

    head = await client.head(f"/videos/{name}", allow_redirects=False)
    assert head.status == 200 and head.headers["Content-Length"] == str(len(BIG_VIDEO))
    assert (await client.get(f"/videos/{job['id']}-1-{'0' * 16}.mp4", allow_redirects=False)).status == 404

    metrics = await scrape(client)
    assert value(metrics, "capcut_mate_video_uploads_total", store="s3", via="service", outcome="stored") == 1
    assert value(metrics, "capcut_mate_video_upload_bytes_total", store="s3", via="service") == len(BIG_VIDEO)


async def test_a_public_base_url_makes_plain_video_urls(s3_service, store, bucket):
    client = await s3_service(s3_public_url="https://cdn.example.com/media/")
    agent, job = await claimed(client, store, "public")
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"a small video")
    assert status == 200, body
    (key,) = await bucket.keys()
    assert body["video_url"] == f"https://cdn.example.com/media/{key}"
    assert await bucket.read(key) == b"a small video"


async def test_an_upload_cut_off_halfway_leaves_no_parts_behind(s3_service, store, bucket):
    client = await s3_service()
    agent, job = await claimed(client, store, "cut-off")
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((f"PUT /agent/v1/jobs/{job['id']}/video?attempt=1 HTTP/1.1\r\nHost: {host}\r\n"
                  f"Authorization: {agent.headers['Authorization']}\r\n"
                  f"Content-Length: {len(BIG_VIDEO)}\r\n\r\n").encode() + BIG_VIDEO[:PART_BYTES + 1000])
    await writer.drain()
    begun = await until(lambda: _uploads_with_parts(bucket), 15, "a multipart upload with a part")
    assert begun[0]["key"].startswith(f"videos/{job['id']}-1-")
    writer.transport.abort()  # the agent hangs up mid-body
    await until(lambda: _nothing_unfinished(bucket), 15, "the upload aborted")
    assert await bucket.keys() == []
    assert (await status_of(client))["status"] == "processing"
    metrics = await scrape(client)
    assert value(metrics, "capcut_mate_video_uploads_total", store="s3", via="service", outcome="failed") == 1


async def _uploads_with_parts(bucket: Bucket):
    uploads = await bucket.unfinished_uploads()
    return uploads if uploads and uploads[0]["parts"] >= 1 else None


async def _nothing_unfinished(bucket: Bucket):
    return await bucket.unfinished_uploads() == []


async def test_a_video_over_the_size_cap_is_refused_and_leaves_nothing(s3_service, store, bucket):
    client = await s3_service(max_video_bytes=PART_BYTES + 10)
    agent, job = await claimed(client, store, "too-big")
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=BIG_VIDEO)
    assert status == 413 and body["error"]["code"] == "PAYLOAD_TOO_LARGE", body
    assert await bucket.keys() == [] and await bucket.unfinished_uploads() == []


async def test_a_video_of_an_attempt_that_is_over_is_deleted(s3_service, store, bucket):
    client = await s3_service()
    # Cancelled while uploading: complete answers that the cancel won, and the video goes.
    agent, job = await claimed(client, store, "cancelled")
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"a cancelled video")
    assert status == 200
    assert (await client.post("/v1/cancel_video", json={"draft_url": DRAFT})).status == 200
    assert await agent.complete(job, body["video_url"]) == (200, {"status": "failed"})
    assert await bucket.keys() == []

    # Lease lost before complete: 409, and the video goes.
    other = "https://drafts.example.com/get_draft?draft_id=s3-lost"
    agent, job = await claimed(client, store, "lost", other)
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"a late video")
    assert status == 200
    await store.pool.execute("UPDATE capcut_mate.video_jobs SET lease_expires_at = now() - interval '1 second'"
                             " WHERE id = $1", job["id"])
    await store.expire_leases()
    status, answer = await agent.complete(job, body["video_url"])
    assert status == 409 and answer["error"]["code"] == "LEASE_LOST", answer
    assert await bucket.keys() == []


async def test_another_agent_cannot_remove_a_finished_jobs_video(s3_service, store, bucket):
    client = await s3_service()
    agent, job = await claimed(client, store, "owner")
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"the video")
    assert await agent.complete(job, body["video_url"]) == (200, {"status": "completed"})
    intruder = ProtocolAgent(client, await register_agent(store, "intruder"), "intruder")
    status, answer = await intruder.complete(job, body["video_url"])
    assert status == 409 and answer["error"]["code"] == "LEASE_LOST"
    assert await download((await status_of(client))["video_url"]) == (200, b"the video")


async def test_retention_deletes_the_objects_of_pruned_jobs(s3_service, store, bucket):
    client = await s3_service()
    agent, job = await claimed(client, store, "pruned")
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"an old video")
    assert status == 200
    assert await agent.complete(job, body["video_url"]) == (200, {"status": "completed"})
    kept_agent, kept_job = await claimed(client, store, "kept", "https://drafts.example.com/get_draft?draft_id=kept")
    status, kept = await kept_agent.call("PUT", f"/jobs/{kept_job['id']}/video?attempt=1", data=b"a new video")
    assert await kept_agent.complete(kept_job, kept["video_url"]) == (200, {"status": "completed"})
    assert len(await bucket.keys()) == 2

    await finished_days_ago(store, job["id"], 40)
    result = await maintain_once(store, 30, client.server.app[VIDEO_STORE])
    assert result.jobs_deleted == 1
    (left,) = await bucket.keys()
    assert left.rsplit("/", 1)[1].startswith(f"{kept_job['id']}-1-")
    assert (await download(body["video_url"]))[0] == 404
    assert await download(kept["video_url"]) == (200, b"a new video")


async def test_retention_removes_objects_one_by_one_where_the_store_refuses_batch_deletes(
        s3_service, store, bucket, monkeypatch):
    client = await s3_service()
    agent, job = await claimed(client, store, "old-minio")
    status, body = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"an old video")
    assert await agent.complete(job, body["video_url"]) == (200, {"status": "completed"})
    videos = client.server.app[VIDEO_STORE]

    async def refused(**_params):
        raise ClientError({"Error": {"Code": "MissingContentMD5", "Message": "Missing required header"}},
                          "DeleteObjects")

    monkeypatch.setattr(videos._client, "delete_objects", refused)
    await finished_days_ago(store, job["id"], 40)
    result = await maintain_once(store, 30, videos)
    assert result.jobs_deleted == 1 and await bucket.keys() == []


async def test_upkeep_aborts_the_uploads_no_attempt_can_finish(s3_service, store, bucket):
    client = await s3_service()
    agent, job = await claimed(client, store, "sweeper")
    done_agent, done = await claimed(client, store, "done", "https://drafts.example.com/get_draft?draft_id=done")
    assert (await done_agent.complete(done))[0] == 200
    live = f"videos/{job['id']}-1-{'a' * 16}.mp4"  # its attempt still runs: it may still finish
    finished = f"videos/{done['id']}-1-{'b' * 16}.mp4"  # its attempt completed without it
    unknown = f"videos/{job['id'] + 1000}-1-{'c' * 16}.mp4"  # no such job
    for key in (live, finished, unknown):
        await bucket.client.create_multipart_upload(Bucket=bucket.name, Key=key)
    await maintain_once(store, 0, client.server.app[VIDEO_STORE])
    assert [upload["key"] for upload in await bucket.unfinished_uploads()] == [live]


async def test_upkeep_deletes_the_objects_no_job_can_show_and_keeps_the_rest(s3_service, store, bucket):
    """Among them the objects of jobs a prune removed before it could delete their objects
    (the process died): upkeep finds them by asking which objects a job can still show."""
    client = await s3_service()
    agent, job = await claimed(client, store, "shown")
    status, shown = await agent.call("PUT", f"/jobs/{job['id']}/video?attempt=1", data=b"the job's video")
    assert await agent.complete(job, shown["video_url"]) == (200, {"status": "completed"})
    running_agent, running = await claimed(client, store, "running", DRAFT + "-running")
    status, uploaded = await running_agent.call("PUT", f"/jobs/{running['id']}/video?attempt=1", data=b"not yet")
    assert status == 200  # its complete may still come
    old_agent, old = await claimed(client, store, "old", DRAFT + "-old")
    status, pruned = await old_agent.call("PUT", f"/jobs/{old['id']}/video?attempt=1", data=b"an old video")
    assert await old_agent.complete(old, pruned["video_url"]) == (200, {"status": "completed"})
    await finished_days_ago(store, old["id"], 40)
    await store.prune(datetime.now(UTC) - timedelta(days=30))  # … and the process dies here
    await bucket.client.put_object(Bucket=bucket.name, Key=f"videos/{old['id'] + 1000}-1-{'c' * 16}.mp4", Body=b"x")
    await bucket.client.put_object(Bucket=bucket.name, Key="videos/.readyz/another-host", Body=b"not a video")

    await maintain_once(store, 0, client.server.app[VIDEO_STORE])
    names = sorted(key.rsplit("/", 1)[1] for key in await bucket.keys())
    assert names == sorted(["another-host", *(url.split("?")[0].rsplit("/", 1)[1] for url in
                                              (shown["video_url"], uploaded["video_url"]))])
    assert await download((await status_of(client))["video_url"]) == (200, b"the job's video")


async def test_readyz_reports_the_bucket(s3_service, bucket):
    client = await s3_service()
    response = await client.get("/readyz")
    assert response.status == 200 and (await response.json())["video_store"] == "ok"
    assert await bucket.keys() == []  # the probe cleans up after itself

    missing = await s3_service(video_store=f"s3://{bucket.name}-missing")
    response = await missing.get("/readyz")
    body = await response.json()
    assert response.status == 503 and body["status"] == "unavailable", body
    assert "bucket does not exist" in body["video_store"] and f"{bucket.name}-missing" in body["video_store"]

    nowhere = await s3_service(s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    response = await nowhere.get("/readyz")
    body = await response.json()
    assert response.status == 503 and "cannot be reached" in body["video_store"], body


async def test_readyz_says_when_the_service_has_no_credentials(s3_service, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    client = await s3_service()
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503 and "no S3 credentials" in body["video_store"], body


# --- direct uploads: the agent sends the bytes to the bucket itself -------------------------


def agent_client(client, token: str) -> ServiceClient:
    return ServiceClient(str(client.make_url("/")), token)


async def test_an_agent_uploads_straight_to_the_bucket(s3_service, store, bucket, tmp_path):
    client = await s3_service()
    agent, job = await claimed(client, store, "direct")
    video = tmp_path / "out.mp4"
    video.write_bytes(BIG_VIDEO)
    service = agent_client(client, agent.headers["Authorization"].split()[1])
    try:
        answer = await service.upload_video(job["id"], 1, video, keep_trying=lambda: True)
    finally:
        await service.close()
    (key,) = await bucket.keys()
    assert key.startswith(f"videos/{job['id']}-1-") and await bucket.unfinished_uploads() == []
    assert await agent.complete(job, answer.video_url) == (200, {"status": "completed"})
    assert await download((await status_of(client))["video_url"]) == (200, BIG_VIDEO)

    metrics = await scrape(client)
    assert value(metrics, "capcut_mate_video_uploads_total", store="s3", via="direct", outcome="stored") == 1
    assert value(metrics, "capcut_mate_video_upload_bytes_total", store="s3", via="direct") == len(BIG_VIDEO)
    put_route = "/agent/v1/jobs/{job_id}/video"
    assert value(metrics, "capcut_mate_http_requests_total", route=put_route, method="PUT", code="200") == 0


async def _begin(agent: ProtocolAgent, job: dict, size: int) -> dict:
    status, target = await agent.call("POST", f"/jobs/{job['id']}/video/direct", {"attempt": 1, "size": size})
    assert status == 200, target
    return target


async def _put_parts(target: dict, data: bytes) -> list[dict]:
    parts = []
    async with aiohttp.ClientSession() as http:
        for part in target["parts"]:
            chunk = data[part["offset"]:part["offset"] + part["size"]]
            async with http.put(part["url"], data=chunk) as response:
                assert response.status == 200
                parts.append({"number": part["number"], "etag": response.headers["ETag"]})
    return parts


async def test_a_direct_upload_whose_parts_do_not_add_up_leaves_nothing(s3_service, store, bucket):
    client = await s3_service()
    agent, job = await claimed(client, store, "short")
    target = await _begin(agent, job, len(BIG_VIDEO))
    assert [part["size"] for part in target["parts"]] == [PART_BYTES, PART_BYTES, len(BIG_VIDEO) - 2 * PART_BYTES]
    parts = await _put_parts(target, BIG_VIDEO)
    done = {"attempt": 1, "name": target["name"], "upload_id": target["upload_id"], "parts": parts[:2],
            "size": len(BIG_VIDEO)}
    status, body = await agent.call("POST", f"/jobs/{job['id']}/video/direct/complete", done)
    assert status == 400 and "not the video announced" in body["error"]["details"], body
    assert await bucket.keys() == [] and await bucket.unfinished_uploads() == []


async def test_a_direct_upload_names_only_its_own_attempts_video(s3_service, store, bucket):
    client = await s3_service()
    agent, job = await claimed(client, store, "steering")
    target = await _begin(agent, job, 100)
    parts = await _put_parts(target, b"v" * 100)
    for name, answer in ((f"{job['id'] + 1}-1-{'0' * 16}.mp4", 404), (f"{job['id']}-2-{'0' * 16}.mp4", 404),
                         ("../../etc/passwd", 400)):
        done = {"attempt": 1, "name": name, "upload_id": target["upload_id"], "parts": parts, "size": 100}
        status, body = await agent.call("POST", f"/jobs/{job['id']}/video/direct/complete", done)
        assert status == answer, (name, body)
    assert await bucket.keys() == []


async def test_a_direct_upload_of_an_attempt_that_is_over_is_aborted(s3_service, store, bucket):
    client = await s3_service()
    agent, job = await claimed(client, store, "late")
    target = await _begin(agent, job, 1000)
    parts = await _put_parts(target, b"x" * 1000)
    assert (await client.post("/v1/cancel_video", json={"draft_url": DRAFT})).status == 200
    await store.pool.execute("UPDATE capcut_mate.video_jobs SET lease_expires_at = now() - interval '1 second'"
                             " WHERE id = $1", job["id"])
    await store.expire_leases()
    done = {"attempt": 1, "name": target["name"], "upload_id": target["upload_id"], "parts": parts, "size": 1000}
    status, body = await agent.call("POST", f"/jobs/{job['id']}/video/direct/complete", done)
    assert status == 409 and body["error"]["code"] == "LEASE_LOST", body
    assert await bucket.keys() == [] and await bucket.unfinished_uploads() == []


async def test_an_agent_whose_direct_upload_fails_sends_the_video_through_the_service(
        s3_service, store, bucket, tmp_path, monkeypatch):
    client = await s3_service()
    agent, job = await claimed(client, store, "fallback")
    video = tmp_path / "out.mp4"
    video.write_bytes(BIG_VIDEO)

    async def refused(_store, part, _data):
        raise service_client.DirectUploadFailed(f"the store answered 403 to part {part.number}")

    monkeypatch.setattr(service_client, "_put_part", refused)
    service = agent_client(client, agent.headers["Authorization"].split()[1])
    try:
        answer = await service.upload_video(job["id"], 1, video, keep_trying=lambda: True)
    finally:
        await service.close()
    assert await bucket.unfinished_uploads() == []  # the direct attempt was aborted
    (key,) = await bucket.keys()
    assert await bucket.read(key) == BIG_VIDEO and key.rsplit("/", 1)[1] in answer.video_url
    metrics = await scrape(client)
    assert value(metrics, "capcut_mate_video_uploads_total", store="s3", via="service", outcome="stored") == 1


async def test_the_local_store_offers_no_direct_upload_and_agents_upload_through_it(client, store, tmp_path):
    agent, job = await claimed(client, store, "local")
    assert await _begin(agent, job, 10) == {"name": None, "upload_id": None, "parts": []}
    video = tmp_path / "out.mp4"
    video.write_bytes(b"a local video")
    service = agent_client(client, agent.headers["Authorization"].split()[1])
    try:
        answer = await service.upload_video(job["id"], 1, video, keep_trying=lambda: True)
    finally:
        await service.close()
    assert (await (await client.get(answer.video_url.split(str(client.make_url("")), 1)[-1])).read()
            == b"a local video")
    metrics = await scrape(client)
    assert value(metrics, "capcut_mate_video_uploads_total", store="local", via="service", outcome="stored") == 1


def test_a_store_setting_that_is_neither_local_nor_s3_is_refused():
    with pytest.raises(ValueError, match=r"local or s3://BUCKET\[/PREFIX\]"):
        Settings(video_store="ftp://videos")
    assert Settings(video_store="s3://videos/a/b/").video_store_location == ("videos", "a/b/")
    assert Settings(video_store="s3://videos").video_store_location == ("videos", "")
    assert Settings().video_store_location is None


@pytest.mark.slow
async def test_two_service_hosts_share_one_bucket(farm: Farm, bucket: Bucket):
    """An agent talks to one service process and a client to another; the video downloads."""
    first = farm.start_service(**bucket.settings())
    second = farm.start_service(**bucket.settings())
    await farm.start_agent("far-away", first)
    url = "https://drafts.example.com/openapi/capcut-mate/v1/get_draft?draft_id=two-hosts"
    submitted = await farm.submit(second, url)
    final = await farm.wait_for(second, url, lambda body: body["status"] in ("completed", "failed"))
    assert final["status"] == "completed", final
    assert final["video_url"].startswith(bucket.endpoint)
    status, content = await download(final["video_url"])
    assert status == 200 and content.startswith(b"\x00\x00\x00\x18ftypmp42") and url.encode() in content
    (key,) = await bucket.keys()
    assert key.startswith(f"videos/{submitted['job_id']}-1-")
    for service in (first, second):
        async with farm.http.get(f"{service.url}/readyz") as response:
            assert response.status == 200 and (await response.json())["video_store"] == "ok"
    # The agent sent the bytes to the bucket itself; its service only signed the parts.
    metrics = await scrape(farm.http, f"{first.url}/metrics")
    assert value(metrics, "capcut_mate_video_uploads_total", store="s3", via="direct", outcome="stored") == 1
