"""The main job as a newcomer meets it: the demo through ``captioner run``, in Chromium.

The real Whisper model captions the synthesised bilingual demo recording; the views'
DOM is then checked against the committed captions of the session: one paragraph per
utterance (and per change of source), every committed word once and in order, and on
``/screen`` at most N lines in view, none longer than the line rule, showing the end of
the committed text. With no microphone the demo loops and the views stay live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from bench.chromium import CHROMIUM, CHROMIUM_ARGS, chromium_available
from captioner.runner import DEMO_RECORDING
from tests.browser import ARTIFACTS
from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

playwright = pytest.importorskip("playwright.async_api")
if not chromium_available():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)
expect = playwright.expect

MAX_CHARS = {"en": 42, "ru": 39}
SCREEN_LINES = 6
PAUSE_S = 3.0  # web_overlay/paragraphs.js PARAGRAPH_PAUSE_S


class Run:
    """``captioner run`` in a subprocess, serving on a free port of 127.0.0.1."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = tmp / "stderr.txt"
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "captioner", "run", "--port", "0", "--host", "127.0.0.1",
             "--no-record", "-v", *args],
            cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
            stderr=self._log_file)
        self.base = ""

    async def ready(self, timeout_s: float = 180.0) -> str:
        """Waits for the URLs the run announces; returns the base URL."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            found = re.search(r"phone\s+(http://127\.0\.0\.1:\d+)/", self.stderr())
            if found:
                self.base = found.group(1)
                return self.base
            assert self.proc.poll() is None, self.stderr()
            await asyncio.sleep(0.2)
        raise AssertionError(f"no URLs announced:\n{self.stderr()}")

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def health(self) -> dict:
        with urllib.request.urlopen(self.base + "/healthz", timeout=10) as reply:
            return json.loads(reply.read())

    def interrupt(self, timeout_s: float = 120.0) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._log_file.close()


async def history(base: str) -> tuple[list[dict], list[dict]]:
    """The committed captions and statuses a viewer connecting now is sent."""
    captions, statuses = [], []
    async with connect(base.replace("http://", "ws://") + "/ws") as ws:
        hello = json.loads(await ws.recv())
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg["type"] == "status":
                statuses.append(msg)
            elif msg["final"]:
                captions.append(msg)
            if hello["last_seq"] is None or (msg.get("seq") or 0) >= hello["last_seq"]:
                return captions, statuses


def expected_paragraphs(captions: list[dict], lang: str) -> list[list[str]]:
    """The phone's paragraphs, from the rule: same utterance, same source, no long pause."""
    paras: list[list[str]] = []
    last = None
    for c in (c for c in captions if c["lang"] == lang):
        key = (c.get("utterance") or c["id"], c["source"])
        if last is None or last[0] != key or c["start_s"] - last[1] > PAUSE_S:
            paras.append([])
            last = [key, c["end_s"]]
        paras[-1].append(c["text"])
        last[1] = max(last[1], c["end_s"])
    return paras


@contextlib.asynccontextmanager
async def browser_pages(base: str, paths: list[str], name: str):
    async with playwright.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await chromium.new_context(viewport={"width": 1280, "height": 720},
                                             locale="en-US")
        errors: list[str] = []
        pages = []
        for path in paths:
            page = await context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + path)
            await expect(page.locator("html")).to_have_attribute("data-conn", "live")
            pages.append(page)
        try:
            yield pages
        except BaseException:
            ARTIFACTS.mkdir(exist_ok=True)
            for i, page in enumerate(pages):
                await page.screenshot(path=ARTIFACTS / f"{name}-{i}.png")
            raise
        finally:
            await context.close()
            await chromium.close()
        assert not errors, errors


SCREEN_STATE = """(lang) => {
  const pane = document.querySelector(`.pane[data-lang="${lang}"]`);
  const clip = pane.querySelector(".roll-clip");
  const box = clip.getBoundingClientRect();
  const lines = [...pane.querySelectorAll(".line:not(.leaving):not(.empty)")];
  return {
    pending: clip.dataset.pending,
    lines: lines.filter((l) => !l.classList.contains("label")).map((l) => ({
      text: l.textContent,
      committed: [...l.querySelectorAll(".cap.final .text")].map((t) => t.textContent).join(" "),
      inside: (() => { const r = l.getBoundingClientRect();
                       return r.top >= box.top - 1 && r.bottom <= box.bottom + 1; })(),
      overflows: l.scrollWidth > l.clientWidth + 1,
    })),
    shown: lines.length,
  };
}"""

