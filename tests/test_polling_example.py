"""gen_video_status.md's own Python polling loop, run unchanged against a live server."""

from __future__ import annotations

import asyncio

from capcut_mate.protocol.jobs import JobStatus
from support.agents import store_agent
from support.drive import AGENT, claim_one
from support.spec import python_polling_example

DOCUMENT_URL = "http://localhost:8000/v1/gen_video_status"


async def test_the_documented_polling_loop_sees_the_job_through(client, store):
    source = python_polling_example()
    assert DOCUMENT_URL in source
    # The one edit: point it at this test's server instead of localhost:8000.
    source = source.replace(DOCUMENT_URL, str(client.make_url("/v1/gen_video_status")))
    printed: list[str] = []
    namespace = {"__name__": "polling_example", "print": lambda *args: printed.append(" ".join(map(str, args)))}
    exec(compile(source, "gen_video_status.md", "exec"), namespace)

    draft = "https://capcut-mate.jcaigc.cn/openapi/capcut-mate/v1/get_draft?draft_id=2025092811473036584258"
    assert (await client.post("/v1/gen_video", json={"draft_url": draft})).status == 200
    polling = asyncio.create_task(
        asyncio.to_thread(namespace["poll_video_status"], draft, max_attempts=400, poll_interval=0.02)
    )

    async def seen(status: str) -> None:
        while not any(f"任务状态: {status}" in line for line in printed):
            assert not polling.done(), printed
            await asyncio.sleep(0.01)

    await seen("pending")
    claimed = await claim_one(store)
    agent = await store_agent(store, AGENT)
    await seen("processing")
    await store.report_progress(
        claimed.id, claimed.attempt, agent, progress=70, stage=None, message=None, lease_seconds=30
    )
    await seen("processing, 进度: 70%")
    await store.complete(claimed.id, claimed.attempt, agent, video_url="https://videos.example.com/done.mp4")

    result = await asyncio.wait_for(polling, timeout=10)
    assert result["status"] == JobStatus.COMPLETED
    assert result["video_url"] == "https://videos.example.com/done.mp4"
    statuses = [line.split(",")[0].removeprefix("任务状态: ") for line in printed if line.startswith("任务状态")]
    first_seen = list(dict.fromkeys(statuses))
    assert first_seen == ["pending", "processing", "completed"], printed
    assert "视频生成完成: https://videos.example.com/done.mp4" in printed
