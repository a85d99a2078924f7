"""The views over HTTP as pure units: the web root table, answers, URLs, QR codes."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from captioner.delivery.views import (
    StaticFile,
    load_web_root,
    static_response,
    terminal_qr,
    view_urls,
)


def test_web_root_table_holds_only_servable_files(tmp_path):
    (tmp_path / "index.html").write_text("<p>x</p>")
    (tmp_path / ".secret.html").write_text("no")
    (tmp_path / "notes.py").write_text("no")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.css").write_text("a{}")
    assert sorted(load_web_root(tmp_path)) == ["/index.html", "/sub/a.css"]


def test_terminal_qr_is_text():
    text = terminal_qr("http://192.168.1.20:8765/")
    if text is None:
        pytest.skip("qrcode is not installed")
    lines = text.splitlines()
    assert len(lines) > 10 and any("█" in line for line in lines)


def test_a_view_is_answered_from_the_table_with_the_csp_and_anything_else_is_404():
    files = {"/screen.html": StaticFile(b"<!doctype html>", "text/html; charset=utf-8"),
             "/feed.js": StaticFile(b"//", "text/javascript; charset=utf-8")}
    page = static_response(files, "/screen")
    assert page.status_code == HTTPStatus.OK and page.body == b"<!doctype html>"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = static_response(files, "/feed.js")
    assert "Content-Security-Policy" not in script.headers
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    assert static_response(files, "/screen.htm").status_code == HTTPStatus.NOT_FOUND


def test_view_urls_bracket_an_ipv6_host():
    urls = view_urls("::1", 8765)
    assert urls["phone"] == "http://[::1]:8765/"
    assert urls["ws"] == "ws://[::1]:8765/ws"
