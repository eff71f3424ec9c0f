"""Self-contained HTML review pages for QA samples (`slawatch qa pull --format html --out DIR`).

`render_sample(row)` renders one sampled conversation (a row as returned by `qa pull` or by
`qa_day.run_qa_day`): a header (entity, agent, channel, day, reasons as badges, rule version and
seed), the MASKED transcript as chat bubbles (customer left, agent right, bot/system centred and
styled apart, each with its timestamp) and the QA check results with their evidence.
`render_index(rows)` lists the samples with links; `write_pages(rows, out_dir)` writes
`index.html` plus one page per sample.

Every value taken from a row goes through `html.escape`; the pages carry no script and load no
external resource (inline CSS only), so they open safely from disk.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = ["render_sample", "render_index", "write_pages", "page_name"]

_CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;
 background:#f3f4f6;color:#111827;line-height:1.4}
main{max-width:920px;margin:0 auto;padding:20px}
header.card h1{margin:0 0 6px;font-size:1.3rem}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:16px 18px;margin-bottom:16px;
 box-shadow:0 1px 2px rgba(0,0,0,.04)}
.meta{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:.9rem;color:#374151}
.meta b{color:#6b7280;font-weight:600;margin-right:4px}
.badges{margin-top:10px}
.badge{display:inline-block;padding:2px 10px;margin:2px 4px 2px 0;border-radius:999px;font-size:.8rem;
 background:#dbeafe;color:#1e3a8a;border:1px solid #bfdbfe}
h2{font-size:1.05rem;margin:0 0 12px}
.chat{display:flex;flex-direction:column;gap:10px}
.msg{max-width:72%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;word-wrap:break-word}
.msg .who{font-size:.75rem;font-weight:600;margin-bottom:2px;opacity:.8}
.msg .at{font-size:.7rem;opacity:.65;margin-top:4px}
.customer{align-self:flex-start;background:#e5e7eb;color:#111827;border-bottom-left-radius:4px}
.agent{align-self:flex-end;background:#2563eb;color:#fff;border-bottom-right-radius:4px}
.bot{align-self:center;background:#fef3c7;color:#78350f;border:1px dashed #f59e0b;font-size:.9rem}
.system,.other{align-self:center;background:transparent;color:#6b7280;border:1px solid #d1d5db;
 font-size:.85rem;font-style:italic}
.empty{color:#6b7280;font-style:italic}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{color:#6b7280;font-weight:600}
.pass{color:#166534;background:#dcfce7;border-radius:6px;padding:1px 8px;font-weight:600}
.fail{color:#991b1b;background:#fee2e2;border-radius:6px;padding:1px 8px;font-weight:600}
ul.ev{margin:0;padding-left:18px}
a{color:#1d4ed8}
"""

_ROLE_CLASS = {"customer": "customer", "agent": "agent", "bot": "bot", "system": "system"}


def _e(value: Any) -> str:
    """Escaped text of a value ('-' when missing)."""
    if value is None or value == "":
        return "-"
    return escape(str(value), quote=True)


