"""The leaderboard's HTML page in headless Chromium: it renders without a console message, its tables sort and
its metric / K pickers work, and model responses that try to inject script (<script>, <img onerror>, <svg onload>,
an iframe, a javascript: link) run nothing: the page's one script runs, no other.

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

from sdbench.evaluation.leaderboard.command import LeaderboardConfig, leaderboard
from sdbench.evaluation.leaderboard.page import CSP, SCRIPT, esc
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
    assert '<table class="sortable board">' in dom and re.search(r'<th scope="col"[^>]*>K=8</th>', dom)
    assert "<h2>Example responses</h2>" in dom and '<details class="example">' in dom
    for method in ("sd-grpo", "hybrid", "grpo"):
        assert f"<td>{method}</td>" in dom
    assert dom.count('src="data:image/png;base64,') == 3
    assert 'data-ready="1"' in dom  # the page's own script ran to its end
    shot = tmp_path / "page.png"
    chromium(page, f"--screenshot={shot}", "--window-size=1200,1600")
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is None or len(colors) > 50  # text, tables and plots drawn; not a blank page


def test_no_console_message(page, chromium):
    """No script error, no CSP violation (the page's script matches its hash), no log line of any kind."""
    console: list[str] = []
    chromium(page, *DUMP, console=console)
    assert console == []


def test_injected_script_runs_nothing(dom):
    assert not fired(dom)
    assert title_of(dom) == TITLE
    for payload in PAYLOADS:  # each response is on the page, as text
        assert html.escape(payload, quote=False) in dom
    assert html.escape(EVIL_MODEL, quote=False) in dom
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", dom, re.S | re.I)
    assert scripts == [SCRIPT]  # the page's own script, and no other element that runs code
    assert not re.search(r"<(svg|iframe|a)\b", dom, re.I)


# Drives the page as a reader would (clicks on headers, picks a metric and K, opens an example) and writes what it
# saw into attributes of <body>, which --dump-dom then shows. Run in a copy of the page whose CSP also allows it.
DRIVER = """
window.addEventListener("load", function () {
  var body = document.body, table = document.querySelector("table.board");
  function column(i) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[i].textContent; }).join("|");
  }
  var headline = table.tHead.rows[0].cells[3];
  headline.click(); body.setAttribute("data-ascending", column(0));
  headline.click(); body.setAttribute("data-descending", column(0));
  table.tHead.rows[0].cells[0].click(); body.setAttribute("data-by-method", column(0));
  body.setAttribute("data-aria", headline.getAttribute("aria-sort") + "/" + table.tHead.rows[0].cells[0].getAttribute("aria-sort"));
  function views() {
    return Array.prototype.filter.call(document.querySelectorAll(".view"), function (v) { return !v.hidden; })
      .map(function (v) { return v.getAttribute("data-metric") + "@" + v.getAttribute("data-k"); }).join(",");
  }
  body.setAttribute("data-view-initial", views());
  var metric = document.getElementById("pick-metric"), k = document.getElementById("pick-k");
  metric.value = "rouge_l"; metric.dispatchEvent(new Event("change"));
  k.value = "4"; k.dispatchEvent(new Event("change"));
  body.setAttribute("data-view-picked", views());
  var shown = document.querySelector(".view:not([hidden]) table");
  body.setAttribute("data-view-rows", String(shown.tBodies[0].rows.length));
  var example = document.querySelector("details.example");
  body.setAttribute("data-example-closed", String(!example.open));
  body.setAttribute("data-page-overflows", String(document.documentElement.scrollWidth > window.innerWidth));
  var scrolling = document.querySelector(".scroll");
  body.setAttribute("data-table-scrolls", String(getComputedStyle(scrolling).overflowX));
});
"""


def driven(page: Path) -> Path:
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(DRIVER.encode()).digest()).decode()
    text = page.read_text(encoding="utf-8").replace("script-src ", f"script-src 'sha256-{digest}' ", 1)
    text = text.replace("</body>", f"<script>{DRIVER}</script></body>", 1)
    path = page.with_name("driven.html")
    path.write_text(text, encoding="utf-8")
    return path


def body_attributes(dom: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", dom).group(1)
    return {name: html.unescape(value) for name, value in re.findall(r'(data-[a-z-]+)="([^"]*)"', tag)}


def test_tables_sort_and_pickers_pick(page, chromium):
    console: list[str] = []
    seen = body_attributes(chromium(driven(page), *DUMP, console=console))
    assert console == []
    # multipanel v1 headline means (fixture): grpo 0.470, hybrid 0.530, sd-grpo 0.570
    assert seen["data-ascending"] == "grpo|hybrid|sd-grpo"
    assert seen["data-descending"] == "sd-grpo|hybrid|grpo"
    assert seen["data-by-method"] == "grpo|hybrid|sd-grpo"
    assert seen["data-aria"] == "null/ascending"  # one sorted column at a time, marked for screen readers
    assert seen["data-view-initial"] == "cider_d@all"
    assert seen["data-view-picked"] == "rouge_l@4" and seen["data-view-rows"] == "3"
    assert seen["data-example-closed"] == "true"  # examples start collapsed


@pytest.mark.parametrize("width", [1400, 420])
def test_wide_tables_scroll_inside_their_box_and_the_page_does_not(page, chromium, width):
    """At a laptop's width and a phone's, the page itself never scrolls sideways: wide tables scroll in a box."""
    seen = body_attributes(chromium(driven(page), *DUMP, f"--window-size={width},900"))
    assert seen["data-page-overflows"] == "false" and seen["data-table-scrolls"] == "auto"


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
