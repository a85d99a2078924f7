"""Who is speaking, in the views, in real headless Chromium: a new paragraph headed by
the name at a change of speaker (with the role on the phone, the name alone on the
screen), the overlay's name label, ``?speakers=0``, and names only ever as text."""

from __future__ import annotations

import time

import pytest
import pytest_asyncio

from captioner.delivery.broadcast import Broadcaster
from captioner.delivery.server import CaptionServer
from captioner.events import Caption, Speaker
from tests import browser as browsing

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

playwright = browsing.require_chromium()
expect = playwright.expect
browser = browsing.browser

MODERATOR = Speaker("Dr. Aliya Seitkali", "Moderator, Central Asia Pavilion")
BANKER = Speaker("Michael Turner", "Asian Development Bank")

# The phone's paragraphs: their heading (name, role) and their committed text.
PHONE = """(lang) => [...document.querySelectorAll(`.lines[data-lang="${lang}"] .para`)].map(
  (p) => ({name: p.querySelector(".speaker-name")?.textContent ?? null,
           role: p.querySelector(".speaker-role")?.textContent ?? null,
           text: [...p.querySelectorAll(".cap .text")].map((t) => t.textContent).join(" "),
           provisional: p.classList.contains("provisional")}))"""
# The screen's lines in view: a speaker line's name, or a line's text.
SCREEN = """(lang) => [...document.querySelectorAll(
  `.pane[data-lang="${lang}"] .line:not(.leaving):not(.empty)`)].map(
  (l) => l.classList.contains("speaker") ? "@" + l.textContent : l.textContent)"""


class Live:
    """A caption server that the tests publish captions with speakers into."""

    def __init__(self) -> None:
        self.broadcaster = Broadcaster()
        self.server: CaptionServer | None = None
        self.seq = 0

    async def start(self) -> None:
        self.server = CaptionServer(self.broadcaster, host="127.0.0.1", port=0)
        await self.server.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def say(self, text: str, speaker: Speaker | None, *, id: str, lang: str = "en",
            final: bool = True, source: str = "floor", input_id: str = "floor") -> None:
        if final:
            self.seq += 1
        self.broadcaster.publish(Caption(
            id=id, final=final, lang=lang, text=text, start_s=float(self.seq),
            end_s=self.seq + 1.0, emitted_ns=time.time_ns(), source=source,
            seq=self.seq if final else None, speaker=speaker, input_id=input_id))


@pytest_asyncio.fixture(loop_scope="module")
async def live():
    server = Live()
    await server.start()
    yield server
    await server.server.close()


@pytest_asyncio.fixture(loop_scope="module")
async def open_view(browser, live, request):
    """Opens a view in a fresh browser context and waits until its feed is live."""
    async with browsing.open_pages(browser, live.base, request) as pages:
        yield pages.open


async def phone_paragraphs(page, want: int) -> list[dict]:
    await page.wait_for_function(f"(lang) => ({PHONE})(lang).length === {want}", arg="en")
    return await page.evaluate(PHONE, "en")


async def test_the_phone_heads_a_new_paragraph_with_the_name_at_a_change(live, open_view):
    page = await open_view("/?lang=en")
    live.say("Testing, one two.", None, id="floor-1")
    live.say("Good afternoon,", MODERATOR, id="floor-2")
    live.say("dear colleagues.", MODERATOR, id="floor-2")
    live.say("Welcome to the pavilion.", MODERATOR, id="floor-3")
    live.say("Thank you.", BANKER, id="floor-4")
    paras = await phone_paragraphs(page, 4)
    assert [(p["name"], p["role"], p["text"]) for p in paras] == [
        (None, None, "Testing, one two."),
        (MODERATOR.name, MODERATOR.role, "Good afternoon, dear colleagues."),
        (None, None, "Welcome to the pavilion."),  # the same speaker goes on: no heading
        (BANKER.name, BANKER.role, "Thank you."),
    ]
    # A partial of the next speaker stands as a paragraph of its own, headed too; its
    # commit replaces it under the same heading.
    live.say("Our bank", MODERATOR, id="floor-5", final=False)
    paras = await phone_paragraphs(page, 5)
    assert (paras[-1]["name"], paras[-1]["provisional"]) == (MODERATOR.name, True)
    live.say("Our bank is ready.", MODERATOR, id="floor-5")
    await page.wait_for_function(
        f"(lang) => ({PHONE})(lang).filter((p) => p.provisional).length === 0", arg="en")
    paras = await phone_paragraphs(page, 5)
    assert (paras[-1]["name"], paras[-1]["text"]) == (MODERATOR.name, "Our bank is ready.")
    # The heading is read out with the text: it is inside the polite live region.
    assert await page.locator('.lines[data-lang="en"] .speaker').count() == 3


