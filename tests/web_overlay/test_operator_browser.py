"""The operator console in real Chromium, driving a /screen page open beside it.

Screenshots of every open page go to ``tests/.artifacts/`` when a test fails.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
import pytest_asyncio

from captioner.config import load_config
from captioner.delivery.operator import start_operator
from captioner.events import Status
from tests import browser as browsing
from tests.conftest import REPO
from tests.operator_fakes import FakeRecord, caption, levels, make_room, serve_bus, start_server

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

playwright = browsing.require_chromium()
expect = playwright.expect
browser = browsing.browser

TOKEN = "browser-operator-token-0123456789"
HOLDING = "Coffee break · Перерыв на кофе"
FINAL = '.pane[data-lang="en"] .cap.final .text'
PROGRAMME = load_config(REPO / "configs" / "cop_side_event.toml").programme


class Served:
    """A session with its console, published into by the tests."""

    def __init__(self) -> None:
        self.room = make_room(record=FakeRecord("2025-11-27_140000_side-event"),
                              holding_message=HOLDING, programme=PROGRAMME)
        self.pipeline = self.room.pipeline
        self.broadcaster = serve_bus(self.room.bus)
        self.server = None
        self.console = None
        self.n = 0

    async def start(self) -> None:
        self.server = await start_server(self.broadcaster)
        self.console = await start_operator(
            self.server, self.broadcaster, self.room.bus, token=TOKEN,
            holding_message=HOLDING, info={"model": "whisper-base"}, environ={})
        self.figures = asyncio.create_task(self.room.publish_figures_periodically())
        self.pipeline.publish(Status("listening", time.time_ns()))

    async def close(self) -> None:
        self.figures.cancel()
        await self.server.close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def commit(self, text: str) -> None:
        self.n += 1
        self.pipeline.publish(caption(text, id=f"c{self.n}"))


@pytest_asyncio.fixture(loop_scope="module")
async def served():
    s = Served()
    await s.start()
    yield s
    await s.close()


@pytest_asyncio.fixture(loop_scope="module")
async def pages(browser, served, request):
    """Opens the screen and the console (signed in) side by side in one context."""
    async with browsing.open_pages(browser, served.base, request, full_page=True,
                                   viewport={"width": 1440, "height": 900}) as opened:
        screen = await opened.open("/screen?qr=0")
        console = await opened.open(f"/operator#token={TOKEN}")
        yield screen, console, opened.open


async def test_pause_shows_the_holding_message_and_resume_removes_it(served, pages):
    screen, console, _ = pages
    served.commit("Before the break.")
    await expect(screen.locator(FINAL)).to_have_text(["Before the break."])
    assert "token" not in console.url  # taken out of the address bar

    await console.get_by_role("button", name=re.compile("Pause captions")).click()
    holding = screen.locator("#holding")
    await expect(holding).to_be_visible()
    await expect(holding).to_contain_text(HOLDING)
    await expect(console.locator("#chip-screens")).to_have_text("Screens paused")
    served.commit("Said during the break.")
    await expect(console.locator("#held-note")).to_be_visible()
    await expect(console.locator(".preview-pane[lang=en] p").last).to_have_text(
        "Said during the break.")  # the operator still sees it

    await console.locator("body").press("p")  # the keyboard shortcut resumes
    await expect(holding).to_be_hidden()
    served.commit("After the break.")
    await expect(screen.locator(FINAL)).to_have_text(["Before the break.", "After the break."])


async def test_a_custom_holding_message(served, pages):
    screen, console, _ = pages
    await console.locator("#hold").fill("Back at 14:00")
    await console.locator("#pause").click()
    await expect(screen.locator("#holding")).to_contain_text("Back at 14:00")
    await console.locator("#pause").click()
    await expect(screen.locator("#holding")).to_be_hidden()


async def test_clear_empties_the_screen(served, pages):
    screen, console, _ = pages
    served.commit("One.")
    served.commit("Two.")
    await expect(screen.locator(FINAL)).to_have_count(2)
    await console.get_by_role("button", name=re.compile("Clear screens")).click()
    await expect(screen.locator(FINAL)).to_have_count(0)
    served.commit("Three.")
    await expect(screen.locator(FINAL)).to_have_text(["Three."])
    await console.locator("body").press("c")
    await expect(screen.locator(FINAL)).to_have_count(0)


async def test_message_shows_the_text_on_the_screen(served, pages):
    screen, console, _ = pages
    await console.locator("body").press("m")  # focuses the message box
    await expect(console.locator("#msg")).to_be_focused()
    await console.keyboard.type("Please take your seats · Просьба занять места")
    await console.keyboard.press("Enter")
    banner = screen.locator("#banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_have_text("Please take your seats · Просьба занять места")
    await expect(console.locator("#msg")).to_have_value("")


async def test_language_and_input_switches(served, pages):
    _, console, _ = pages
    controls = served.pipeline.controls
    await console.locator("body").press("l")
    await expect(console.locator('#lang [data-lang="ru"]')).to_have_attribute(
        "aria-checked", "true")
    assert controls.forced_language == "ru"
    await console.get_by_role("radio", name="Auto").click()
    await expect(console.locator('#lang [data-lang="auto"]')).to_have_attribute(
        "aria-checked", "true")
    assert controls.forced_language is None

    booth = console.get_by_role("switch", name="Input booth")
    await expect(booth).to_have_attribute("aria-checked", "true")
    await booth.click()
    await expect(booth).to_have_attribute("aria-checked", "false")
    assert not controls.input_enabled("booth")
    await booth.click()
    await expect(booth).to_have_attribute("aria-checked", "true")
    assert controls.input_enabled("booth")


async def test_levels_and_latency_are_shown(served, pages):
    _, console, _ = pages
    served.pipeline.publish(levels("floor", -20.0, -0.05))
    served.commit("Measured.")
    floor = console.locator('.input-row[data-input="floor"]')
    await expect(floor.locator(".input-figures")).to_contain_text("RMS -20 dBFS")
    await expect(floor.locator(".input-chips")).to_contain_text("Clip")
    await expect(console.locator('.input-row[data-input="booth"] .input-figures')).to_contain_text(
        "no level meter")
    await expect(console.locator("#lat-committed .figure-value")).to_have_text(
        re.compile(r"^\d+\.\d s$"))
    await expect(console.locator("#engines")).to_contain_text("0 sentences · dropped 0")


async def test_a_wrong_token_asks_for_the_right_one(served, pages):
    _, _, open_ = pages
    page = await open_("/operator#token=not-the-token", live=False)
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#login-error")).to_have_text("That token was not accepted.")
    await page.locator("#token-input").fill(TOKEN)
    await page.locator("#token-input").press("Enter")
    await expect(page.locator("html")).to_have_attribute("data-conn", "live")
    await expect(page.locator("#login")).to_be_hidden()


async def test_now_speaking_sets_the_speaker_by_button_and_by_key(served, pages):
    screen, console, _ = pages
    controls = served.room.controls
    card = console.locator(".speaking")
    await expect(card.locator("#speaking-title")).to_contain_text("Opening of the side event")
    await expect(card.locator("#speaking-set")).to_contain_text("Nobody set")
    await card.get_by_role("button", name=re.compile("Dr. Aliya Seitkali")).click()
    await expect(card.locator("#speaking-set")).to_have_text(
        "Set: Dr. Aliya Seitkali, Moderator, Central Asia Pavilion")
    await expect(card.locator('[data-speaker="0"]')).to_have_attribute("aria-pressed", "true")
    assert controls.speaker.name == "Dr. Aliya Seitkali"
    served.pipeline.on_worker_event(caption("Welcome to the pavilion.", id="floor-1"))
    await expect(screen.locator('.pane[data-lang="en"] .line.speaker')).to_have_text(
        "Dr. Aliya Seitkali")

    await card.get_by_role("button", name="Next item").click()
    await expect(card.locator("#speaking-title")).to_contain_text("Ministerial statements")
    await expect(card.locator(".speaker-button[data-speaker]")).to_have_count(3)
    await console.locator("body").press("2")  # the item's second speaker
    await expect(card.locator("#speaking-set")).to_contain_text("Set: H.E. Gulnara Asanova")
    assert (controls.item, controls.speaker.language) == (1, "ru")
    await console.locator("body").press("9")  # no ninth speaker: nothing happens
    await console.locator("body").press("0")
    await expect(card.locator("#speaker-other")).to_have_attribute("aria-pressed", "true")
    await card.get_by_role("button", name="Nobody").click()
    await expect(card.locator("#speaking-set")).to_contain_text("Nobody set")
    assert controls.speaker is None
    await card.locator("#speaking-auto").check()
    await expect(card.locator("#speaking-auto")).to_be_checked()
    assert controls.auto_advance
