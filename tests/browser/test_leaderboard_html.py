"""The leaderboard's HTML page in headless Chromium: it renders, and model responses that try to inject
script (<script>, <img onerror>, <svg onload>, an iframe, a javascript: link) run nothing.

Each payload (tests/fixtures/leaderboard_fixture.py), if it ran, would set the title to 'PWNED' or add an
element with id 'XSS-FIRED'; both strings are assembled at run time, so finding them in the DOM Chromium
dumps after load means a payload executed. A deliberately unescaped copy of the page shows that this check
does catch execution. Skipped without Chromium unless CI is set (tests/browser/conftest.py).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from sdbench.leaderboard import LeaderboardConfig, leaderboard
from sdbench.leaderboard_html import CSP, esc
from tests.fixtures.leaderboard_fixture import EVIL_MODEL, PAYLOADS, write_leaderboard_fixture

TITLE = "sdbench leaderboard: multipanel v1"
DUMP = ("--dump-dom", "--virtual-time-budget=2000")  # let load handlers and timers run before the dump


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    results = write_leaderboard_fixture(root / "results")
    leaderboard(LeaderboardConfig(results=results, task="multipanel", out=root / "boards", format="html",
                                  examples_per_run=len(PAYLOADS)))
    return root / "boards" / "multipanel-v1.html"


@pytest.fixture(scope="module")
def dom(page, chromium) -> str:
    """The page's DOM after load, as Chromium serialises it."""
    return chromium(page, *DUMP)


def title_of(dom: str) -> str:
    found = re.search(r"<title>(.*?)</title>", dom, re.S)
    return html.unescape(found.group(1)) if found else ""


def fired(dom: str) -> bool:
    """Whether a payload ran: the marker element, the title it sets, or any other page (a redirect)."""
    return "XSS-FIRED" in dom or title_of(dom) != TITLE


# the payloads that run script; the last one navigates away instead (<meta http-equiv="refresh">)
SCRIPT_PAYLOADS = tuple(p for p in PAYLOADS if "refresh" not in p)


def variant(page: Path, name: str, keep_csp: bool, raw: tuple[str, ...] = ()) -> Path:
    """A copy of `page` without its CSP meta tag and/or with the responses `raw` written in unescaped."""
    text = page.read_text(encoding="utf-8")
    if not keep_csp:
        text = text.replace(f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">', "")
        assert "Content-Security-Policy" not in text
    for payload in raw:
        assert esc(payload) in text
        text = text.replace(esc(payload), payload)
    path = page.with_name(name)
    path.write_text(text, encoding="utf-8")
    return path


def test_page_renders(page, dom, chromium, tmp_path):
    assert title_of(dom) == TITLE
    assert '<table class="board">' in dom and "<th>K=8</th>" in dom and "<h2>Example responses</h2>" in dom
    for method in ("sd-grpo", "hybrid", "grpo"):
        assert f"<td>{method}</td>" in dom
    assert dom.count('src="data:image/png;base64,') == 3
    shot = tmp_path / "page.png"
    chromium(page, f"--screenshot={shot}", "--window-size=1200,1600")
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is None or len(colors) > 50  # text, tables and plots drawn; not a blank page


def test_injected_script_runs_nothing(dom):
    assert not fired(dom)
    assert title_of(dom) == TITLE
    for payload in PAYLOADS:  # each response is on the page, as text
        assert html.escape(payload, quote=False) in dom
    assert html.escape(EVIL_MODEL, quote=False) in dom
    assert not re.search(r"<(script|svg|iframe|a)\b", dom, re.I)


def test_escaping_alone_runs_nothing(page, chromium):
    """Without the Content-Security-Policy (defence in depth) the escaped page still runs nothing."""
    dom = chromium(variant(page, "no-csp.html", keep_csp=False), *DUMP)
    assert not fired(dom)


def test_the_check_catches_an_unescaped_page(page, chromium):
    """Control: the same responses written in unescaped, without the CSP, do run; the checks above are live."""
    dom = chromium(variant(page, "vulnerable.html", keep_csp=False, raw=SCRIPT_PAYLOADS), *DUMP)
    assert "XSS-FIRED" in dom and title_of(dom) == "PWNED"


def test_the_csp_alone_stops_the_scripts(page, chromium):
    """Defence in depth: were escaping ever missed, the CSP still blocks inline script and handlers."""
    dom = chromium(variant(page, "csp-only.html", keep_csp=True, raw=SCRIPT_PAYLOADS), *DUMP)
    assert not fired(dom)
