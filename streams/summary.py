"""The SLA summary of a records file (`slawatch summary`, the demo's last step).

Input: SLA records as produced by `slawatch replay` (spec: shared/spec/sla.md, "Records"), as
dicts. Output: attainment, breaches, warnings and elapsed-time percentiles

- per (entity_kind, metric, channel),
- per policy,
- and first response per (entity_kind, channel) against its target,

rendered as rich tables.

Definitions (a "clock" is one (entity_kind, entity_id, metric, cycle)):
- stopped clocks: `achieved` + `completed_late` + `abandoned` records;
- outcomes: the stopped clocks plus the clocks whose last state is `breached` at the end of the
  records (still running past their deadline: a failure already, even though not stopped yet);
- attainment = achieved / outcomes. A clock that breached and was later `cancelled` is no
  outcome: it stopped for a reason that is not an SLA result (e.g. the conversation went
  unresolved, or a next-response wait ended with the conversation);
- p50 / p90 of `elapsed_seconds` over achieved + completed_late, from a DDSketch with 1 %
  relative accuracy (a sketch, so summaries of huge files stay small and could be merged);
  quantile q is the value at rank floor(q * (n - 1)) of the sorted values, within 1 %.
Records are attributed to the policy and channel they carry; an open breach to those of its
clock's last record.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ddsketch import DDSketch
from rich import box
from rich.console import Console
from rich.table import Table

from .core.timeutil import parse_rfc3339
from .textfmt import duration as _duration

__all__ = ["GroupStats", "FirstResponseStats", "Summary", "summarise", "render", "RELATIVE_ACCURACY"]

RELATIVE_ACCURACY = 0.01
STOPS = ("achieved", "completed_late", "abandoned")
_TERMINAL = frozenset(STOPS) | {"cancelled"}
# At one instant, a deadline firing and a stop of the same clock: the breach is the earlier
# state (a stop exactly at the deadline is achieved, so a breach at that instant precedes it).
_TIE_RANK = {"warning": 0, "breached": 1, "paused": 2, "resumed": 2}


def _sketch() -> DDSketch:
    return DDSketch(relative_accuracy=RELATIVE_ACCURACY)


class _Percentiles:
    """p50/p90 of an `elapsed` DDSketch (seconds); None while it is empty."""

    elapsed: DDSketch

    def quantile(self, q: float) -> float | None:
        return self.elapsed.get_quantile_value(q) if self.elapsed.count else None

    @property
    def p50(self) -> float | None:
        return self.quantile(0.5)

    @property
    def p90(self) -> float | None:
        return self.quantile(0.9)


@dataclass
class GroupStats(_Percentiles):
    achieved: int = 0
    completed_late: int = 0
    abandoned: int = 0
    open_breached: int = 0  # clocks past their deadline and not stopped when the records end
    breaches: int = 0
    warnings: int = 0
    elapsed: DDSketch = field(default_factory=_sketch, repr=False)  # achieved + completed_late

    @property
    def stopped(self) -> int:
        return self.achieved + self.completed_late + self.abandoned

    @property
    def outcomes(self) -> int:
        return self.stopped + self.open_breached

    @property
    def attainment(self) -> float | None:
        """Achieved share of outcomes, in percent; None when there is no outcome yet."""
        return 100.0 * self.achieved / self.outcomes if self.outcomes else None



@dataclass
class FirstResponseStats(_Percentiles):
    count: int = 0
    targets: set[float] = field(default_factory=set)  # target_seconds seen (policies can differ)
    elapsed: DDSketch = field(default_factory=_sketch, repr=False)



@dataclass
class Summary:
    records: int = 0
    by_metric: dict[tuple[str, str, str], GroupStats] = field(default_factory=dict)
    by_policy: dict[str, GroupStats] = field(default_factory=dict)
    first_response: dict[tuple[str, str], FirstResponseStats] = field(default_factory=dict)


def _order_key(indexed: tuple[int, dict]) -> tuple[int, int, int]:
    i, r = indexed
    return parse_rfc3339(r["at"]), _TIE_RANK.get(r["status"], 3), i


def summarise(records: Iterable[dict]) -> Summary:
    # Replay output is already sorted by `at`, but any order is accepted: the open-breach
    # bookkeeping needs each clock's states in time order. `at` is parsed, not compared as
    # text, because fractional seconds break lexical order ("…00.5Z" < "…00Z").
    ordered = sorted(enumerate(records), key=_order_key)
    summary = Summary(records=len(ordered))
    by_metric, by_policy, first = summary.by_metric, summary.by_policy, summary.first_response
    # clock -> its last record if that record is a breach not followed by a stop, else None
    open_breach: dict[tuple, dict | None] = {}

    def groups(r: dict) -> tuple[GroupStats, GroupStats]:
        mk = (r["entity_kind"], r["metric"], r.get("channel") or "-")
        pk = r.get("policy") or "-"
        gm = by_metric.get(mk)
        if gm is None:
            gm = by_metric[mk] = GroupStats()
        gp = by_policy.get(pk)
        if gp is None:
            gp = by_policy[pk] = GroupStats()
        return gm, gp

    for _, r in ordered:
        status = r["status"]
        clock = (r["entity_kind"], r["entity_id"], r["metric"], r.get("cycle", 1))
        gs = groups(r)
        if status == "breached":
            open_breach[clock] = r
            for g in gs:
                g.breaches += 1
        elif status == "warning":
            for g in gs:
                g.warnings += 1
        elif status in _TERMINAL:
            open_breach[clock] = None
            if status == "cancelled":
                continue
            elapsed = r.get("elapsed_seconds")
            for g in gs:
                setattr(g, status, getattr(g, status) + 1)
                if status != "abandoned" and elapsed is not None:
                    g.elapsed.add(elapsed)
            if status != "abandoned" and r["metric"] == "first_response" and elapsed is not None:
                fk = (r["entity_kind"], r.get("channel") or "-")
                fr = first.get(fk)
                if fr is None:
                    fr = first[fk] = FirstResponseStats()
                fr.count += 1
                fr.elapsed.add(elapsed)
                if r.get("target_seconds") is not None:
                    fr.targets.add(r["target_seconds"])
        elif open_breach.get(clock) is not None:
            # paused / resumed after a breach: still the same unstopped, breached clock; keep
            # the latest record so the open breach is attributed to its current policy.
            open_breach[clock] = r

    for r in open_breach.values():
        if r is not None:
            for g in groups(r):
                g.open_breached += 1
    return summary


# --- rendering ----------------------------------------------------------------------------
# Compact on purpose: the demo prints to an 80-column terminal (or a pipe, where rich assumes
# 80), and wrapped cells make the tables unreadable.

_KIND = {"conversation": "conv", "ticket": "ticket"}
_TITLE = {"conversation": "Conversations", "ticket": "Tickets"}


def _pct(value: float | None) -> str:
    if value is None:
        return "-"
    style = "green" if value >= 95 else ("yellow" if value >= 85 else "red")
    return f"[{style}]{value:.1f}%[/]"


def _stats_row(g: GroupStats) -> list[str]:
    return [str(g.stopped), str(g.open_breached), _pct(g.attainment), str(g.breaches),
            str(g.warnings), _duration(g.p50), _duration(g.p90)]


# stopped: achieved + completed_late + abandoned; open: breached and not stopped at the end.
_STATS_COLUMNS = ("stopped", "open", "attain", "breach", "warn", "p50", "p90")


def _table(title: str, keys: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
                  collapse_padding=True, pad_edge=False, show_edge=False)
    for k in keys:
        table.add_column(k, no_wrap=True)
    for k in _STATS_COLUMNS:
        table.add_column(k, justify="right", no_wrap=True)
    return table


def render(summary: Summary, console: Console) -> None:
    if not summary.records:
        console.print("no SLA records")
        return
    # One table per entity kind: a kind column would push the table past 80 columns.
    kinds = sorted({k[0] for k in summary.by_metric}, key=lambda k: (k not in _TITLE, k))
    for kind in kinds:
        table = _table(f"{_TITLE.get(kind, kind)}: SLA by metric and channel", ("metric", "channel"))
        for (k, metric, channel), g in sorted(summary.by_metric.items()):
            if k == kind:
                table.add_row(metric, channel, *_stats_row(g))
        console.print(table)
        console.print()

    table = _table("SLA by policy", ("policy",))
    for policy, g in sorted(summary.by_policy.items()):
        table.add_row(policy, *_stats_row(g))
    console.print(table)
    console.print()

    table = Table(title="First response by channel (red p90: over target)", title_justify="left",
                  box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False,
                  show_edge=False)
    for k in ("kind", "channel"):
        table.add_column(k, no_wrap=True)
    for k in ("responses", "target", "p50", "p90"):
        table.add_column(k, justify="right", no_wrap=True)
    for (kind, channel), fr in sorted(summary.first_response.items()):
        targets = sorted(fr.targets)
        if not targets:
            target = "-"
        elif len(targets) == 1:
            target = _duration(targets[0])
        else:  # several policies apply to this channel (e.g. vip and regular)
            target = f"{_duration(targets[0])}-{_duration(targets[-1])}"
        p90 = _duration(fr.p90)
        if targets and fr.p90 is not None and fr.p90 > targets[-1]:
            p90 = f"[red]{p90}[/]"  # even the most lenient target is missed by the slowest 10 %
        table.add_row(_KIND.get(kind, kind), channel, str(fr.count), target, _duration(fr.p50), p90)
    console.print(table)
    console.print(f"{summary.records} records", style="dim")
