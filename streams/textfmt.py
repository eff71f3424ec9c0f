"""How durations are written for people (`slawatch summary`, `slawatch report`, its HTML page).

One rule everywhere, so the same p90 reads the same in the terminal summary and the report:
'-' for unknown, one decimal below 10 s, whole seconds below 2 min, then minutes, hours, days.
"""
from __future__ import annotations

__all__ = ["duration"]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 600:
        return f"{seconds / 60:.1f}m"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
