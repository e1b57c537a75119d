"""Headless Chromium, driven over the DevTools protocol (a websocket, JSON messages).

Enough for the dashboard test: open a page at a phone's size, evaluate JavaScript, collect
console errors and uncaught exceptions, take a screenshot. Debian's `chromium` package
provides the browser; .ci/run installs it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Chromium:
    def __init__(self, executable: str):
        self.executable = executable
        self.console_errors: list[str] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._loaded = asyncio.Event()

    async def __aenter__(self) -> Chromium:
        self._profile = tempfile.mkdtemp(prefix="capcut-mate-chromium-")
        self._process = await asyncio.create_subprocess_exec(
            self.executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        port_file = Path(self._profile) / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and len(port_file.read_text().splitlines()) == 2:
                break
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()
        self._http = aiohttp.ClientSession()
        self._socket = await self._http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=64 * 1024 * 1024)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        self._session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            await self.send(f"{domain}.enable", session=True)
        return self

    async def __aexit__(self, *exc) -> None:
        self._reader.cancel()
        with contextlib.suppress(Exception):
            await self._socket.close()
        await self._http.close()
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        await self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    async def send(self, method: str, *, session: bool = False, **params: Any) -> dict:
        message_id = next(self._ids)
        message = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        answer = self._waiting[message_id] = asyncio.get_running_loop().create_future()
        try:
            await self._socket.send_json(message)
            return await asyncio.wait_for(answer, 30)
        finally:
            del self._waiting[message_id]

    async def _read(self) -> None:
        async for frame in self._socket:
            message = frame.json()
            if "id" in message:
                future = self._waiting.get(message["id"])
                if future and not future.done():
                    if "error" in message:
                        future.set_exception(RuntimeError(message["error"]))
                    else:
                        future.set_result(message.get("result", {}))
                continue
            self._note(message.get("method"), message.get("params", {}))

    def _note(self, method: str, params: dict) -> None:
        if method == "Page.loadEventFired":
            self._loaded.set()
        elif method == "Runtime.exceptionThrown":
            self.console_errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.console_errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.console_errors.append(params["entry"]["text"])

    async def phone_screen(self, width: int = 390, height: int = 844) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                        deviceScaleFactor=2, mobile=True)

    async def open(self, url: str) -> None:
        self._loaded.clear()
        await self.send("Page.navigate", session=True, url=url)
        await asyncio.wait_for(self._loaded.wait(), 30)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                                 awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15) -> Any:
        """Until the expression is truthy; its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