async def test_speakers_0_hides_the_names_but_keeps_the_paragraphs(live, open_view):
    live.say("Good afternoon.", MODERATOR, id="floor-1")
    live.say("Thank you.", BANKER, id="floor-2")
    page = await open_view("/?lang=en&speakers=0")
    paras = await phone_paragraphs(page, 2)
    assert [p["text"] for p in paras] == ["Good afternoon.", "Thank you."]
    await expect(page.locator(".speaker")).to_have_count(0)
    screen = await open_view("/screen?speakers=0")
    await expect(screen.locator('.pane[data-lang="en"] .cap.final')).to_have_count(2)
    await expect(screen.locator(".line.speaker")).to_have_count(0)
    overlay = await open_view("/overlay?lang=en&speakers=0")
    await expect(overlay.locator(".cap.final")).to_have_count(2)
    await expect(overlay.locator(".speaker-tag")).to_be_hidden()


async def test_the_screen_shows_the_name_alone_and_the_overlay_a_passing_label(live, open_view):
    screen = await open_view("/screen?lines=8")
    overlay = await open_view("/overlay?lang=en&lines=4")
    live.say("Good afternoon, dear colleagues.", MODERATOR, id="floor-1")
    live.say("Добрый день, уважаемые коллеги.", MODERATOR, id="booth-1", lang="ru",
             source="interpretation")
    await screen.wait_for_function(f"(lang) => ({SCREEN})(lang).length === 2", arg="en")
    assert await screen.evaluate(SCREEN, "en") == [
        f"@{MODERATOR.name}", "Good afternoon, dear colleagues."]
    ru = await screen.evaluate(SCREEN, "ru")
    assert ru[0] == f"@{MODERATOR.name}" and MODERATOR.role not in " ".join(ru)
    tag = overlay.locator('.box[data-lang="en"] .speaker-tag')
    await expect(tag).to_have_text(MODERATOR.name)
    await expect(tag).to_be_visible()
    await expect(tag).to_be_hidden(timeout=10_000)  # a few seconds after the change
    await expect(overlay.locator(".line.speaker")).to_have_count(0)  # no name lines
    live.say("Thank you.", BANKER, id="floor-2")
    await expect(tag).to_have_text(BANKER.name)
    await expect(tag).to_be_visible()
    live.say("Next.", BANKER, id="floor-3")  # the same speaker: no new label
    await expect(tag).to_be_hidden(timeout=10_000)


async def test_the_overlay_names_the_speaker_whose_words_began_last(live, open_view):
    # The booth is still rendering the moderator into English when the banker starts
    # speaking English on the floor, where the moderator's last words were never
    # committed (a cough): the label names the banker, whose partial is the newer,
    # though the floor input's partials were on the track first.
    overlay = await open_view("/overlay?lang=en&lines=4")
    tag = overlay.locator('.box[data-lang="en"] .speaker-tag')
    live.say("Good", MODERATOR, id="floor-1", final=False)
    await expect(tag).to_have_text(MODERATOR.name)
    live.say("We are", MODERATOR, id="booth-1", final=False, source="interpretation",
             input_id="booth")
    live.say("Thank", BANKER, id="floor-2", final=False)
    await expect(tag).to_have_text(BANKER.name)
    live.say("We are glad", MODERATOR, id="booth-1", final=False, source="interpretation",
             input_id="booth")  # the older utterance goes on: the label stays
    live.say("Thank you", BANKER, id="floor-2", final=False)
    await overlay.wait_for_timeout(300)
    await expect(tag).to_have_text(BANKER.name)


async def test_a_name_with_markup_is_shown_literally(live, open_view):
    page = await open_view("/?lang=en")
    screen = await open_view("/screen")
    evil = Speaker('<img src=x onerror="window.__pwned=1">', "<b>role</b>")
    live.say("Hello.", evil, id="floor-1")
    await expect(page.locator(".speaker-name")).to_have_text(evil.name)
    await expect(page.locator(".speaker-role")).to_have_text(evil.role)
    await expect(screen.locator(".line.speaker")).to_have_text(evil.name)
    for view in (page, screen):
        await expect(view.locator(".lines img, .lines b, .pane img")).to_have_count(0)
        assert await view.evaluate("window.__pwned") is None
