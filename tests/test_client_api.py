"""The client API against CONTRACT.md and gen_video_status.md, over HTTP."""

from __future__ import annotations

import re
from datetime import UTC

import pytest

from capcut_mate.protocol.client import CLIENT_PREFIXES
from capcut_mate.protocol.jobs import JobStatus
from support.drive import drive
from support.spec import status_examples

EXAMPLES = status_examples()
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TIME_FIELDS = ("created_at", "started_at", "completed_at")
DOCUMENTED_FIELDS = (
    "draft_url", "status", "progress", "video_url", "error_message", "created_at", "started_at", "completed_at",
)


def test_the_document_has_an_example_for_each_status():
    assert set(EXAMPLES) == {s.value for s in JobStatus}


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
@pytest.mark.parametrize("status", [s.value for s in JobStatus])
async def test_status_reproduces_the_documented_example(client, store, prefix, status):
    example = EXAMPLES[status]
    await drive(
        store,
        example["draft_url"],
        JobStatus(status),
        progress=example["progress"] if status == "processing" else 65,
        video_url=example["video_url"] or "unused",
        error_message=example["error_message"] or "unused",
    )
    response = await client.post(f"{prefix}/gen_video_status", json={"draft_url": example["draft_url"]})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = await response.json()
    assert body["code"] == 0 and body["message"] == "成功"
    for field in DOCUMENTED_FIELDS:
        assert field in body, field
        if field in TIME_FIELDS:
            # Times depend on when the test ran; their presence, null-ness and format must match.
            assert (body[field] is None) == (example[field] is None), field
            if body[field] is not None:
                assert TIMESTAMP.match(body[field]), body[field]
        else:
            assert body[field] == example[field], field


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
async def test_gen_video_answers_with_the_status_body(client, prefix):
    draft = "https://capcut-mate.jcaigc.cn/openapi/capcut-mate/v1/get_draft?draft_id=2025092811473036584258"
    response = await client.post(f"{prefix}/gen_video", json={"draft_url": draft})
    assert response.status == 200
    body = await response.json()
    assert body["code"] == 0
    assert body["message"] == "视频生成任务已提交，请使用draft_url查询进度"
    assert {k: body[k] for k in DOCUMENTED_FIELDS if k not in TIME_FIELDS} == {
        **{k: EXAMPLES["pending"][k] for k in DOCUMENTED_FIELDS if k not in TIME_FIELDS},
        "draft_url": draft,
    }
    assert TIMESTAMP.match(body["created_at"]) and body["started_at"] is None and body["completed_at"] is None


async def test_timestamps_are_utc_with_milliseconds(client, store):
    job = await drive(store, "https://d.example.com/get_draft?draft_id=t", JobStatus.COMPLETED)
    body = await (await client.post("/v1/gen_video_status", json={"draft_url": job.draft_url})).json()
    for field in TIME_FIELDS:
        moment = getattr(job, field).astimezone(UTC)
        assert body[field] == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize("prefix", CLIENT_PREFIXES)
async def test_active_count_counts_pending_and_processing(client, store, prefix):
    await drive(store, "https://d.example.com/get_draft?draft_id=a", JobStatus.PENDING)
    await drive(store, "https://d.example.com/get_draft?draft_id=b", JobStatus.PROCESSING)
    await drive(store, "https://d.example.com/get_draft?draft_id=c", JobStatus.COMPLETED)
    await drive(store, "https://d.example.com/get_draft?draft_id=d", JobStatus.FAILED)
    response = await client.get(f"{prefix}/gen_video_active_count")
    assert response.status == 200
    assert await response.json() == {"code": 0, "message": "成功", "count": 2}


async def test_request_id_is_echoed_or_made(client):
    for sent in ("trace-42", "a trace with spaces: 7/8", "x" * 200):
        echoed = await client.post("/v1/gen_video_status", json={}, headers={"X-Request-ID": sent})
        assert echoed.headers["X-Request-ID"] == sent
    too_long = await client.get("/v1/gen_video_active_count", headers={"X-Request-ID": "y" * 201})
    assert re.match(r"^[0-9a-f]{32}$", too_long.headers["X-Request-ID"])
    made = await client.get("/v1/gen_video_active_count")
    assert re.match(r"^[0-9a-f]{32}$", made.headers["X-Request-ID"])
    missing = await client.get("/no/such/route")
    assert missing.status == 404 and missing.headers["X-Request-ID"]


async def test_unknown_routes_and_methods_get_the_envelope(client):
    missing = await client.get("/v1/nothing-here")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "NOT_FOUND"
    wrong_method = await client.get("/v1/gen_video")
    assert wrong_method.status == 405
    assert (await wrong_method.json())["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_extra_fields_and_api_key_are_accepted(client):
    response = await client.post(
        "/v1/gen_video",
        json={"draft_url": "https://d.example.com/get_draft?draft_id=x", "apiKey": "k", "whatever": [1]},
    )
    assert response.status == 200


@pytest.mark.parametrize(
    ("fields", "stored"),
    [
        ({"priority": 100, "requirements": ["jianying-6", "gpu.1", "win_11"]},
         (100, ["jianying-6", "gpu.1", "win_11"])),
        ({"priority": -100}, (-100, [])),
        ({"requirements": ["a", "a", "b"]}, (0, ["a", "b"])),
        ({"requirements": ["same"] * 16}, (0, ["same"])),  # one tag, however often named
    ],
)
async def test_render_farm_fields_are_stored(client, store, fields, stored):
    draft = "https://d.example.com/get_draft?draft_id=farm"
    response = await client.post("/v1/gen_video", json={"draft_url": draft, **fields})
    assert response.status == 200
    job = await store.find_job_for_draft(draft)
    assert (job.priority, job.requirements) == stored


@pytest.mark.parametrize(
    "fields",
    [
        {"priority": 101},
        {"priority": -101},
        {"priority": "5"},
        {"priority": 1.5},
        {"priority": True},
        {"requirements": "gpu"},
        {"requirements": [""]},
        {"requirements": ["x" * 65]},
        {"requirements": ["has space"]},
        {"requirements": ["中文"]},
        {"requirements": [1]},
        {"requirements": [f"t{i}" for i in range(17)]},
        {"requirements": ["same"] * 17},  # over maxItems as the document says it, repeats or not
    ],
)
async def test_bad_render_farm_fields_get_the_validation_envelope(client, store, fields):
    draft = "https://d.example.com/get_draft?draft_id=bad"
    response = await client.post("/v1/gen_video", json={"draft_url": draft, **fields})
    assert response.status == 400
    body = await response.json()
    assert body["code"] == 1001 and body["error"]["code"] == "VALIDATION_ERROR"
    assert await store.find_job_for_draft(draft) is None  # bad input changes nothing


async def test_bodies_over_one_mebibyte_are_refused(client, store):
    padding = "x" * (1024 * 1024)
    response = await client.post(
        "/v1/gen_video", data=f'{{"draft_url": "https://d.example.com/a", "pad": "{padding}"}}'
    )
    assert response.status == 413
    body = await response.json()
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await store.count_active_jobs() == 0
