"""`slawatch qa ...`: draw the daily QA sample into ClickHouse, pull it for reviewers, summarise.

- `qa sample EVENTS.jsonl --clickhouse DSN [--day D]`: replay the events for the SLA records,
  run the QA day (streams/qa_day.py) and write samples, masked transcripts and check results.
  Sample ids are deterministic and rows carry a fixed version, so running it twice changes
  nothing. Prints the count of samples per reason.
- `qa pull --from D --to D [filters] [--format jsonl|csv|html] [--out FILE|DIR]`: the stored
  samples (de-duplicated with FINAL) with their masked transcript and check results. Every filter
  is a bound query parameter. `--format html` writes review pages (streams/qa_html.py: index.html
  and one page per sample) into the directory `--out DIR`, which it requires.
- `qa summary --from D --to D`: per agent, samples and checks passed/failed per check.

Reads go through `--clickhouse DSN` or `--api URL` (a running `slawatch sink`'s /query API;
token from SLAWATCH_API_TOKEN). Mounted by streams/cli.py as `app.add_typer(qa_app, name="qa")`.
"""
from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any, Optional

import orjson
import typer

from .core.qa_checks import CHECKS
from .settings import DEFAULT_RULES

qa_app = typer.Typer(help="QA sampling: draw, pull and summarise the daily review sample.",
                     no_args_is_help=True)