def page_name(sample_id: Any) -> str:
    """The file name of a sample's page: the id with anything but [A-Za-z0-9._-] replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(sample_id)).strip(".") or "sample"
    return f"{safe[:150]}.html"


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\">"
            f"<title>{title}</title><style>{_CSS}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def _list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _header(row: Mapping[str, Any]) -> str:
    kind = row.get("entity_kind")
    fields = [
        ("Agent", row.get("agent_id")), ("Channel", row.get("channel")), ("Day", row.get("day")),
        ("Queue", row.get("queue")), ("Rule version", row.get("rule_version")),
        ("Seed", row.get("seed")), ("Priority", row.get("priority")),
        ("Status", row.get("status")), ("Sample", row.get("sample_id")),
    ]
    meta = "".join(f"<span><b>{name}</b>{_e(v)}</span>" for name, v in fields
                   if v is not None and v != "" or name in ("Agent", "Channel", "Day"))
    reasons = _list(row.get("reasons"))
    badges = "".join(f"<span class=\"badge\">{_e(r)}</span>" for r in reasons) \
        or "<span class=\"empty\">no reasons</span>"
    title = f"{_e(kind) + ' ' if kind else ''}{_e(row.get('entity_id'))}"
    return (f"<header class=\"card\"><h1>{title}</h1><div class=\"meta\">{meta}</div>"
            f"<div class=\"badges\"><b>Reasons</b> {badges}</div></header>")


def _transcript(turns: Any) -> str:
    items = []
    for t in _list(turns):
        if not isinstance(t, Mapping):
            t = {"role": "system", "text": t}
        role = str(t.get("role") or "")
        cls = _ROLE_CLASS.get(role, "other")
        who = role or "unknown"
        if t.get("author_id"):
            who = f"{who} · {t['author_id']}"
        items.append(f"<div class=\"msg {cls}\"><div class=\"who\">{_e(who)}</div>"
                     f"<div class=\"text\">{_e(t.get('text'))}</div>"
                     f"<div class=\"at\">{_e(t.get('at'))}</div></div>")
    inner = "".join(items) or "<p class=\"empty\">no transcript</p>"
    return (f"<section class=\"card\"><h2>Transcript (masked)</h2>"
            f"<div class=\"chat\">{inner}</div></section>")


def _checks(checks: Any) -> str:
    rows = []
    for c in _list(checks):
        if not isinstance(c, Mapping):
            continue
        ok = bool(c.get("passed"))
        ev = _list(c.get("evidence"))
        evidence = ("<ul class=\"ev\">" + "".join(f"<li>{_e(x)}</li>" for x in ev) + "</ul>"
                    if ev else "<span class=\"empty\">-</span>")
        rows.append(f"<tr><td>{_e(c.get('check'))}</td>"
                    f"<td><span class=\"{'pass' if ok else 'fail'}\">"
                    f"{'passed' if ok else 'failed'}</span></td><td>{evidence}</td></tr>")
    if not rows:
        return "<section class=\"card\"><h2>QA checks</h2><p class=\"empty\">no checks</p></section>"
    return ("<section class=\"card\"><h2>QA checks</h2><table><thead><tr><th>Check</th>"
            "<th>Result</th><th>Evidence</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></section>")


def render_sample(row: Mapping[str, Any]) -> str:
    """One sample's review page: header, masked transcript as chat bubbles, check results."""
    title = f"QA sample {_e(row.get('entity_id'))} ({_e(row.get('agent_id'))})"
    body = (f"<p><a href=\"index.html\">&larr; all samples</a></p>" + _header(row)
            + _transcript(row.get("transcript")) + _checks(row.get("checks")))
    return _page(title, body)


def _names(rows: list[Mapping[str, Any]]) -> list[str]:
    names: list[str] = []
    used: set[str] = {"index.html"}
    for i, r in enumerate(rows):
        name = page_name(r.get("sample_id", f"sample-{i}"))
        if name in used:
            name = f"{name[:-5]}-{i}.html"
        used.add(name)
        names.append(name)
    return names


def render_index(rows: Iterable[Mapping[str, Any]], names: list[str] | None = None) -> str:
    """The list of samples, each linking to its page."""
    rows = list(rows)
    names = names or _names(rows)
    trs = []
    for r, name in zip(rows, names):
        failed = [c.get("check") for c in _list(r.get("checks"))
                  if isinstance(c, Mapping) and not c.get("passed")]
        reasons = "".join(f"<span class=\"badge\">{_e(x)}</span>" for x in _list(r.get("reasons")))
        trs.append(f"<tr><td><a href=\"{escape(quote(name), quote=True)}\">"
                   f"{_e(r.get('entity_id'))}</a></td><td>{_e(r.get('day'))}</td>"
                   f"<td>{_e(r.get('agent_id'))}</td><td>{_e(r.get('channel'))}</td>"
                   f"<td>{reasons or '-'}</td>"
                   f"<td>{_e(', '.join(str(f) for f in failed)) if failed else '-'}</td></tr>")
    table = ("<table><thead><tr><th>Entity</th><th>Day</th><th>Agent</th><th>Channel</th>"
             "<th>Reasons</th><th>Failed checks</th></tr></thead><tbody>" + "".join(trs)
             + "</tbody></table>") if trs else "<p class=\"empty\">no samples</p>"
    body = (f"<header class=\"card\"><h1>QA samples</h1><div class=\"meta\">"
            f"<span><b>Samples</b>{len(rows)}</span></div></header>"
            f"<section class=\"card\">{table}</section>")
    return _page("QA samples", body)


def write_pages(rows: Iterable[Mapping[str, Any]], out_dir: str | Path) -> list[Path]:
    """Write index.html and one page per sample into out_dir; the written paths, index first."""
    rows = list(rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = _names(rows)
    index = out / "index.html"
    index.write_text(render_index(rows, names), encoding="utf-8")
    paths = [index]
    for r, name in zip(rows, names):
        p = out / name
        p.write_text(render_sample(r), encoding="utf-8")
        paths.append(p)
    return paths
