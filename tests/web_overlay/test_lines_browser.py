"""The views' line rules and paragraph and roll-up logic, in headless Chromium.

``web_overlay/lines.js`` runs the same case table as ``captioner.layout``
(``tests/layout_cases.json``); the pure parts of ``paragraphs.js`` and ``rollup.js``
are driven with made-up clocks; a 2,000-caption session checks the phone's DOM bound.
"""

from __future__ import annotations

import time

import pytest
import pytest_asyncio

from captioner.delivery.broadcast import Broadcaster
from captioner.delivery.server import CaptionServer
from captioner.events import Caption
from tests import browser as browsing
from tests.test_layout_cases import CASES

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

playwright = browsing.require_chromium()
expect = playwright.expect
browser = browsing.browser


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server():
    broadcaster = Broadcaster()
    srv = CaptionServer(broadcaster, host="127.0.0.1", port=0)
    await srv.start()
    yield srv, broadcaster
    await srv.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def page(browser, server):
    """A page of the server, so that the view modules import as they do in the views."""
    srv, _ = server
    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{srv.port}/healthz")
    yield page
    await page.close()


async def test_lines_js_matches_the_table(page):
    got = await page.evaluate("""async (cases) => {
        const m = await import("/lines.js");
        return {
          rolling: cases.rolling_lines.map(
            (c) => m.rollingLines(c.history, c.max_chars, c.max_lines)),
          reading: cases.reading_time_s.map((c) => m.readingTimeS(c.text, {
            min_duration_s: c.min_duration_s, max_cps: c.max_cps})),
        };
    }""", CASES)
    assert len(got["rolling"]) == len(CASES["rolling_lines"]) > 50
    for case, lines in zip(CASES["rolling_lines"], got["rolling"], strict=True):
        assert lines == case["lines"], case["history"]
    for case, seconds in zip(CASES["reading_time_s"], got["reading"], strict=True):
        assert seconds == pytest.approx(case["seconds"]), case["text"]


async def test_layout_from_hello_takes_what_is_valid(page):
    got = await page.evaluate("""async () => {
        const m = await import("/lines.js");
        return [m.layoutFrom({}), m.layoutFrom({layout: {max_chars: {en: 30, ru: "x"},
                 min_duration_s: 2, max_cps: -1}}), m.maxCharsFor("ru-RU"), m.maxCharsFor("de")];
    }""")
    default, custom, ru, other = got
    assert default["max_chars"] == {"en": 42, "ru": 39}
    assert custom["max_chars"] == {"en": 30, "ru": 39}
    assert custom["min_duration_s"] == 2 and custom["max_cps"] == 17
    assert (ru, other) == (39, 42)


async def test_paragraphs_follow_utterances_sources_and_pauses(page):
    got = await page.evaluate("""async () => {
        const { Paragraphs } = await import("/paragraphs.js");
        const m = new Paragraphs();
        const c = (id, text, start, source = "floor", extra = {}) => m.commit(
            { id, text, start_s: start, end_s: start + 0.5, source, input: "floor", ...extra });
        c("floor-1", "We will", 0); c("floor-1", "present the", 0.6);
        m.partial({ id: "floor-1", text: "new plan", revision: 4, input: "floor" });
        const attached = m.attached(m.partials.get("floor"));
        c("floor-1", "new national plan.", 1.2);
        c("floor-2", "Thank you.", 3);                       // a new utterance
        c("mt-floor-9", "Спасибо.", 3, "machine", { utterance: "floor-2" });
        c("mt-floor-10", "Наш банк готов.", 3.5, "machine", { utterance: "floor-2" });
        c("floor-2", "after a long pause", 9);                // same id, 5 s later
        // A late revision of a committed partial does not come back.
        m.partial({ id: "floor-1", text: "new plan", revision: 4, input: "floor" });
        return { attached, partials: m.partials.size,
                 paras: m.paras.map((p) => [p.key, p.source, p.labelled, p.texts]) };
    }""")
    assert got["attached"] is True
    assert got["partials"] == 0
    assert got["paras"] == [
        ["floor-1", "floor", False, ["We will", "present the", "new national plan."]],
        ["floor-2", "floor", False, ["Thank you."]],
        ["floor-2", "machine", True, ["Спасибо.", "Наш банк готов."]],
        ["floor-2", "floor", False, ["after a long pause"]],
    ]


