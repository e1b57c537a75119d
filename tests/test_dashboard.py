"""The live dashboard in a real headless Chromium, at a phone's size."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.agents import ProtocolAgent, register_agent, register_operator
from support.browser import Chromium, find_chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
DRAFT = "https://drafts.example.com/get_draft?draft_id=on-the-dashboard"


@pytest.fixture
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("no Chromium on this machine (apt-get install chromium); CI installs it and runs this")
    return path


async def test_the_dashboard_follows_a_job_to_the_end(client, store, chromium_path):
    operator = await register_operator(store, "watcher")
    agent = ProtocolAgent(client, await register_agent(store, "painter"), "painter")
    job_id = (await (await client.post("/v1/gen_video", json={"draft_url": DRAFT})).json())["job_id"]
    row = f'document.querySelector(\'[data-job="{job_id}"]\')'
    bar = f"{row}?.querySelector('.bar i')?.style.width"

    async with Chromium(chromium_path) as browser:
        await browser.phone_screen()
        await browser.open(str(client.make_url("/dashboard")) + f"#token={operator}")
        assert await browser.wait_for(f"{row}?.dataset.status") == "pending"
        assert await browser.evaluate("location.hash") == ""  # the token leaves the address bar
        assert await browser.evaluate("getComputedStyle(document.getElementById('signin')).display") == "none"

        (job,) = await agent.claim()
        widths = [await browser.wait_for(f"{row}?.dataset.status === 'processing' && {bar}")]
        for progress in (30, 50, 70, 90):
            assert (await agent.progress(job, progress))[0] == 200
            widths.append(await browser.wait_for(f"{bar} === '{progress}%' && {bar}"))
            text = await browser.evaluate(f"{row}.innerText")
            assert f"{progress}%" in text and "painter" in text
        assert widths == ["10%", "30%", "50%", "70%", "90%"]
        stage = await browser.evaluate(f"{row}.querySelector('.meta').innerText")
        assert "文件生成" in stage

        await agent.complete(job)
        assert await browser.wait_for(f"{row}?.dataset.status === 'completed' && {row}.dataset.status")
        assert "painter" in await browser.evaluate("document.getElementById('agents').innerText")
        # Fits a phone: nothing sticks out sideways.
        assert await browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await browser.screenshot(ARTIFACTS / "dashboard.png")
        assert browser.console_errors == []


async def test_the_dashboard_asks_for_a_token_and_refuses_a_wrong_one(client, chromium_path):
    async with Chromium(chromium_path) as browser:
        await browser.open(str(client.make_url("/dashboard")))
        assert await browser.wait_for("getComputedStyle(document.getElementById('signin')).display !== 'none'")
        assert await browser.evaluate("getComputedStyle(document.getElementById('board')).display") == "none"
        await browser.evaluate(
            "document.getElementById('token').value = 'cmop_000000000000_wrong';"
            "document.getElementById('token-form').requestSubmit()"
        )
        assert await browser.wait_for("document.getElementById('problem').textContent") == "That token was refused."
