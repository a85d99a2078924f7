"""The three views (screen, overlay, phone) in real headless Chromium against a real server.

Screenshots of every open page go to ``tests/.artifacts/`` when a test fails.
"""

from __future__ import annotations

import contextlib
import time

import pytest
import pytest_asyncio

from captioner.delivery.broadcast import Broadcaster
from captioner.delivery.server import CaptionServer
from captioner.events import Caption, Status
from tests import browser as browsing
from tests.browser import alpha_at, wait_conn

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

playwright = browsing.require_chromium()
expect = playwright.expect
browser = browsing.browser

# Caption texts of a view: [data-lang] is the pane (screen), box (overlay) or list (phone).
FINAL = '[data-lang="{lang}"] .cap.final .text'
PARTIAL = '[data-lang="{lang}"] .cap.partial .text'
# Six overlay lines: the tests that check every caption of a test need them in view.
VIEWS = ["/screen", "/overlay?lang=both&lines=6", "/?lang=en"]

# The text a view shows on a track, as one string: the phone's paragraphs, or the lines
# in view of a roll-up (screen, overlay), which break a caption across lines.
SHOWN = """([lang, kind]) => {
  const root = document.querySelector(`:is(.pane, .box, .lines)[data-lang="${lang}"]`);
  if (!root) return null;
  const lines = root.querySelector(".roll")
    ? [...root.querySelectorAll(".line:not(.leaving):not(.empty):not(.label)")]
    : [root];
  return lines.flatMap((l) => [...l.querySelectorAll(`.cap.${kind} .text`)]
    .map((t) => t.textContent)).join(" ");
}"""


async def expect_shown(page, lang: str, expected: str, kind: str = "final",
                       spaces: bool = True) -> None:
    """Waits until the view shows ``expected`` (joined by spaces) on a track.

    ``spaces=False`` compares without white space: a roll-up cuts a word longer than a
    line into pieces on two lines.
    """
    squash = "" if spaces else ".replace(/\\s+/g, '')"
    want = expected if spaces else "".join(expected.split())
    with contextlib.suppress(playwright.TimeoutError):
        await page.wait_for_function(f"(a) => ({SHOWN})(a){squash} === a[2]",
                                     arg=[lang, kind, want], timeout=5000)
    assert await page.evaluate(f"(a) => ({SHOWN})(a){squash}", [lang, kind]) == want


class Live:
    """A caption server on a fixed port that tests publish into and restart."""

    def __init__(self) -> None:
        self.broadcaster = Broadcaster()
        self.server: CaptionServer | None = None
        self.port = 0
        self.seq = 0

    async def start(self, new_session: bool = False) -> None:
        if new_session:
            self.broadcaster = Broadcaster()
            self.seq = 0
        self.server = CaptionServer(self.broadcaster, host="127.0.0.1", port=self.port)
        await self.server.start()
        self.port = self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def commit(self, lang: str, text: str, *, id: str | None = None,
               source: str = "floor") -> int:
        self.seq += 1
        self.broadcaster.publish(Caption(
            id=id or f"c{self.seq}", final=True, lang=lang, text=text, start_s=self.seq,
            end_s=self.seq + 1.0, emitted_ns=time.time_ns(), source=source, seq=self.seq))
        return self.seq

    def partial(self, lang: str, text: str, *, id: str, revision: int = 0) -> None:
        self.broadcaster.publish(Caption(
            id=id, final=False, lang=lang, text=text, start_s=0.0, end_s=1.0,
            emitted_ns=time.time_ns(), revision=revision))

    def status(self, state: str, **detail) -> None:
        self.broadcaster.publish(Status(state=state, emitted_ns=time.time_ns(), detail=detail))


@pytest_asyncio.fixture(loop_scope="module")
async def live():
    server = Live()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def open_view(browser, live, request):
    """Opens a view in a fresh browser context and waits until its feed is live."""
    async with browsing.open_pages(browser, live.base, request) as pages:
        yield pages.open


