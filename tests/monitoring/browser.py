"""A headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

No WebSocket client and no browser-automation package: Chromium reads protocol messages from
file descriptor 3 and writes its answers to 4, each a JSON document ended by a NUL byte.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path is not None:
            return path
    return None


class BrowserError(Exception):
    pass


class Page:
    """One tab, attached with a flat session."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    async def call(self, method: str, **params: Any) -> Any:
        return await self.browser.call(method, session=self.session, **params)

    async def goto(self, url: str) -> None:
        await self.call("Page.enable")
        answer = await self.call("Page.navigate", url=url)
        if answer.get("errorText"):
            raise BrowserError(f"cannot load {url}: {answer['errorText']}")

    async def evaluate(self, expression: str) -> Any:
        answer = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression!r} failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, *, limit: float) -> Any:
        """Poll ``expression`` in the page until it is truthy (an exception counts as not yet:
        the page may still be loading); its value."""
        with trio.fail_after(limit):
            while True:
                try:
                    value = await self.evaluate(expression)
                except BrowserError:
                    value = None
                if value:
                    return value
                await trio.sleep(0.1)

    async def screenshot(self, path: Path, width: int = 1280, height: int = 900) -> None:
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        answer = await self.call("Page.captureScreenshot", format="png")
        await trio.Path(path).write_bytes(base64.b64decode(answer["data"]))


class Browser:
    def __init__(self, send: trio.lowlevel.FdStream, receive: trio.lowlevel.FdStream) -> None:
        self._send = send
        self._receive = receive
        self._ids = itertools.count(1)
        self._waiting: dict[int, trio.MemorySendChannel[dict[str, Any]]] = {}
        self.console: list[str] = []

    async def call(self, method: str, *, session: str | None = None, **params: Any) -> Any:
        call_id = next(self._ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        send, receive = trio.open_memory_channel[dict[str, Any]](1)
        self._waiting[call_id] = send
        await self._send.send_all(json.dumps(message).encode() + b"\0")
        with trio.fail_after(30):
            answer = await receive.receive()
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def new_page(self) -> Page:
        target = await self.call("Target.createTarget", url="about:blank")
        attached = await self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        page = Page(self, attached["sessionId"])
        await page.call("Runtime.enable")
        return page

    async def _read(self) -> None:
        buffer = b""
        while True:
            chunk = await self._receive.receive_some(1 << 16)
            if not chunk:
                for waiter in self._waiting.values():
                    waiter.close()
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    waiter = self._waiting.pop(message["id"], None)
                    if waiter is not None:
                        waiter.send_nowait(message)
                elif message.get("method") == "Runtime.consoleAPICalled":
                    args = message["params"].get("args", [])
                    self.console.append(" ".join(str(a.get("value", "")) for a in args))
                elif message.get("method") == "Runtime.exceptionThrown":
                    self.console.append(str(message["params"]["exceptionDetails"]))


@asynccontextmanager
async def open_browser(executable: str) -> AsyncIterator[Browser]:
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        # A small launcher puts the pipe ends on 3 and 4, where Chromium expects them.
        proc = await trio.lowlevel.open_process(
            [
                sys.executable,
                "-c",
                "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
                "os.execv(sys.argv[3], sys.argv[3:])",
                str(to_browser_r),
                str(from_browser_w),
                executable,
                *FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        send = trio.lowlevel.FdStream(to_browser_w)
        receive = trio.lowlevel.FdStream(from_browser_r)
        browser = Browser(send, receive)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(browser._read)
                try:
                    yield browser
                finally:
                    # Shielded: even a cancelled test closes its browser before the profile goes.
                    with trio.CancelScope(shield=True), trio.move_on_after(5):
                        try:
                            await browser.call("Browser.close")
                        except (BrowserError, trio.BrokenResourceError, trio.EndOfChannel):
                            pass
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await send.aclose()
                await receive.aclose()
                with trio.move_on_after(10):
                    await proc.wait()
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
