"""Agents for tests: registered in the store, talking the protocol over HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from capcut_mate.database.store import AgentCredentials, Store
from capcut_mate.server.auth import AGENT_TOKEN, OPERATOR_TOKEN, new_token, parse_token


async def register_agent(store: Store, name: str, tags: list[str] | None = None) -> str:
    token = new_token(AGENT_TOKEN)
    assert await store.add_agent(name, token_id=token.token_id, token_hash=token.token_hash, tags=tags or [])
    return token.token


async def store_agent(store: Store, name: str, tags: list[str] | None = None) -> AgentCredentials:
    """An agent as the store's agent calls take it (an agent's identity is its token): the
    one registered under `name`, registered now if there is none."""
    token_id = await store.pool.fetchval(
        "SELECT token_id FROM capcut_mate.agents WHERE name = $1 AND revoked_at IS NULL", name)
    if token_id is None:
        token_id = parse_token(await register_agent(store, name, tags))[1]
    return await store.find_agent(token_id)


async def register_operator(store: Store, name: str = "ops") -> str:
    token = new_token(OPERATOR_TOKEN)
    assert await store.add_operator(name, token_id=token.token_id, token_hash=token.token_hash)
    return token.token


class ProtocolAgent:
    """One agent's calls through an aiohttp test client (or any ClientSession-like object)."""

    def __init__(self, client, token: str, name: str):
        self.client = client
        self.name = name
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None, *, headers: dict | None = None,
                   **kwargs) -> tuple[int, dict]:
        response = await self.client.request(method, "/agent/v1" + path, json=body,
                                             headers={**self.headers, **(headers or {})}, **kwargs)
        return response.status, await response.json()

    async def claim(self, **body) -> list[dict]:
        status, answer = await self.call("POST", "/claim", {"wait": 0, **body})
        assert status == 200, answer
        return answer["jobs"]

    async def progress(self, job: dict, progress: int, **extra) -> tuple[int, dict]:
        return await self.call("POST", f"/jobs/{job['id']}/progress",
                               {"attempt": job["attempt"], "progress": progress, **extra})

    async def complete(self, job: dict, video_url: str = "https://videos.example.com/v.mp4") -> tuple[int, dict]:
        body = {"attempt": job["attempt"], "video_url": video_url}
        return await self.call("POST", f"/jobs/{job['id']}/complete", body)

    async def fail(self, job: dict, message: str = "导出草稿失败: test", retryable: bool = False) -> tuple[int, dict]:
        return await self.call("POST", f"/jobs/{job['id']}/fail",
                               {"attempt": job["attempt"], "error_message": message, "retryable": retryable})


async def until(predicate, seconds: float = 10.0, what: str = "the condition"):
    """The first true answer of the async `predicate`, polled until `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := await predicate():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {seconds} s")