async def test_roll_window_moves_one_line_at_a_time_and_waits_for_reading(page):
    got = await page.evaluate("""async () => {
        const { RollWindow } = await import("/rollup.js");
        const text = () => "x".repeat(34);        // 2 s to read at 17 characters a second
        const w = new RollWindow(3, { scrollMs: 300, maxBacklog: 4 });
        const steps = [];
        const at = (total, now) => {
          const r = w.advance(total, text, now);
          steps.push([now, w.top, r.moved, r.waitMs]);
        };
        at(1, 0);          // first line glides in at the bottom
        at(3, 100);        // two more at once: one step now is too soon after the last
        at(3, 300); at(3, 600);
        at(4, 700);        // line 0 was shown at 0, needs 2000 ms: wait
        at(4, 2000);
        at(20, 2100);      // far behind the speaker: a jump
        return steps;
    }""")
    tops = [s[1] for s in got]
    moved = [s[2] for s in got]
    assert tops == [-2, -2, -1, 0, 0, 1, 17]
    assert moved == [1, 0, 1, 1, 0, 1, 16]
    assert got[1][3] == pytest.approx(200)   # waits out the glide
    assert got[4][3] == pytest.approx(1300)  # line 0 (shown at 0) needs 2000 ms


async def test_paragraph_lines_split_committed_and_partial(page):
    got = await page.evaluate("""async () => {
        const { paragraphLines } = await import("/rollup.js");
        return paragraphLines(["We will present the new national climate plan and we"],
                              "will propose to", 42);
    }""")
    assert [line["text"] for line in got] == [
        "We will present the new national climate", "plan and we will propose to"]
    assert got[1]["committed"] == "plan and we" and got[1]["partial"] == "will propose to"
    assert got[0]["partial"] == ""


async def test_phone_dom_stays_bounded_in_a_long_session(browser, server, request):
    srv, broadcaster = server
    async with browsing.open_pages(browser, f"http://127.0.0.1:{srv.port}", request,
                                   viewport={"width": 400, "height": 800}) as pages:
        page = await pages.open("/?lang=en")
        base = broadcaster.catchup.last_seq or 0
        for i in range(2000):
            seq = base + i + 1
            # Utterances of 5 fragments, as the recogniser commits them.
            broadcaster.publish(Caption(
                id=f"floor-{seq // 5}", final=True, lang="en", text=f"word{seq} and more",
                start_s=seq * 0.5, end_s=seq * 0.5 + 0.4, emitted_ns=time.time_ns(), seq=seq))
            if i % 100 == 99:
                await page.wait_for_function(
                    "(s) => [...document.querySelectorAll('.lines[data-lang=en] .cap.final')]"
                    ".at(-1)?.dataset.seq === String(s)", arg=seq, timeout=30000)
        last = base + 2000
        finals = page.locator('.lines[data-lang="en"] .cap.final')
        await expect(finals.last).to_have_attribute("data-seq", str(last))
        count = await finals.count()
        assert 900 <= count <= 1000  # the newest 1000 at most, whole paragraphs removed
        texts = await finals.all_text_contents()
        seqs = [int(t.split()[0].removeprefix("word")) for t in texts]
        assert seqs == list(range(last - count + 1, last + 1))  # a suffix, in order
        # Still responsive: the language switch and the pinned scroll position work.
        await page.get_by_role("radio", name="Русский").click()
        await page.get_by_role("radio", name="English").click()
        assert await page.evaluate(
            "(() => { const l = document.getElementById('log');"
            " return l.scrollHeight - l.scrollTop - l.clientHeight < 48; })()")