async def test_screen_puts_each_language_in_its_pane(live, open_view):
    page = await open_view("/screen")
    live.commit("ru", "Добрый день, уважаемые коллеги.")
    live.commit("en", "Good afternoon, dear colleagues.", source="interpretation")
    live.commit("en", "Today we discuss climate finance.", source="machine")
    await expect_shown(page, "ru", "Добрый день, уважаемые коллеги.")
    await expect_shown(page, "en",
                       "Good afternoon, dear colleagues. Today we discuss climate finance.")
    en = page.locator('.pane[data-lang="en"]')
    await expect(en.locator(".src-interpretation .tag")).to_have_text("Interpretation")
    await expect(en.locator(".src-machine .tag")).to_have_text("Machine translation")
    await expect(en.locator(".source-badge")).to_have_text("Machine translation")
    await expect(page.locator('.pane[data-lang="ru"] .tag')).to_have_count(0)


async def test_overlay_for_english_shows_only_english(live, open_view):
    live.commit("ru", "Только по-русски.")
    live.commit("en", "English only.", source="machine")
    page = await open_view("/overlay?lang=en&lines=2&size=36")
    await expect(page.locator(FINAL.format(lang="en"))).to_have_text(["English only."])
    await expect(page.locator(".box")).to_have_count(1)
    await expect(page.locator("body")).not_to_contain_text("Только")
    await expect(page.locator(".box .label")).to_have_text("Machine translation")
    live.commit("ru", "Ещё по-русски.")
    live.commit("en", "More English.")
    await expect(page.locator(FINAL.format(lang="en"))).to_have_text(
        ["English only.", "More English."])
    await expect(page.locator("body")).not_to_contain_text("Ещё")


async def test_phone_language_choice_is_kept(live, open_view):
    live.commit("ru", "Привет.")
    live.commit("en", "Hello.")
    page = await open_view("/")
    shown = page.locator(".lines:visible .cap.final .text")
    await expect(shown).to_have_text(["Hello."])  # en-US browser: English first
    await page.get_by_role("radio", name="Русский").click()
    await expect(shown).to_have_text(["Привет."])
    size_before = await page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--size')")
    await page.get_by_role("button", name="Larger text").click()
    await page.reload()
    await wait_conn(page)
    await expect(page.get_by_role("radio", name="Русский")).to_have_attribute(
        "aria-checked", "true")
    await expect(shown).to_have_text(["Привет."])
    size_after = await page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--size')")
    assert int(size_after.strip().removesuffix("px")) > int(size_before.strip().removesuffix("px"))


@pytest.mark.parametrize("path", VIEWS)
async def test_partial_is_replaced_by_committed_text(live, open_view, path):
    page = await open_view(path)
    live.partial("en", "Water resources", id="u1")
    partial = page.locator(PARTIAL.format(lang="en"))
    await expect(partial).to_have_text(["Water resources"])
    assert await partial.evaluate("el => getComputedStyle(el).fontStyle") == "italic"
    live.partial("en", "Water resources in the region", id="u1", revision=1)
    await expect(partial).to_have_text(["Water resources in the region"])
    live.commit("en", "Water resources in the region are shrinking.", id="u1")
    await expect_shown(page, "en", "Water resources in the region are shrinking.")
    await expect(partial).to_have_count(0)
    await expect_shown(page, "en", "", kind="partial")
    final = page.locator(FINAL.format(lang="en")).first
    assert await final.evaluate("el => getComputedStyle(el).fontStyle") == "normal"


@pytest.mark.parametrize("path", VIEWS)
async def test_markup_in_captions_is_shown_literally(live, open_view, path):
    page = await open_view(path)
    texts = ['<script>window.__pwned=1</script>',
             '<img src=x onerror="window.__pwned=1">',
             '<b>bold</b> &amp; <a href="javascript:window.__pwned=1">link</a>']
    for text in texts:
        live.commit("en", text)
    live.partial("en", '<img src=y onerror="window.__pwned=2">', id="p")
    await expect_shown(page, "en", " ".join(texts), spaces=False)
    await expect_shown(page, "en", '<img src=y onerror="window.__pwned=2">', kind="partial")
    captions = page.locator('[data-lang="en"]')
    await expect(captions.locator("img, script, b, a")).to_have_count(0)
    assert await page.evaluate("window.__pwned") is None


