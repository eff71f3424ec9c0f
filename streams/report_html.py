"""The periodic report (`streams.report.Report`) as one self-contained HTML page.

Charts are inline SVG drawn here from the report's numbers: no script, no stylesheet, font or
image from anywhere else, so the page can be mailed or archived and opens offline exactly as it
was. Every text that comes from data (channels, categories, policies, check names, notes) goes
through `html.escape`, attributes included.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from .report import OVER_HOURS, Report, ResponseRow, SlaRow, fmt_duration, fmt_pct

__all__ = ["render_html"]

PALETTE = ("#2f6fbf", "#e08a1e", "#3a9d5d", "#c8443c", "#7b5cb8", "#1f9fa8", "#b5527f", "#7d7d2a")
GOOD, FAIR, BAD = "#3a9d5d", "#e0a21e", "#c8443c"
CSAT_COLOURS = ("#c8443c", "#e07a3c", "#e0b43c", "#8cbf4a", "#3a9d5d")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;
margin:0;background:#f4f6f9;color:#1d2733}
header{background:#1f3550;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}header p{margin:0;opacity:.85;font-size:14px}
main{padding:16px 28px;max-width:1200px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 16px}
.kpi{background:#fff;border-radius:8px;padding:10px 16px;min-width:150px;box-shadow:0 1px 2px #0002}
.kpi b{display:block;font-size:22px;color:#1f3550}.kpi span{font-size:12px;color:#5b6876}
section{background:#fff;border-radius:8px;padding:12px 18px;margin:0 0 16px;box-shadow:0 1px 2px #0002}
h2{font-size:17px;margin:4px 0 10px;color:#1f3550}h3{font-size:14px;margin:10px 0 4px;color:#3d4b5a}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{padding:3px 10px;border-bottom:1px solid #e3e7ec;text-align:right;white-space:nowrap}
th{background:#eef2f6}th:first-child,td:first-child,td.l,th.l{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:18px}svg{font-family:inherit}
.note{font-size:13px;color:#3d4b5a}.empty{color:#8a96a3;font-style:italic}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


# ------------------------------------------------------------------------------- SVG charts

def _nice_max(v: float) -> float:
    """Top of a 4-step axis over v: 4 x a round step (1, 2, 2.5 or 5 x 10^k), so ticks read well."""
    if v <= 0:
        return 4.0
    quarter = v / 4
    scale = 10.0 ** math.floor(math.log10(quarter))
    for m in (1, 2, 2.5, 5, 10):
        if m * scale >= quarter * (1 - 1e-12):
            return 4 * m * scale
    return 40 * scale


def _unit(max_seconds: float) -> tuple[float, str]:
    if max_seconds < 180:
        return 1.0, "s"
    if max_seconds < 3 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def vbars(title: str, categories: Sequence[str],
          series: Sequence[tuple[str, Sequence[float | None], str | Sequence[str]]],
          *, axis_label: str = "", fmt=lambda v: f"{v:g}", width: int | None = None,
          height: int = 230, y_max: float | None = None) -> str:
    """Grouped vertical bars: one group per category, one bar per series (name, values, colour
    or one colour per category). Inline SVG: no xmlns needed inside HTML."""
    n, k = len(categories), max(1, len(series))
    group_w = max(18, min(70, 560 // max(1, n)))
    left, right, top, bottom = 52, 12, 34, 42
    width = width or max(left + right + group_w * n, 40 + 7 * len(title))
    plot_h = height - top - bottom
    values = [v for _, vs, _ in series for v in vs if v is not None]
    top_v = y_max if y_max is not None else _nice_max(max(values, default=0))
    out = [f'<svg width="{width}" height="{height}" '
           f'role="img" aria-label="{_e(title)}">',
           f'<text x="{left}" y="14" font-size="13" font-weight="600" fill="#1f3550">{_e(title)}</text>']
    lx = left
    for name, _, colour in series:  # legend
        colour = colour if isinstance(colour, str) else colour[-1]
        out.append(f'<rect x="{lx}" y="20" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{lx + 14}" y="29" font-size="11" fill="#3d4b5a">{_e(name)}</text>')
        lx += 24 + 7 * len(name)
    for i in range(5):  # grid and y axis
        v = top_v * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#e3e7ec"/><text x="{left - 4}" y="{y + 4:.1f}" font-size="10" '
                   f'text-anchor="end" fill="#5b6876">{_e(fmt(v))}</text>')
    if axis_label:
        out.append(f'<text x="10" y="{top + plot_h / 2:.0f}" font-size="10" fill="#5b6876" '
                   f'transform="rotate(-90 10 {top + plot_h / 2:.0f})" text-anchor="middle">'
                   f'{_e(axis_label)}</text>')
    bar_w = max(3, (group_w - 6) / k)
    for ci, cat in enumerate(categories):
        gx = left + ci * group_w + 3
        for si, (name, vs, colour) in enumerate(series):
            v = vs[ci]
            if v is None:
                continue
            h = plot_h * min(v, top_v) / top_v
            fill = colour if isinstance(colour, str) else colour[ci % len(colour)]
            out.append(f'<rect x="{gx + si * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                       f'width="{bar_w - 1:.1f}" height="{h:.1f}" fill="{fill}">'
                       f'<title>{_e(cat)} {_e(name)}: {_e(fmt(v))}</title></rect>')
        out.append(f'<text x="{gx + group_w / 2 - 3:.1f}" y="{top + plot_h + 14}" font-size="10" '
                   f'text-anchor="middle" fill="#3d4b5a">{_e(cat)}</text>')
    out.append("</svg>")
    return "".join(out)


def hbars(title: str, rows: Sequence[tuple[str, Sequence[tuple[float, str]], str]],
          *, scale_max: float | None = None, width: int = 560) -> str:
    """Horizontal (stacked) bars: rows of (label, [(value, colour), ...], text at the end)."""
    label_w, text_w, row_h, top = 190, 110, 22, 26
    height = top + row_h * max(1, len(rows)) + 6
    plot_w = width - label_w - text_w
    peak = scale_max or max((sum(v for v, _ in parts) for _, parts, _ in rows), default=0) or 1
    out = [f'<svg width="{width}" height="{height}" '
           f'role="img" aria-label="{_e(title)}">',
           f'<text x="0" y="14" font-size="13" font-weight="600" fill="#1f3550">{_e(title)}</text>']
    for i, (label, parts, text) in enumerate(rows):
        y = top + i * row_h
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" font-size="11" text-anchor="end" '
                   f'fill="#3d4b5a">{_e(label)}</text>'
                   f'<rect x="{label_w}" y="{y + 3}" width="{plot_w}" height="{row_h - 6}" fill="#eef2f6"/>')
        x = float(label_w)
        for v, colour in parts:
            w = plot_w * max(0.0, v) / peak
            out.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                       f'fill="{colour}"><title>{_e(label)}: {_e(text)}</title></rect>')
            x += w
        out.append(f'<text x="{label_w + plot_w + 6}" y="{y + 14}" font-size="11" '
                   f'fill="#1d2733">{_e(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def _attain_colour(v: float | None) -> str:
    if v is None:
        return "#b8c1cb"
    return GOOD if v >= 0.95 else (FAIR if v >= 0.85 else BAD)


# ------------------------------------------------------------------------------- tables

def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    if not rows:
        return '<p class="empty">no data in this period</p>'
    head = "".join(f'<th{" class=l" if i < left else ""}>{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=l" if i < left else ""}>{_e(c)}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_KIND = {"conversation": "Conversations", "ticket": "Tickets"}


def _response_rows(rows: Sequence[ResponseRow]) -> list[list[object]]:
    return [[_KIND.get(r.entity_kind, r.entity_kind), r.group, r.responses, r.unanswered,
             fmt_pct(r.response_rate), fmt_pct(r.within_target_rate), fmt_duration(r.timing.mean),
             fmt_duration(r.timing.p50), fmt_duration(r.timing.p90)] for r in rows]


_RESPONSE_HEAD = ("kind", "", "responses", "unanswered", "response rate", "within target", "avg",
                  "p50", "p90")


def _timing_chart(title: str, rows: Sequence[ResponseRow]) -> str:
    if not rows:
        return ""
    peak = max((r.timing.p90 or 0) for r in rows) or max((r.timing.mean or 0) for r in rows)
    div, unit = _unit(peak)
    return vbars(title, [r.group for r in rows],
                 [("average", [None if r.timing.mean is None else r.timing.mean / div for r in rows], PALETTE[0]),
                  ("p90", [None if r.timing.p90 is None else r.timing.p90 / div for r in rows], PALETTE[1])],
                 axis_label=unit, fmt=lambda v: f"{v:.3g}")


def _rate_chart(title: str, rows: Sequence[ResponseRow]) -> str:
    if not rows:
        return ""
    return vbars(title, [r.group for r in rows],
                 [("response rate", [None if r.response_rate is None else 100 * r.response_rate for r in rows], PALETTE[2]),
                  ("within target", [None if r.within_target_rate is None else 100 * r.within_target_rate for r in rows], PALETTE[4])],
                 axis_label="%", y_max=100, fmt=lambda v: f"{v:.0f}")


def _by_kind(rows, kind):
    return [r for r in rows if r.entity_kind == kind]


def _sla_rows(rows: Sequence[SlaRow], with_policy: bool) -> list[list[object]]:
    return [[*((r.policy,) if with_policy else ()), r.metric, r.met, r.missed,
             fmt_pct(r.attainment), r.completed_late, r.abandoned, r.warnings] for r in rows]


def _sla_chart(title: str, rows: Sequence[SlaRow], with_policy: bool) -> str:
    if not rows:
        return ""
    return hbars(title, [((f"{r.policy} / {r.metric}" if with_policy else r.metric),
                          [(100 * (r.attainment or 0), _attain_colour(r.attainment))],
                          f"{fmt_pct(r.attainment)} of {r.met + r.missed}") for r in rows],
                 scale_max=100)


# ------------------------------------------------------------------------------- the page

def render_html(report: Report) -> str:
    """The whole page (UTF-8 text)."""
    kinds = [k for k in ("conversation", "ticket") if report.started.get(k)]
    kinds += [k for k in report.started if k not in kinds and report.started[k]]
    parts: list[str] = []

    # Key figures.
    kpis = [(f"{n:,}", f"{_KIND.get(k, k).lower()} started") for k, n in report.started.items()]
    for kind in kinds:
        rows = _by_kind(report.first_response_by_daytype, kind)
        if rows:
            resp = sum(r.responses for r in rows)
            unans = sum(r.unanswered for r in rows)
            kpis.append((fmt_pct(resp / (resp + unans) if resp + unans else None),
                         f"{_KIND.get(kind, kind).lower()} response rate"))
    for r in report.csat:
        if r.channel == "all" and r.count:
            kpis.append((f"{r.mean:.2f}", f"{_KIND.get(r.entity_kind, r.entity_kind).lower()} CSAT ({r.count} ratings)"))
    for r in report.urgent:
        if r.metric == "resolution":
            kpis.append((fmt_pct(r.attainment), "urgent resolution on time"))
    kpis.append((fmt_pct(report.reopen_rate), "ticket reopen rate"))
    if report.qa is not None:
        p = sum(c.passed for c in report.qa.checks)
        f = sum(c.failed for c in report.qa.checks)
        kpis.append((fmt_pct(p / (p + f) if p + f else None), f"QA checks passed ({report.qa.samples} samples)"))
    parts.append('<div class="kpis">' + "".join(
        f'<div class="kpi"><b>{_e(v)}</b><span>{_e(label)}</span></div>' for v, label in kpis) + "</div>")
    if report.empty:
        parts.append('<section><p class="empty">No data in this period.</p></section>')

    # Volume and channel share.
    charts = []
    for kind in kinds:
        rows = _by_kind(report.volume, kind)
        charts.append(hbars(f"{_KIND.get(kind, kind)}: channel share",
                            [(r.channel, [(100 * (r.share or 0), PALETTE[i % len(PALETTE)])],
                              f"{r.started:,} ({fmt_pct(r.share)})") for i, r in enumerate(rows)],
                            scale_max=100, width=520))
    parts.append(_section("Volume and channel share", charts, _table(
        ("kind", "channel", "started", "share"),
        [[_KIND.get(r.entity_kind, r.entity_kind), r.channel, f"{r.started:,}", fmt_pct(r.share)]
         for r in report.volume], left=2)))

    # First response.
    for title, rows, col in (
            ("First response by channel", report.first_response_by_channel, "channel"),
            ("First response by hour of day (local; hour of the outcome)", report.first_response_by_hour, "hour"),
            ("First response: weekday vs weekend", report.first_response_by_daytype, "days"),
            ("Response rate by customer tier", report.response_by_tier, "tier")):
        charts = []
        for kind in kinds:
            sub = _by_kind(rows, kind)
            name = _KIND.get(kind, kind)
            if col in ("channel", "hour", "days"):
                charts.append(_timing_chart(f"{name}: first response time", sub))
            if col != "channel" and (kind == "conversation" or col == "tier"):
                charts.append(_rate_chart(f"{name}: response rate", sub))
        head = list(_RESPONSE_HEAD)
        head[1] = col
        body = _table(head, _response_rows(rows), left=2)
        if col == "hour" and rows:  # 24 rows per kind: folded under the charts
            body = f"<details><summary>table</summary>{body}</details>"
        parts.append(_section(title, charts, body))

    # Resolution.
    res = report.resolution_by_category
    tickets = [r for r in res if r.entity_kind == "ticket"]
    charts = []
    if tickets:
        peak = max((r.timing.p90 or 0) for r in tickets)
        div, unit = _unit(peak)
        charts.append(vbars("Tickets: resolution time by category", [r.category for r in tickets],
                            [("average", [None if r.timing.mean is None else r.timing.mean / div for r in tickets], PALETTE[0]),
                             ("p90", [None if r.timing.p90 is None else r.timing.p90 / div for r in tickets], PALETTE[1])],
                            axis_label=unit, fmt=lambda v: f"{v:.3g}"))
        charts.append(hbars("Tickets: resolutions / created",
                            [(r.category, [(100 * min(1.5, r.resolution_rate or 0), PALETTE[2])],
                              fmt_pct(r.resolution_rate)) for r in tickets], scale_max=150, width=460))
    summary = (f'<p class="note">Tickets resolved over {OVER_HOURS} h: '
               f'{report.tickets_resolved_over_48h:,} of {report.tickets_resolved:,} '
               f'({_e(fmt_pct(report.tickets_over_48h_share))}). Reopen rate: {report.reopened:,} reopens / '
               f'{report.ticket_resolutions:,} resolutions ({_e(fmt_pct(report.reopen_rate))}).</p>')
    parts.append(_section("Resolution by category", charts, summary + _table(
        ("kind", "category", "created", "resolved", "rate", "avg", "p50", "p90", f"over {OVER_HOURS} h"),
        [[_KIND.get(r.entity_kind, r.entity_kind), r.category, r.created, r.resolved,
          fmt_pct(r.resolution_rate), fmt_duration(r.timing.mean), fmt_duration(r.timing.p50),
          fmt_duration(r.timing.p90), f"{r.over_48h} ({fmt_pct(r.over_48h_share)})"] for r in res],
        left=2)))

    # Urgent issues.
    sla_head = ("metric", "met", "missed", "attainment", "late", "abandoned", "warnings")
    parts.append(_section("Urgent tickets: SLA compliance",
                          [_sla_chart("Urgent tickets: met / (met + missed)", report.urgent, False)],
                          _table(sla_head, _sla_rows(report.urgent, False))))

    # CSAT.
    charts = []
    for r in report.csat:
        if r.channel == "all" and r.count:
            charts.append(vbars(f"{_KIND.get(r.entity_kind, r.entity_kind)}: CSAT distribution "
                                f"(average {r.mean:.2f})", ["1", "2", "3", "4", "5"],
                                [("ratings", list(r.hist), CSAT_COLOURS)], axis_label="ratings",
                                fmt=lambda v: f"{v:g}"))
    parts.append(_section("Customer satisfaction (CSAT)", charts, _table(
        ("kind", "channel", "ratings", "average", "1", "2", "3", "4", "5"),
        [[_KIND.get(r.entity_kind, r.entity_kind), r.channel, r.count,
          "-" if r.mean is None else f"{r.mean:.2f}", *r.hist] for r in report.csat], left=2)))

    # SLA per policy.
    parts.append(_section("SLA attainment by policy and metric",
                          [_sla_chart("met / (met + missed)", report.sla_by_policy, True)],
                          _table(("policy",) + sla_head, _sla_rows(report.sla_by_policy, True), left=2)))

    # QA.
    if report.qa is not None:
        qa = report.qa
        chart = hbars(f"QA checks on {qa.samples:,} samples (passed / failed)",
                      [(c.check, [(c.passed, GOOD), (c.failed, BAD)],
                        f"{fmt_pct(c.pass_rate)} passed") for c in qa.checks])
        reasons = hbars("Why samples were drawn", [(k, [(n, PALETTE[4])], f"{n:,}") for k, n in qa.reasons],
                        width=460)
        parts.append(_section("Quality assurance", [chart, reasons], _table(
            ("check", "passed", "failed", "pass rate"),
            [[c.check, c.passed, c.failed, fmt_pct(c.pass_rate)] for c in qa.checks])))
    else:
        parts.append(_section("Quality assurance", [], '<p class="empty">No QA data for these days.</p>'))

    parts.append('<section><h2>Notes</h2><ul class="note">' + "".join(
        f"<li>{_e(n)}</li>" for n in report.notes) + "</ul></section>")

    title = f"Service report {report.from_day} to {report.to_day}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body><header><h1>{_e(title)}</h1>"
            f"<p>Local days in {_e(report.tz)} &middot; source: {_e(report.source)}</p></header>"
            f"<main>{''.join(parts)}</main></body></html>\n")


def _section(title: str, charts: Sequence[str], body: str) -> str:
    charts_html = "".join(c for c in charts if c)
    return (f"<section><h2>{_e(title)}</h2>"
            + (f'<div class="charts">{charts_html}</div>' if charts_html else "")
            + body + "</section>")
