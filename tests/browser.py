"""The browser tests' harness: Chromium launched as :mod:`bench.chromium` says, pages
opened in one context whose JavaScript errors fail the test and which are photographed
into ``tests/.artifacts/`` when it fails, and PNG pixels.

A test module takes the module-scoped :func:`browser` fixture by naming it
(``browser = browsing.browser``), as the bus tests take ``nats_server``.
"""

from __future__ import annotations

import contextlib
import re
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio

from bench.chromium import CHROMIUM, CHROMIUM_ARGS, chromium_available

ARTIFACTS = Path(__file__).resolve().parent / ".artifacts"


def require_chromium() -> ModuleType:
    """Playwright's async API; skips the calling test module without it or Chromium.

    Called at a test module's top level, so that a machine without a browser skips the
    module instead of failing to import it.
    """
    playwright = pytest.importorskip("playwright.async_api")
    if not chromium_available():
        pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)
    return playwright


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium, closed (with Playwright) on the way out."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser():
    """One Chromium for a module's tests: launching it takes longer than most tests."""
    async with chromium() as launched:
        yield launched


async def wait_conn(page: Any, state: str = "live") -> None:
    """Waits until a view's feed is in ``state`` (connecting, live, reconnecting)."""
    from playwright.async_api import expect

    await expect(page.locator("html")).to_have_attribute("data-conn", state)


class Pages:
    """The pages a test opens in one browser context, and what went wrong in them."""

    def __init__(self, context: Any, base: str) -> None:
        self.context = context
        self.base = base
        self.opened: list[Any] = []
        #: The JavaScript errors the pages raised: any fails the test.
        self.errors: list[str] = []
        #: The URLs the pages got a 4xx or 5xx answer for (the edge test checks them).
        self.failed_urls: list[str] = []

    async def open(self, path: str, *, live: bool = True) -> Any:
        """Opens ``base + path`` in a new page; waits until its feed is live unless
        ``live=False`` (a page that has to be signed in first)."""
        page = await self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("response",
                lambda r: self.failed_urls.append(r.url) if r.status >= 400 else None)
        self.opened.append(page)
        await page.goto(self.base + path)
        if live:
            await wait_conn(page)
        return page

    async def screenshot(self, test_name: str, *, full_page: bool = False) -> None:
        """Writes ``NAME-I.png`` of every open page into :data:`ARTIFACTS`."""
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", test_name)
        for i, page in enumerate(self.opened):
            await page.screenshot(path=ARTIFACTS / f"{name}-{i}.png", full_page=full_page)


@contextlib.asynccontextmanager
async def open_pages(browser: Any, base: str, request: pytest.FixtureRequest, *,
                     viewport: dict[str, int] | None = None,
                     full_page: bool = False) -> AsyncIterator[Pages]:
    """A fresh English (en-US) context of ``browser`` for one test's pages of ``base``.

    The pages are photographed when the test fails: by an exception through this block,
    or, in a fixture (whose teardown no exception reaches), by the session's failure
    count going up. JavaScript errors fail the test once its context is closed.
    """
    context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 720},
                                        locale="en-US")
    pages = Pages(context, base)
    failed_before = request.session.testsfailed
    try:
        yield pages
    except BaseException:
        await pages.screenshot(request.node.name, full_page=full_page)
        raise
    else:
        if request.session.testsfailed > failed_before:
            await pages.screenshot(request.node.name, full_page=full_page)
    finally:
        await context.close()
    assert not pages.errors, f"JavaScript errors: {pages.errors}"


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png_rgba(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decodes an 8-bit RGBA or RGB PNG (what Chromium writes) into rows of RGBA bytes.

    Returns:
        ``(width, height, rows)``; ``rows[y][4 * x + 3]`` is the alpha of pixel (x, y).
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth={depth} color={color}")
    bpp = 4 if color == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            upleft = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, upleft)) & 0xFF
        prev = line
        if bpp == 3:
            rgba = bytearray()
            for x in range(width):
                rgba += line[3 * x:3 * x + 3] + b"\xff"
            rows.append(bytes(rgba))
        else:
            rows.append(bytes(line))
    return width, height, rows


def alpha_at(png: bytes, x: int, y: int) -> int:
    """The alpha (0-255) of one pixel of a PNG screenshot."""
    _, _, rows = png_rgba(png)
    return rows[y][4 * x + 3]