async def test_overlay_background_is_transparent(live, open_view):
    page = await open_view("/overlay?lang=both&position=bottom")
    live.commit("en", "A lower third over the programme.")
    live.commit("ru", "Нижняя треть поверх программы.")
    box = page.locator('.box[data-lang="en"]')
    await expect(box).to_be_visible()
    for element in ("document.documentElement", "document.body"):
        colour = await page.evaluate(f"getComputedStyle({element}).backgroundColor")
        assert colour == "rgba(0, 0, 0, 0)", element
    away = await page.screenshot(omit_background=True,
                                 clip={"x": 20, "y": 20, "width": 4, "height": 4})
    assert alpha_at(away, 1, 1) == 0
    bounds = await box.bounding_box()
    inside = await page.screenshot(omit_background=True, clip={
        "x": bounds["x"] + 4, "y": bounds["y"] + 4, "width": 4, "height": 4})
    assert alpha_at(inside, 1, 1) > 128  # the text box itself is drawn


async def test_the_overlay_s_reconnecting_dot_shows_only_while_the_feed_is_away(live, open_view):
    shown = await open_view("/overlay?lang=en")
    hidden = await open_view("/overlay?lang=en&indicator=0")
    live.commit("en", "Live.")
    for page in (shown, hidden):
        await expect_shown(page, "en", "Live.")
        await expect(page.locator(".conn-dot")).to_have_css("opacity", "0")
    await live.stop()
    for page in (shown, hidden):
        await wait_conn(page, "reconnecting")
    await expect(shown.locator(".conn-dot")).to_have_css("opacity", "0.9")
    await expect(hidden.locator(".conn-dot")).to_have_css("opacity", "0")  # indicator=0
    await live.start()
    await wait_conn(shown)
    await expect(shown.locator(".conn-dot")).to_have_css("opacity", "0")


async def test_screen_shows_statuses(live, open_view):
    page = await open_view("/screen")
    live.commit("en", "Before the break.")
    live.status("paused")
    holding = page.locator("#holding")
    await expect(holding).to_be_visible()
    await expect(holding).to_contain_text("Captions paused")
    await expect_shown(page, "en", "Before the break.")
    live.status("translation_unavailable", lang="en")
    await expect(page.locator('.pane[data-lang="en"] .notice')).to_have_text(
        "Translation unavailable")
    await expect(page.locator('.pane[data-lang="ru"] .notice')).to_be_hidden()
    live.status("listening")
    await expect(holding).to_be_hidden()


async def test_views_reconnect_after_a_server_restart(live, open_view):
    # Four lines of overlay, so that every caption of the test is in view.
    pages = [await open_view(path) for path in ["/screen", "/overlay?lang=both&lines=4",
                                                "/?lang=en"]]
    live.commit("en", "One.")
    live.commit("ru", "Раз.")
    for page in pages:
        await expect_shown(page, "en", "One.")

    await live.stop()
    for page in pages:
        await wait_conn(page, "reconnecting")
        await expect_shown(page, "en", "One.")
    live.commit("en", "Two.")  # while the views are away: they catch up on return
    await live.start()
    live.commit("en", "Three.")
    for page in pages:
        await expect_shown(page, "en", "One. Two. Three.")  # nothing lost, nothing twice
        await wait_conn(page)

    # A new process with a new session numbers from 1 again; the views keep what they have.
    await live.stop()
    await live.start(new_session=True)
    live.commit("en", "Four.")
    for page in pages:
        await expect_shown(page, "en", "One. Two. Three. Four.")
        await expect_shown(page, "ru", "Раз.")


async def test_overlay_keeps_two_lines_under_the_line_rule(live, open_view):
    page = await open_view("/overlay?lang=en")
    words = ("Water resources in the region are shrinking, so we need shared solutions "
             "and new investment in agriculture across the whole of Central Asia.").split()
    for i in range(0, len(words), 3):
        live.commit("en", " ".join(words[i:i + 3]), id="u-long")
    clip = page.locator('.box[data-lang="en"] .roll-clip')
    # Lines are held for their reading time before they scroll off: give it time.
    await expect(clip).to_have_attribute("data-pending", "0", timeout=60_000)
    lines = page.locator('.box[data-lang="en"] .line:not(.leaving):not(.empty)')
    texts = await lines.all_text_contents()
    assert 1 <= len(texts) <= 2
    assert all(len(text) <= 42 for text in texts)
    shown = " ".join(texts).split()
    assert shown == words[len(words) - len(shown):]  # the end of what was said
