"""QA review pages (streams/qa_html.py): escaping, content, and a real headless Chromium render."""
from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from streams.qa_html import page_name, render_index, render_sample, write_pages

CHROMIUM = "/usr/bin/chromium"


def _row(**over) -> dict:
    row = {
        "sample_id": "s-0001",
        "day": "2024-05-02",
        "entity_kind": "conversation",
        "entity_id": "conv-42",
        "agent_id": "agent-7",
        "channel": "chat",
        "queue": "billing",
        "reasons": ["low_csat", "breached"],
        "priority": 80,
        "rule_version": "qa-2024.1",
        "seed": 12345,
        "status": "pending",
        "score": None,
        "transcript": [
            {"role": "customer", "author_id": "c-1", "at": "2024-05-02T01:00:00Z",
             "text": "Hi, my card [CARD] was charged twice <script>alert(1)</script>"},
            {"role": "bot", "author_id": None, "at": "2024-05-02T01:00:05Z",
             "text": "An agent will be with you shortly."},
            {"role": "agent", "author_id": "agent-7", "at": "2024-05-02T01:02:00Z",
             "text": "Hello! Sorry about that, I'll refund the duplicate charge now."},
            {"role": "system", "author_id": None, "at": "2024-05-02T01:03:00Z",
             "text": "conversation transferred"},
            {"role": "customer", "author_id": "c-1", "at": "2024-05-02T01:04:00Z",
             "text": "Thanks & bye \"quoted\" 'single'"},
        ],
        "checks": [
            {"check": "greeting", "passed": True, "evidence": []},
            {"check": "closing", "passed": False, "evidence": ["no closing by agent <b>x</b>"]},
            {"check": "response_gaps", "passed": False, "evidence": ["gap 120s at turn 2"]},
        ],
    }
    row.update(over)
    return row


def test_escapes_user_content():
    page = render_sample(_row(agent_id="<img src=x onerror=alert(2)>",
                              reasons=["<i>r</i>"]))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;i&gt;r&lt;/i&gt;" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "Thanks &amp; bye &quot;quoted&quot; &#x27;single&#x27;" in page
    # no external resources
    for bad in ("http://", "https://", "<link", "src=\"", "@import"):
        assert bad not in page
    index = render_index([_row(entity_id="<script>x</script>")])
    assert "<script" not in index.lower()


def test_content():
    page = render_sample(_row())
    for text in ("agent-7", "conv-42", "chat", "2024-05-02", "low_csat", "breached",
                 "qa-2024.1", "12345", "greeting", "closing", "response_gaps", "passed",
                 "failed", "gap 120s at turn 2", "2024-05-02T01:02:00Z",
                 "class=\"msg customer\"", "class=\"msg agent\"", "class=\"msg bot\"",
                 "class=\"msg system\""):
        assert text in page, text
    index = render_index([_row(), _row(sample_id="s-0002", entity_id="conv-43", checks=[])])
    assert 'href="s-0001.html"' in index and 'href="s-0002.html"' in index
    assert "conv-43" in index and "closing, response_gaps" in index


def test_write_pages(tmp_path):
    rows = [_row(), _row(sample_id="a/../b c", entity_id="conv-9")]
    paths = write_pages(rows, tmp_path / "out")
    assert [p.name for p in paths] == ["index.html", "s-0001.html", page_name("a/../b c")]
    assert all(p.parent == tmp_path / "out" and p.is_file() for p in paths)
    assert "conv-9" in paths[2].read_text(encoding="utf-8")


# ----------------------------------------------------------------- a tiny PNG reader

def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, rows of raw pixel bytes, bytes per pixel) of an 8-bit RGB/RGBA non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif ctype == b"IDAT":
            idat.append(chunk)
        elif ctype == b"IEND":
            break
    assert ihdr is not None
    width, height, depth, color, _, _, interlace = ihdr
    assert depth == 8 and color in (2, 6) and interlace == 0, ihdr
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    i = 0
    for _ in range(height):
        ftype = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 0xFF
            elif ftype == 4:
                line[x] = (line[x] + _paeth(a, b, c)) & 0xFF
            else:
                assert ftype == 0, ftype
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def test_chromium_screenshot(tmp_path):
    if not (Path(CHROMIUM).is_file() or shutil.which("chromium")):
        pytest.fail("chromium is missing: run scripts/install-system.sh "
                    "(installs the Debian `chromium` package)")
    exe = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    pages = write_pages([_row()], tmp_path / "pages")
    page = pages[1]
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--window-size=1000,800", f"--screenshot={shot}",
           page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, timeout=60)
    assert shot.is_file(), (proc.returncode, proc.stderr[-2000:])
    width, height, rows, bpp = _png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 800)
    colours = set()
    for r in rows[::2]:
        for x in range(0, len(r), bpp * 2):
            colours.add(r[x:x + 3])
    assert len(colours) > 20, f"screenshot looks blank: {len(colours)} colours"