PHONE_PARAGRAPHS = """(lang) => [...document.querySelectorAll(
    `.lines[data-lang="${lang}"] .para:not(.provisional)`)].map(
    (p) => [...p.querySelectorAll(".cap.final .text")].map((t) => t.textContent))"""


async def test_demo_file_played_through_run_reads_as_paragraphs_and_lines(tmp_path, model_dir):
    run = Run(tmp_path, "--input", str(DEMO_RECORDING), "--speed", "2")
    try:
        base = await run.ready()
        paths = ["/?lang=en", "/?lang=ru", f"/screen?lines={SCREEN_LINES}"]
        async with browser_pages(base, paths, "demo-file") as (phone_en, phone_ru, screen):
            # The views show that the session ended, and the run goes on serving them.
            await expect(phone_en.locator("#notices")).to_contain_text("Session ended",
                                                                       timeout=300_000)
            assert run.proc.poll() is None, "the run must keep serving after the file ends"
            assert run.health()["status"] == "ok"
            captions, _ = await history(base)
            assert captions, run.stderr()
            for page, lang in ((phone_en, "en"), (phone_ru, "ru")):
                want = expected_paragraphs(captions, lang)
                got = await page.evaluate(PHONE_PARAGRAPHS, lang)
                assert got == want, lang
                words = " ".join(c["text"] for c in captions if c["lang"] == lang).split()
                shown = " ".join(" ".join(p) for p in got).split()
                assert shown == words  # every committed word once, in order
            # Every line has rolled in and the last glide up has finished: in the
            # middle of a glide the newest line is still partly below the box.
            await screen.wait_for_function(
                "() => [...document.querySelectorAll('.roll-clip')]"
                ".every((c) => c.dataset.pending === '0' && c.querySelector('.roll')"
                ".getAnimations().every((a) => a.playState !== 'running'))",
                timeout=60_000)
            for lang in ("en", "ru"):
                state = await screen.evaluate(SCREEN_STATE, lang)
                assert state["shown"] <= SCREEN_LINES
                words = " ".join(c["text"] for c in captions if c["lang"] == lang).split()
                visible = " ".join(line["committed"] for line in state["lines"]).split()
                if words:
                    assert visible, lang
                assert visible == words[len(words) - len(visible):], lang  # a suffix
                for line in state["lines"]:
                    assert len(line["text"]) <= MAX_CHARS[lang], line
                    assert line["inside"] and not line["overflows"], line
        assert run.interrupt() == 0, run.stderr()
    finally:
        run.kill()


# The suite's own virtual microphone (tests/pulse.py) lives in a PulseAudio server that
# the run must not find: pointed at no server, the ALSA "default" device has none.
NO_SOUND_SERVER = {"PULSE_SERVER": "unix:/nonexistent/pulse"}


def _has_microphone(env: dict[str, str]) -> bool:
    probe = ("from captioner.runner import _default_device_available as d; "
             "raise SystemExit(0 if d() else 1)")
    return subprocess.run([sys.executable, "-c", probe], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, timeout=60).returncode == 0


async def test_with_no_microphone_the_demo_loops_and_the_views_stay_live(tmp_path, model_dir):
    if _has_microphone(NO_SOUND_SERVER):
        pytest.skip("this machine has a sound card with a microphone: the run would capture it")
    run = Run(tmp_path, "--speed", "3", env=NO_SOUND_SERVER)
    try:
        base = await run.ready()
        assert "DEMO" in run.stderr()
        async with browser_pages(base, ["/screen"], "demo-loop") as (screen,):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 400
            while run.health().get("input_pass", 0) < 3:  # two whole passes played
                assert loop.time() < deadline, run.stderr()
                assert run.proc.poll() is None, run.stderr()
                await asyncio.sleep(0.5)
            captions, statuses = await history(base)
            duration = next(s["duration_s"] for s in statuses if s["state"] == "listening")
            # Stream time runs on: the second pass is captioned after the first.
            later = [c for c in captions if c["start_s"] > duration]
            assert later, [c["start_s"] for c in captions]
            assert not [s for s in statuses if s["state"] == "stopped"]
            assert await screen.locator("html").get_attribute("data-conn") == "live"
            await expect(screen.locator("body")).not_to_contain_text("Session ended")
            await expect(screen.locator(".line .cap.final").first).to_be_attached()
        assert run.interrupt() == 0, run.stderr()
    finally:
        run.kill()