DEFAULT_QA_RULES = DEFAULT_RULES.parent / "qa.yaml"


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _day(value: str, name: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        _fail(f"{name} must be a date YYYY-MM-DD, got {value!r}")
    raise AssertionError  # pragma: no cover


@qa_app.command()
def sample(
    events: Path = typer.Argument(..., exists=True, dir_okay=False, help="events, JSON Lines"),
    rules: Path = typer.Option(DEFAULT_RULES, "--rules", help="SLA policy file"),
    qa_rules: Path = typer.Option(DEFAULT_QA_RULES, "--qa-rules", help="QA sampling rules"),
    clickhouse: str = typer.Option(..., "--clickhouse", envvar="SLAWATCH_CLICKHOUSE_DSN"),
    day: Optional[str] = typer.Option(None, "--day", help="local day YYYY-MM-DD (default: all)"),
    tz: str = typer.Option("Asia/Shanghai", "--tz", help="time zone of the QA day"),
) -> None:
    """Draw the QA sample of the events' day(s) into ClickHouse (idempotent)."""
    from sinks.clickhouse import ClickHouseSink

    from .core.policy import PolicyError, load_policies
    from .core.qa_rules import QARulesError, load_qa_rules
    from .qa_day import json_objects, run_qa_day
    from .replay import replay_lines

    if day is not None:
        day = _day(day, "--day")
    try:
        policies = load_policies(rules)
        qrules = load_qa_rules(qa_rules)
    except (PolicyError, QARulesError) as exc:
        _fail(str(exc))
    lines = events.read_bytes().splitlines()
    result = replay_lines(lines, policies)
    rows = run_qa_day(json_objects(lines), result.records, qrules, day=day, tz=tz)
    sink = ClickHouseSink(clickhouse)
    try:
        sink.connect()
        sink.migrate()
        sink.write_qa_samples(rows)
        sink.write_qa_transcripts(rows)
        sink.write_qa_checks([c for r in rows for c in r["checks"]])
    except Exception as exc:  # noqa: BLE001 - show the database's message
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    finally:
        sink.close()
    counts = Counter(reason for r in rows for reason in r["reasons"])
    typer.echo(f"samples\t{len(rows)}")
    for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        typer.echo(f"{reason}\t{n}")


# ---------------------------------------------------------------------------- reads

def _read(sql: str, params: dict, clickhouse: str | None, api: str | None) -> list[dict]:
    try:
        if api:
            from sinks.kafka_to_clickhouse import remote_query

            from .settings import Settings

            token = Settings().api_token
            result = remote_query(api, token.get_secret_value() if token else None, sql, params)
        elif clickhouse:
            from sinks.clickhouse import ClickHouseSink

            ch = ClickHouseSink(clickhouse)
            try:
                result = ch.connect().read(sql, params)
            finally:
                ch.close()
        else:
            _fail("give --api URL or --clickhouse DSN")
    except typer.Exit:
        raise
    except Exception as exc:  # noqa: BLE001 - show the database's or server's message
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return [dict(zip(result["columns"], row)) for row in result["rows"]]


def _sample_filter(from_: str, to: str, agent: str | None = None, channel: str | None = None,
                   reason: str | None = None, check_failed: str | None = None) -> tuple[str, dict]:
    """The WHERE clause over `qa_samples FINAL` and its bound parameters."""
    conds = ["day >= {from_day:Date}", "day <= {to_day:Date}"]
    params: dict[str, Any] = {"from_day": _day(from_, "--from"), "to_day": _day(to, "--to")}
    if agent is not None:
        conds.append("agent_id = {agent:String}")
        params["agent"] = agent
    if channel is not None:
        conds.append("channel = {channel:String}")
        params["channel"] = channel
    if reason is not None:
        conds.append("has(reasons, {reason:String})")
        params["reason"] = reason
    if check_failed is not None:
        conds.append("sample_id IN (SELECT sample_id FROM qa_checks FINAL "
                     "WHERE `check` = {check:String} AND NOT passed)")
        params["check"] = check_failed
    return " WHERE " + " AND ".join(conds), params


_PULL_COLUMNS = ("sample_id", "day", "entity_kind", "entity_id", "agent_id", "channel", "queue",
                 "reasons", "priority", "rule_version", "seed", "status", "score")


@qa_app.command()
def pull(
    from_: str = typer.Option(..., "--from", help="first local day, YYYY-MM-DD"),
    to: str = typer.Option(..., "--to", help="last local day (inclusive)"),
    agent: Optional[str] = typer.Option(None, "--agent"),
    channel: Optional[str] = typer.Option(None, "--channel"),
    reason: Optional[str] = typer.Option(None, "--reason"),
    check_failed: Optional[str] = typer.Option(None, "--check-failed", help=f"one of {', '.join(CHECKS)}"),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl, csv or html"),
    out: Optional[Path] = typer.Option(None, "--out",
                                       help="file (default: stdout); a directory for html"),
    clickhouse: Optional[str] = typer.Option(None, "--clickhouse", envvar="SLAWATCH_CLICKHOUSE_DSN"),
    api: Optional[str] = typer.Option(None, "--api", help="URL of a running `slawatch sink`"),
) -> None:
    """Export the stored samples with their masked transcripts and check results."""
    if fmt not in ("jsonl", "csv", "html"):
        _fail(f"--format must be jsonl, csv or html, got {fmt!r}")
    if fmt == "html" and out is None:
        _fail("--format html needs --out DIR")
    if fmt == "html" and out.exists() and not out.is_dir():
        _fail(f"--out {out} exists and is not a directory")
    where, params = _sample_filter(from_, to, agent, channel, reason, check_failed)
    # An alias named `day` would shadow the Date column in WHERE: rename after reading.
    sel = ", ".join(("toString(day) AS day_text" if c == "day" else c) for c in _PULL_COLUMNS)
    samples = _read(
        f"SELECT {sel} FROM qa_samples FINAL{where} ORDER BY day, priority DESC, sample_id",
        params, clickhouse, api)
    samples = [{c: (s["day_text"] if c == "day" else s[c]) for c in _PULL_COLUMNS} for s in samples]
    inner = f"SELECT sample_id FROM qa_samples FINAL{where}"
    transcripts = {r["sample_id"]: r["transcript"] for r in _read(
        f"SELECT sample_id, transcript FROM qa_transcripts FINAL WHERE sample_id IN ({inner})",
        params, clickhouse, api)}
    checks: dict[str, list[dict]] = {}
    for r in _read(f"SELECT sample_id, `check`, toUInt8(passed) AS passed, evidence "
                   f"FROM qa_checks FINAL WHERE sample_id IN ({inner}) ORDER BY sample_id",
                   params, clickhouse, api):
        checks.setdefault(r["sample_id"], []).append(
            {"check": r["check"], "passed": bool(r["passed"]), "evidence": list(r["evidence"])})
    order = {c: i for i, c in enumerate(CHECKS)}
    items = []
    for s in samples:
        body = transcripts.get(s["sample_id"])
        s["reasons"] = list(s["reasons"])
        s["transcript"] = orjson.loads(body) if body else []
        s["checks"] = sorted(checks.get(s["sample_id"], []),
                             key=lambda c: order.get(c["check"], len(order)))
        items.append(s)

    if fmt == "html":
        from .qa_html import write_pages

        paths = write_pages(items, out)
        typer.echo(f"{len(items)} samples -> {paths[0]}", err=True)
        return
    if fmt == "jsonl":
        data = b"".join(orjson.dumps(s, default=str) + b"\n" for s in items)
    else:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([*_PULL_COLUMNS, "failed_checks", "checks", "transcript"])
        for s in items:
            w.writerow([*(";".join(s[c]) if c == "reasons" else ("" if s[c] is None else s[c])
                          for c in _PULL_COLUMNS),
                        ";".join(c["check"] for c in s["checks"] if not c["passed"]),
                        orjson.dumps(s["checks"]).decode(),
                        orjson.dumps(s["transcript"]).decode()])
        data = buf.getvalue().encode("utf-8")
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)
        typer.echo(f"{len(items)} samples -> {out}", err=True)


