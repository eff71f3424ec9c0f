"""A terminal wall board for supervisors: the worker's `GET /status`, redrawn every second.

`render(status)` turns a `streams.status.snapshot` document into a rich renderable: a header
line (watermark, lag, events, breaches, warnings, dead letters) and a table with one row per
channel (who is waiting for a first response and for how long, and how fast first responses
were in the most recent closed windows) against the channel's first-response target. Values
over target are red and carry a "!" so the marking survives a colourless terminal or a log.

`run(url)` polls the URL with urllib (no extra dependency) inside `rich.live.Live`. While the
worker is down or starting it shows "waiting for worker at URL" instead of failing: the board
is usually started first and left running across worker restarts.
"""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import orjson
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

__all__ = ["render", "run", "fetch", "waiting", "fmt_duration"]

OVER = " !"
_OVER_STYLE = "bold red"


def fmt_duration(seconds: float | None) -> str:
    """42s, 3m05s, 2h10m, 3d04h; '-' for None. Sub-10 s values keep one decimal."""
    if seconds is None:
        return "-"
    s = float(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 10:
        return f"{sign}{s:.1f}s"
    s = int(round(s))
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{sign}{s // 86400}d{s % 86400 // 3600:02d}h"


def _vs_target(value: float | None, target: float | None) -> Text:
    text = fmt_duration(value)
    if value is not None and target is not None and value > target:
        return Text(text + OVER, style=_OVER_STYLE)
    return Text(text)


def _count(n: int | None, style: str = "") -> Text:
    return Text("-" if n is None else f"{n:,}", style=style if n else "")


def _header(status: dict[str, Any]) -> Text:
    totals = status.get("totals") or {}
    lag = status.get("watermark_lag_s")
    parts: list[tuple[str, str] | str] = [
        ("watermark ", "dim"), (status.get("watermark") or "none yet", "bold"),
        ("  lag ", "dim"), (fmt_duration(lag), "bold yellow" if lag is not None and lag > 60 else "bold"),
        ("  events ", "dim"), (f"{totals.get('events', 0):,}", "bold"),
        ("  breaches ", "dim"), (f"{totals.get('breaches', 0):,}", "bold red" if totals.get("breaches") else "bold"),
        ("  warnings ", "dim"), (f"{totals.get('warnings', 0):,}", "bold yellow" if totals.get("warnings") else "bold"),
        ("  dead letters ", "dim"),
        (f"{totals.get('dead_letters', 0):,}", "bold magenta" if totals.get("dead_letters") else "bold"),
    ]
    return Text.assemble(*parts)


def _footer(status: dict[str, Any]) -> Text:
    parts = status.get("partitions") or []
    pending = sum(p.get("pending", 0) for p in parts)
    late = sum(p.get("late", 0) for p in parts)
    span = status.get("last_windows")
    text = f"{len(parts)} partitions, {pending:,} events held for ordering, {late:,} late"
    if span:
        text += f"; first responses from windows {span['from']} .. {span['to']}"
    return Text(text + f"; as of {status.get('wall', '?')}", style="dim")


def render(status: dict[str, Any]) -> RenderableType:
    """The board for one status document (`streams.status.snapshot` shape)."""
    channels = status.get("channels") or {}
    windows = status.get("first_response_last_windows") or {}
    table = Table(title="First response by channel", title_justify="left", expand=False)
    # Eight columns fit an 80-column terminal without cutting a header: p50/p90 are marked
    # against the target of the answered conversations, which is the channel's target.
    table.add_column("Channel", style="bold", no_wrap=True)
    table.add_column("Waiting", justify="right", no_wrap=True)
    table.add_column("Over target", justify="right")
    table.add_column("Oldest wait", justify="right", no_wrap=True)
    table.add_column("Target", justify="right", no_wrap=True)
    table.add_column("Answered", justify="right", no_wrap=True)
    table.add_column("p50", justify="right", no_wrap=True)
    table.add_column("p90", justify="right", no_wrap=True)
    for name in sorted(set(channels) | set(windows)):
        ch = channels.get(name) or {}
        fr = windows.get(name) or {}
        target = ch.get("first_response_target_s")
        fr_target = fr.get("target_s")
        table.add_row(
            name,
            _count(ch.get("awaiting_first_response")),
            _count(ch.get("over_target"), _OVER_STYLE),
            _vs_target(ch.get("oldest_wait_s"), target),
            Text(fmt_duration(target)),
            _count(fr.get("count")),
            _vs_target(fr.get("p50_s"), fr_target),
            _vs_target(fr.get("p90_s"), fr_target),
        )
    if not channels and not windows:
        return Group(_header(status), Text("no open conversations or tickets yet", style="dim"),
                     _footer(status))
    return Group(_header(status), table, _footer(status))


def waiting(url: str, reason: str | None = None) -> RenderableType:
    text = Text.assemble(("waiting for worker at ", "yellow"), (url, "bold yellow"))
    if reason:
        text.append(f"\n{reason}", style="dim")
    return text


def fetch(url: str, timeout: float = 2.0) -> dict[str, Any]:
    """GET the status document. Raises OSError/ValueError when the worker is unreachable or
    answers something that is not a JSON object."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - operator-given URL
        body = orjson.loads(resp.read())
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object from {url}, got {type(body).__name__}")
    return body


def _frame(url: str, timeout: float) -> RenderableType:
    try:
        return render(fetch(url, timeout))
    except (OSError, ValueError) as exc:
        # urllib raises URLError (an OSError) for refused connections and timeouts,
        # orjson.JSONDecodeError (a ValueError) for a half-started server's answer.
        reason = getattr(exc, "reason", None) or exc
        return waiting(url, str(reason))


def run(url: str, interval: float = 1.0, duration: float | None = None, *,
        console: Console | None = None) -> None:
    """Poll `url` every `interval` s and redraw until `duration` s have passed (None: until
    Ctrl-C)."""
    if interval <= 0:
        raise ValueError(f"interval must be > 0, got {interval!r}")
    # A busy worker (or CI box) can take a while to answer; a short poll interval must not
    # turn that into "worker down".
    timeout = max(1.0, min(interval, 5.0))
    end = time.monotonic() + duration if duration is not None else None
    with Live(waiting(url), console=console, refresh_per_second=4, transient=False) as live:
        try:
            while True:
                started = time.monotonic()
                live.update(_frame(url, timeout), refresh=True)
                now = time.monotonic()
                if end is not None and now >= end:
                    return
                pause = interval - (now - started)
                if end is not None:
                    pause = min(pause, end - now)
                if pause > 0:
                    time.sleep(pause)
        except KeyboardInterrupt:
            return
