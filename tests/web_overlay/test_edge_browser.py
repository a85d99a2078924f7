"""A room's views on a serving edge, under /r/ROOM/, in real headless Chromium: the views
load their files next to the page and read the room's feed at /r/ROOM/ws.

Screenshots go to ``tests/.artifacts/`` when a test fails.
"""

from __future__ import annotations

import pytest

from tests import browser as browsing
from tests import nats_server as broker
from tests.edgetools import ScriptedRoom, caption, edge

pytestmark = pytest.mark.integration

playwright = browsing.require_chromium()
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
    base = f"http://127.0.0.1:{served.port}"
    try:
        async with browsing.chromium() as browser, browsing.open_pages(
                browser, base, request, viewport={"width": 390, "height": 800}) as pages:
            page = await pages.open("/r/room-a/?lang=en")
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

            screen = await pages.open("/r/room-b/screen")
            await expect(screen.locator("#qr")).to_be_visible()  # /r/room-b/qr.svg loaded
            await expect(screen.locator("#qr-url")).to_have_text(
                f"127.0.0.1:{served.port}/r/room-b")
            await expect(screen.locator('.pane[data-lang="en"]')).to_contain_text(
                "room-b caption 2")
    finally:
        await served.close()
        for room in rooms:
            await room.close()
    assert not pages.failed_urls, f"not found: {pages.failed_urls}"