@qa_app.command()
def summary(
    from_: str = typer.Option(..., "--from", help="first local day, YYYY-MM-DD"),
    to: str = typer.Option(..., "--to", help="last local day (inclusive)"),
    clickhouse: Optional[str] = typer.Option(None, "--clickhouse", envvar="SLAWATCH_CLICKHOUSE_DSN"),
    api: Optional[str] = typer.Option(None, "--api", help="URL of a running `slawatch sink`"),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines instead of a table"),
) -> None:
    """Per agent: samples, and checks passed/failed per check."""
    where, params = _sample_filter(from_, to)
    per_agent = {r["agent"]: int(r["n"]) for r in _read(
        f"SELECT ifNull(agent_id, '-') AS agent, count() AS n FROM qa_samples FINAL{where} "
        "GROUP BY agent", params, clickhouse, api)}
    stats: dict[str, dict[str, list[int]]] = {a: {} for a in per_agent}
    for r in _read(
            "SELECT s.agent AS agent, c.check AS check_name, countIf(c.passed) AS ok, "
            "countIf(NOT c.passed) AS bad FROM "
            f"(SELECT sample_id, ifNull(agent_id, '-') AS agent FROM qa_samples FINAL{where}) AS s "
            "INNER JOIN (SELECT sample_id, `check`, passed FROM qa_checks FINAL) AS c "
            "ON s.sample_id = c.sample_id GROUP BY agent, check_name", params, clickhouse, api):
        stats.setdefault(r["agent"], {})[r["check_name"]] = [int(r["ok"]), int(r["bad"])]
    agents = sorted(per_agent)
    if as_json:
        for a in agents:
            sys.stdout.buffer.write(orjson.dumps({
                "agent_id": a, "samples": per_agent[a],
                "checks": {c: {"passed": v[0], "failed": v[1]} for c, v in stats[a].items()}}) + b"\n")
        return
    header = ["agent", "samples", *(f"{c} ok/fail" for c in CHECKS)]
    table = [header] + [[a, str(per_agent[a]),
                         *("{}/{}".format(*stats[a].get(c, [0, 0])) for c in CHECKS)]
                        for a in agents]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
