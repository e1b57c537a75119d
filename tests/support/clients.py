"""A client of the service through an aiohttp test client: submit and poll."""

from __future__ import annotations


async def submit_draft(client, draft_url: str, **fields) -> dict:
    response = await client.post("/v1/gen_video", json={"draft_url": draft_url, **fields})
    assert response.status == 200, await response.text()
    return await response.json()


async def draft_status(client, draft_url: str) -> dict:
    return await (await client.post("/v1/gen_video_status", json={"draft_url": draft_url})).json()
