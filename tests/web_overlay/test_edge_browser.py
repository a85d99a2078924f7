"""A room's views on a serving edge, under /r/ROOM/, in real headless Chromium: the views
load their files next to the page and read the room's feed at /r/ROOM/ws.

Screenshots go to ``tests/.artifacts/`` when a test fails.
"""

from __future__ import annotations

import re

import pytest

from bench.chromium import CHROMIUM, CHROMIUM_ARGS, chromium_available
from tests import nats_server as broker
from tests.browser import ARTIFACTS
from tests.edgetools import ScriptedRoom, caption, edge

pytestmark = pytest.mark.integration

playwright = pytest.importorskip("playwright.async_api")
if not chromium_available():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)
expect = playwright.expect

nats_server = broker.nats_server


async def test_a_phone_on_an_edge_shows_its_room_s_captions(nats_server, tmp_path, request):
    rooms = [ScriptedRoom(nats_server.url, tmp_path, name) for name in ("room-a", "room-b")]
    for room in rooms:
        await room.start()
    rooms[0].say(caption("room-a", 1, "en"))
    rooms[1].say(caption("room-b", 1, "en"))
    for room in rooms:
        await room.wait_acked(1)
    served = await edge(nats_server.url)
    errors: list[str] = []
    async with playwright.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 390, "height": 800},
                                            locale="en-US")
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
        try:
            base = f"http://127.0.0.1:{served.port}"
            await page.goto(f"{base}/r/room-a/?lang=en")
            await expect(page.locator("html")).to_have_attribute("data-conn", "live")
            shown = page.locator('.lines[data-lang="en"] .cap.final .text')
            await expect(shown).to_have_text(["room-a caption 1"])  # its own room only
            rooms[0].say(caption("room-a", 2, "en"))
            rooms[1].say(caption("room-b", 2, "en"))
            await expect(shown).to_have_text(["room-a caption 1", "room-a caption 2"])
            assert await page.evaluate("window.captionFeed.url") == \
                f"ws://127.0.0.1:{served.port}/r/room-a/ws"
            # Its styles came from /r/room-a/: the phone's layout is applied.
            assert await page.evaluate(
                "getComputedStyle(document.body).display") == "flex"

            screen = await context.new_page()
            screen.on("pageerror", lambda exc: errors.append(str(exc)))
            screen.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
            await screen.goto(f"{base}/r/room-b/screen")
            await expect(screen.locator("html")).to_have_attribute("data-conn", "live")
            await expect(screen.locator("#qr")).to_be_visible()  # /r/room-b/qr.svg loaded
            await expect(screen.locator("#qr-url")).to_have_text(
                f"127.0.0.1:{served.port}/r/room-b")
            await expect(screen.locator('.pane[data-lang="en"]')).to_contain_text(
                "room-b caption 2")
        except BaseException:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            for i, each in enumerate(context.pages):
                await each.screenshot(path=ARTIFACTS / f"{name}-{i}.png")
            raise
        finally:
            await context.close()
            await browser.close()
            await served.close()
            for room in rooms:
                await room.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not missing, f"not found: {missing}"
