"""The HTML report (streams/report_html.py): self-contained, escaped, and really drawn: a
generated month rendered in headless Chromium must show the charts' colours."""
from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from streams.core.policy import load_policies
from streams.core.qa_rules import load_qa_rules
from streams.generator import GeneratorConfig, generate
from streams.report import Period, build_report, events_inputs
from streams.report_html import GOOD, PALETTE, render_html
from streams.settings import DEFAULT_RULES
from tests.test_qa_html import CHROMIUM, _png_pixels

CST = timezone(timedelta(hours=8))
HOSTILE_CHANNEL = "<script>alert('c')</script>"
HOSTILE_CATEGORY = '"><img src=x onerror=alert(1)>'
HOSTILE_AGENT = "<script>"


def _month_html(hostile: bool) -> str:
    events = list(generate(GeneratorConfig(seed=5, start=datetime(2026, 11, 1, tzinfo=CST),
                                           days=30, conversations_per_day=30,
                                           tickets_per_day=8)))
    if hostile:
        for i, e in enumerate(events):
            if e["type"] == "conversation.started" and i % 7 == 0:
                events[i] = {**e, "channel": HOSTILE_CHANNEL}
            elif e["type"] == "ticket.created" and i % 5 == 0:
                events[i] = {**e, "category": HOSTILE_CATEGORY}
            elif e["type"] == "conversation.assigned":
                events[i] = {**e, "agent_id": HOSTILE_AGENT}
    period = Period.parse("2026-11-01", "2026-11-30")
    got = events_inputs([orjson.dumps(e) for e in events], load_policies(DEFAULT_RULES), period,
                        load_qa_rules(DEFAULT_RULES.parent / "qa.yaml"))
    report = build_report(period, got.cells, got.counts, got.qa, source="events <b>bold</b>.jsonl")
    return render_html(report)


@pytest.fixture(scope="module")
def page() -> str:
    return _month_html(hostile=False)


def test_self_contained(page):
    lower = page.lower()
    for bad in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url(",
                "http:", "https:", "src=", "href=", "xlink:"):
        assert bad not in lower, bad
    assert "<svg" in page and page.count("<svg") >= 10
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page


def test_content(page):
    for text in ("Service report 2026-11-01 to 2026-11-30", "Asia/Shanghai",
                 "Volume and channel share", "First response by channel", "hour of day",
                 "weekday vs weekend", "customer tier", "Resolution by category",
                 "Urgent tickets", "CSAT", "SLA attainment by policy", "Quality assurance",
                 "QA checks", "Notes", "web-chat", "first_response", "greeting"):
        assert text in page, text
    # Escaped once, not twice: a source name with markup shows as text.
    assert "events &lt;b&gt;bold&lt;/b&gt;.jsonl" in page


def test_hostile_strings_are_escaped():
    page = _month_html(hostile=True)
    lower = page.lower()
    assert "<script" not in lower and "<img" not in lower
    assert "&lt;script&gt;alert(&#x27;c&#x27;)&lt;/script&gt;" in page      # channel
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page           # category
    assert "onerror=alert(1)>" not in page


def test_empty_report_renders():
    period = Period.parse("2027-01-01", "2027-01-31")
    html = render_html(build_report(period, {}, {}, None, "nothing"))
    assert "No data in this period." in html and "No QA data" in html and "<script" not in html


def test_chromium_screenshot_shows_the_charts(page, tmp_path):
    exe = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if not exe:
        pytest.fail("chromium is missing: run scripts/install-system.sh "
                    "(installs the Debian `chromium` package)")
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    shot = tmp_path / "shot.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400",
           f"--screenshot={shot}", path.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, timeout=60)
    assert shot.is_file(), (proc.returncode, proc.stderr[-2000:])
    width, height, rows, bpp = _png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 2400)
    colours: set[bytes] = set()
    pixels: dict[bytes, int] = {}
    for r in rows[::2]:
        for x in range(0, len(r), bpp * 2):
            px = r[x:x + 3]
            colours.add(px)
            pixels[px] = pixels.get(px, 0) + 1
    assert len(colours) > 60, f"screenshot looks blank: {len(colours)} colours"

    def count(hex_colour: str) -> int:
        return pixels.get(bytes.fromhex(hex_colour[1:]), 0)

    # Bars are drawn in the palette's exact colours: the charts themselves are on screen
    # (sampled every other pixel and row, so these are a quarter of the bar area).
    for colour in (PALETTE[0], PALETTE[1], PALETTE[2], GOOD):
        assert count(colour) > 150, (colour, count(colour))
    non_white = sum(n for px, n in pixels.items() if px != b"\xff\xff\xff")
    assert non_white > 0.2 * sum(pixels.values())
    # The page itself must have asked for nothing outside it.
    assert not re.search(rb"ERR_(FILE_NOT_FOUND|NAME_NOT_RESOLVED|BLOCKED)", proc.stderr)
