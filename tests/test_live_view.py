"""The wall board: rendering real snapshots, and polling a worker that is up or down."""
from __future__ import annotations

import http.server
import threading

import orjson
import pytest
from rich.console import Console

from streams.live_view import fmt_duration, render, run
from streams.status import snapshot, tally_records
from tests.test_status import T0_US, US, WALL, feed, proc, started, world  # noqa: F401 - fixture


def text_of(renderable, styles=False) -> str:
    console = Console(record=True, width=120, force_terminal=True, color_system="truecolor")
    console.print(renderable)
    return console.export_text(styles=styles)


def status_of(processors) -> dict:
    tallies: dict[str, int] = {}
    windows = []
    for p in processors:
        out = p.drain()
        tally_records(tallies, out.records)
        windows += out.windows
    return snapshot(processors, WALL, tallies=tallies, recent_windows=windows)


def row(text: str, channel: str) -> str:
    lines = [l for l in text.splitlines() if l.strip("│┃ ").startswith(channel + " ")]
    assert len(lines) == 1, text
    return lines[0]


def cells(text: str, channel: str) -> list[str]:
    """The table row of `channel`: Channel, Waiting, Over target, Oldest wait, Target,
    Answered, p50, p90."""
    return [c.strip() for c in row(text, channel).strip("│").split("│")]


def test_render_real_snapshot(world):
    status = status_of(world)
    text = text_of(render(status))
    # Header: watermark, lag, events, breaches, warnings, dead letters.
    assert "watermark 2026-11-02T01:01:00Z" in text
    assert "lag 1m30s" in text
    assert "events 12" in text and "breaches 2" in text and "warnings 7" in text
    assert "dead letters 1" in text
    # web: 4 waiting, 2 past target, the oldest (t1, 120 s) over the 15 s target: marked;
    # no first response closed in the last window.
    assert cells(text, "web") == ["web", "4", "2", "2m00s !", "15s", "0", "-", "-"]
    # app: one waiting 15 s against 20 s (not marked); c2 answered in 15 s, within 20 s.
    assert cells(text, "app") == ["app", "1", "0", "15s", "20s", "1", "15s", "15s"]
    assert "late" in text and "3 partitions" in text


def test_over_target_is_red(world):
    board = render(status_of(world))
    plain, styled = text_of(board).splitlines(), text_of(board, styles=True).splitlines()
    web = styled[plain.index(row("\n".join(plain), "web"))]
    app = styled[plain.index(row("\n".join(plain), "app"))]
    # bold red (SGR 1;31) on the over-target count and the oldest wait; nothing red for app.
    assert "\x1b[1;31m    2m00s !\x1b[0m" in web
    assert "\x1b[1;31m          2\x1b[0m" in web
    assert "\x1b[1;31m" not in app


def test_slow_first_responses_are_marked():
    status = {"wall": "2026-11-02T01:05:00Z", "watermark": None, "watermark_lag_s": None,
              "partitions": [], "channels": {},
              "totals": {"events": 0, "breaches": 0, "warnings": 0, "dead_letters": 0},
              "first_response_last_windows": {
                  "wechat": {"count": 40, "p50_s": 12.0, "p90_s": 48.5, "target_s": 30.0}},
              "last_windows": None}
    text = text_of(render(status))
    assert cells(text, "wechat") == ["wechat", "-", "-", "-", "-", "40", "12s", "48s !"]
    assert "watermark none yet" in text


def test_empty_status_renders():
    p = proc("support.conversations", 0, "conversation")
    text = text_of(render(snapshot([p], WALL)))
    assert "no open conversations or tickets yet" in text and "watermark none yet" in text


@pytest.mark.parametrize("sec,expected", [(None, "-"), (3.25, "3.2s"), (42, "42s"),
                                          (185, "3m05s"), (7800, "2h10m"), (3 * 86400 + 4 * 3600, "3d04h")])
def test_fmt_duration(sec, expected):
    assert fmt_duration(sec) == expected


def _serve(body: bytes):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_run_polls_the_worker():
    p = proc("support.conversations", 0, "conversation")
    feed(p, [started("c1", 0)])
    p.sequencer.advance_to(T0_US + 30 * US)
    server = _serve(orjson.dumps(snapshot([p], WALL)))
    try:
        console = Console(record=True, width=120, force_terminal=False)
        url = f"http://127.0.0.1:{server.server_address[1]}/status"
        run(url, interval=0.05, duration=0.2, console=console)
    finally:
        server.shutdown()
        server.server_close()
    text = console.export_text()
    assert "web" in text and "30s !" in text and "waiting for worker" not in text.splitlines()[-1]


def test_run_shows_waiting_when_the_worker_is_down():
    import socket
    with socket.socket() as s:        # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    console = Console(record=True, width=120, force_terminal=False)
    url = f"http://127.0.0.1:{port}/status"
    run(url, interval=0.05, duration=0.15, console=console)
    assert f"waiting for worker at {url}" in console.export_text()


def test_board_fits_an_80_column_terminal_without_cutting_a_header(world):
    console = Console(width=80, record=True, color_system=None)
    console.print(render(status_of(world)))
    text = console.export_text()
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    for header in ("Channel", "Waiting", "Oldest wait", "Answered"):
        assert header in text
