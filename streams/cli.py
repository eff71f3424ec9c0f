"""The `slawatch` command line: replay, generate, summary and rules checks.

Thin: parsing arguments, opening files and printing; the work is done by `streams.replay`, the
pure core and `streams.generator`, which the tests drive directly too.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from .core.policy import PolicyError, load_policies
from .core.timeutil import format_us, parse_rfc3339

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "rules" / "sla.yaml"
PROGRESS_MIN_BYTES = 4 * 1024 * 1024

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="slawatch: real-time SLA and quality monitoring for customer support.")
rules_app = typer.Typer(no_args_is_help=True, help="Check SLA policy and QA sampling files.")
app.add_typer(rules_app, name="rules")
from .qa_cli import qa_app  # noqa: E402 - the `slawatch qa ...` commands

app.add_typer(qa_app, name="qa")

err = Console(stderr=True, highlight=False)


def _redacted(dsn: str) -> str:
    """The DSN without a password written into it (`http://user:secret@host` -> `user:***`)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _load_rules(path: Path):
    try:
        return load_policies(path)
    except PolicyError as exc:
        _fail(f"invalid policy file\n{exc}")


@app.command()
def replay(
    events: Path = typer.Argument(..., help="JSON Lines file of events (any order; '-' for stdin)."),
    rules: Path = typer.Option(DEFAULT_RULES, "--rules", help="SLA policy file (YAML)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the records (JSON Lines); default stdout."),
    until: Optional[str] = typer.Option(None, "--until", help="RFC 3339 instant at which the clock ends (default: newest event time)."),
    extended: bool = typer.Option(False, "--extended", help="Add record_id, queue and group to each record (extension)."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on for large files on a terminal)."),
    clickhouse: Optional[str] = typer.Option(None, "--clickhouse", help="Also backfill the records into ClickHouse at this DSN (chdb:///dir or http://host:8123/db); idempotent."),
) -> None:
    """Replay events offline and write the SLA records, sorted by at, entity_id, metric, cycle, status."""
    from .replay import file_size, replay_lines, write_records

    until_us = None
    if until is not None:
        try:
            until_us = parse_rfc3339(until)
        except ValueError as exc:
            _fail(f"--until: {exc}")
    policies = _load_rules(rules)
    try:
        src = sys.stdin.buffer if str(events) == "-" else open(events, "rb")
    except OSError as exc:
        _fail(f"cannot read {events}: {exc.strerror}")

    def report(n: int, reason: str) -> None:
        err.print(f"{events}:{n}: invalid event skipped: {reason}", markup=False, soft_wrap=True)

    size = 0 if src is sys.stdin.buffer else file_size(events)
    show = progress if progress is not None else (err.is_terminal and size >= PROGRESS_MIN_BYTES)
    try:
        with src:
            if show:
                with Progress(TextColumn("replay"), BarColumn(), DownloadColumn(),
                              TimeRemainingColumn(), console=err, transient=True) as bar:
                    task = bar.add_task("read", total=size or None)
                    result = replay_lines(src, policies, until_us, on_invalid=report,
                                          on_line=lambda k: bar.advance(task, k))
            else:
                result = replay_lines(src, policies, until_us, on_invalid=report)
    except OSError as exc:
        _fail(f"cannot read {events}: {exc}")
    try:
        if out is None or str(out) == "-":
            write_records(result.records, sys.stdout.buffer, extended)
            sys.stdout.buffer.flush()
        else:
            with open(out, "wb") as sink:
                write_records(result.records, sink, extended)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    if clickhouse:
        from sinks.clickhouse import SinkUnavailable, backfill

        try:
            n = backfill(result.records, clickhouse)
        except SinkUnavailable as exc:
            _fail(str(exc))
        err.print(f"wrote {n} records to {_redacted(clickhouse)}", markup=False)
    until_text = format_us(result.until_us) if result.until_us is not None else "-"
    err.print(
        f"replayed {result.events} events ({result.invalid} invalid, {result.duplicates} duplicate, "
        f"{result.after_until} after --until, {result.orphans} for unknown or ended entities) "
        f"until {until_text}: {len(result.records)} records, {result.open_entities} entities still open",
        markup=False, soft_wrap=True)


@app.command()
def generate(
    out: Optional[Path] = typer.Option(None, "--out", help="JSON Lines file to write."),
    days: float = typer.Option(1.0, "--days", help="How many days of traffic."),
    seed: int = typer.Option(1, "--seed"),
    start: Optional[str] = typer.Option(None, "--start", help="RFC 3339 start, or 'now' (default: a Monday, 2026-11-02T00:00+08:00)."),
    conversations_per_day: int = typer.Option(2000, "--conversations-per-day"),
    tickets_per_day: int = typer.Option(300, "--tickets-per-day"),
    duplicate_rate: float = typer.Option(0.0, "--duplicate-rate", help="Fraction of events redelivered with the same event_id."),
    disorder_seconds: float = typer.Option(0.0, "--disorder-seconds", help="Maximum emit-order jitter in seconds."),
    to_kafka: bool = typer.Option(False, "--to-kafka", help="Produce to the broker of SLAWATCH_BROKER_URL instead of a file."),
    speedup: Optional[float] = typer.Option(None, "--speedup", help="With --to-kafka: pace by event time (1 = real time); default as fast as possible."),
) -> None:
    """Generate a realistic, seeded stream of support events (JSON Lines, or live to Kafka)."""
    from datetime import datetime, timezone

    from .generator import GeneratorConfig, generate, generate_jsonl

    kwargs = dict(seed=seed, days=days, conversations_per_day=conversations_per_day,
                  tickets_per_day=tickets_per_day, duplicate_rate=duplicate_rate,
                  disorder_seconds=disorder_seconds)
    if start == "now":
        kwargs["start"] = datetime.now(timezone.utc).replace(microsecond=0)
    elif start is not None:
        try:
            kwargs["start"] = datetime.fromisoformat(start)
        except ValueError as exc:
            _fail(f"--start: {exc}")
    try:
        cfg = GeneratorConfig(**kwargs)
    except ValueError as exc:
        _fail(str(exc))
    if to_kafka:
        from .producer import produce_sync
        from .settings import Settings

        settings = Settings()
        n = produce_sync(generate(cfg), settings, speedup=speedup)
        err.print(f"produced {n} events to {settings.broker_url}", markup=False)
        return
    if out is None:
        _fail("--out is required unless --to-kafka")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        n = generate_jsonl(cfg, out)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    err.print(f"wrote {n} events to {out}", markup=False)


@app.command()
def summary(records: Path = typer.Argument(..., help="SLA records (JSON Lines) from `slawatch replay`.")) -> None:
    """Print an SLA attainment summary of a records file."""
    import orjson

    from .summary import render, summarise

    try:
        with open(records, "rb") as f:
            rows = [orjson.loads(line) for line in f if line.strip()]
    except (OSError, orjson.JSONDecodeError) as exc:
        _fail(f"cannot read {records}: {exc}")
    render(summarise(rows), Console())


@app.command()
def worker() -> None:
    """Run a live worker (settings from SLAWATCH_* environment variables or .env)."""
    from .settings import Settings

    try:
        settings = Settings()
        load_policies(settings.rules)
    except PolicyError as exc:
        _fail(f"invalid policy file\n{exc}")
    except ValueError as exc:
        _fail(f"invalid settings: {exc}")
    from .worker import run_worker

    run_worker(settings)


@app.command()
def sink(clickhouse: str = typer.Option(..., "--clickhouse", envvar="SLAWATCH_CLICKHOUSE_DSN",
                                        help="chdb:///dir (embedded) or http://user:pass@host:8123/db")) -> None:
    """Copy the output topics (SLA records, metric windows, dead letters) into ClickHouse."""
    from sinks.kafka_to_clickhouse import run_sink_forever

    from .settings import Settings

    run_sink_forever(Settings(), clickhouse)


@app.command()
def query(
    sql: str = typer.Argument(..., help="A read-only SQL query, e.g. \"SELECT status, count() FROM sla_records FINAL GROUP BY status\""),
    api: Optional[str] = typer.Option(None, "--api", help="URL of a running `slawatch sink` (token: SLAWATCH_API_TOKEN)"),
    clickhouse: Optional[str] = typer.Option(None, "--clickhouse", envvar="SLAWATCH_CLICKHOUSE_DSN", help="or a DSN (a chdb directory must not be in use)"),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines instead of a table"),
) -> None:
    """Query the ClickHouse history, directly or through the sink that owns an embedded one."""
    import orjson
    from rich.table import Table

    from .settings import Settings

    try:
        if api:
            from sinks.kafka_to_clickhouse import remote_query

            token = Settings().api_token
            result = remote_query(api, token.get_secret_value() if token else None, sql)
        elif clickhouse:
            from sinks.clickhouse import ClickHouseSink

            ch = ClickHouseSink(clickhouse)
            try:
                result = ch.connect().read(sql)
            finally:
                ch.close()
        else:
            _fail("give --api URL or --clickhouse DSN")
    except Exception as exc:  # noqa: BLE001 - show the database's or server's message
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if as_json:
        for row in result["rows"]:
            sys.stdout.buffer.write(orjson.dumps(dict(zip(result["columns"], row)), default=str) + b"\n")
        return
    table = Table(*result["columns"])
    for row in result["rows"]:
        table.add_row(*(str(v) for v in row))
    Console().print(table)


@app.command()
def report(
    from_: str = typer.Option(..., "--from", help="first local day, YYYY-MM-DD"),
    to: str = typer.Option(..., "--to", help="last local day (inclusive), YYYY-MM-DD"),
    html: Optional[Path] = typer.Option(None, "--html", help="also write a self-contained HTML page with charts"),
    tz: str = typer.Option("Asia/Shanghai", "--tz", help="time zone of the days, hours and weekends"),
    events: Optional[Path] = typer.Option(None, "--events", help="offline: replay this event file (JSON Lines) in process instead of reading ClickHouse"),
    rules: Path = typer.Option(DEFAULT_RULES, "--rules", help="with --events: SLA policy file"),
    qa_rules: Optional[Path] = typer.Option(DEFAULT_RULES.parent / "qa.yaml", "--qa-rules", help="with --events: QA sampling rules"),
    api: Optional[str] = typer.Option(None, "--api", help="URL of a running `slawatch sink` (token: SLAWATCH_API_TOKEN)"),
    clickhouse: Optional[str] = typer.Option(None, "--clickhouse", envvar="SLAWATCH_CLICKHOUSE_DSN", help="or a DSN (a chdb directory must not be in use)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON instead of tables"),
) -> None:
    """Periodic service report (volume, response, resolution, SLA, CSAT, reopens, QA) for managers."""
    import orjson

    from .report import ReportError, build_report, clickhouse_inputs, events_inputs, render
    from .report import Period

    try:
        period = Period.parse(from_, to, tz)
    except ReportError as exc:
        _fail(str(exc))
    if events is not None:
        from .core.qa_rules import QARulesError, load_qa_rules

        policies = _load_rules(rules)
        try:
            qrules = load_qa_rules(qa_rules) if qa_rules is not None else None
            lines = events.read_bytes().splitlines()
        except QARulesError as exc:
            _fail(f"invalid QA rules\n{exc}")
        except OSError as exc:
            _fail(f"cannot read {exc.filename}: {exc.strerror}")
        inputs = events_inputs(lines, policies, period, qrules)
        for n, reason in inputs.invalid[:20]:
            err.print(f"{events}:{n}: invalid event skipped: {reason}", markup=False, soft_wrap=True)
        cells, counts, qa, source = inputs.cells, inputs.counts, inputs.qa, f"events {events}"
    else:
        if api:
            from sinks.kafka_to_clickhouse import remote_query

            from .settings import Settings

            secret = Settings().api_token
            token = secret.get_secret_value() if secret else None
            read, source, ch = (lambda sql, params: remote_query(api, token, sql, params)), f"sink {api}", None
        elif clickhouse:
            from sinks.clickhouse import ClickHouseSink

            ch = ClickHouseSink(clickhouse)
            read, source = (lambda sql, params: ch.connect().read(sql, params)), "ClickHouse history"
        else:
            _fail("give --api URL, --clickhouse DSN (or SLAWATCH_CLICKHOUSE_DSN), or --events FILE")
        try:
            cells, counts, qa = clickhouse_inputs(read, period)
        except Exception as exc:  # noqa: BLE001 - show the database's or server's message
            _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        finally:
            if ch is not None:
                ch.close()
    result = build_report(period, cells, counts, qa, source)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        render(result, Console())
    if html is not None:
        from .report_html import render_html

        try:
            html.write_text(render_html(result), encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {html}: {exc.strerror}")
        err.print(f"wrote {html}", markup=False)


@app.command()
def broker(topics: bool = typer.Option(True, "--topics/--no-topics", help="create the slawatch topics"),
           url_file: Optional[Path] = typer.Option(None, "--url-file", help="write host:port here once ready")) -> None:
    """Run the embedded Kafka-protocol broker (tansu, memory storage) until interrupted."""
    import signal
    import time

    from .broker import EmbeddedBroker
    from .settings import Settings

    s = Settings()
    b = EmbeddedBroker()
    b.start()
    if topics:
        b.create_topics({s.conversations_topic: s.partitions, s.tickets_topic: s.partitions,
                         s.dead_letter_topic: s.partitions, s.sla_events_topic: s.partitions,
                         s.metrics_topic: s.partitions})
    if url_file is not None:
        url_file.write_text(b.url)
    Console().print(f"embedded broker at {b.url}  (export SLAWATCH_BROKER_URL={b.url} SLAWATCH_EMBEDDED=true)", markup=False)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        b.stop()


@app.command()
def view(url: str = typer.Option("http://127.0.0.1:9108/status", "--url"),
         interval: float = typer.Option(1.0, "--interval"),
         duration: Optional[float] = typer.Option(None, "--duration", help="stop after N seconds")) -> None:
    """Live terminal view for supervisors: queue, oldest wait, first response vs target."""
    from .live_view import run

    run(url, interval=interval, duration=duration)


# Top-level keys that only a QA sampling file has (rules/qa.yaml); an SLA file has `policies`.
_QA_KEYS = frozenset(("rate", "seed", "strata", "per_agent", "targeted", "backup"))


def _rules_kind(path: Path) -> str:
    """'qa' for a QA sampling file, else 'sla' (whose loader then reports what is wrong)."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "sla"
    return "qa" if isinstance(doc, dict) and "policies" not in doc and _QA_KEYS & set(doc) else "sla"


@rules_app.command("check")
def rules_check(
    path: Path = typer.Argument(DEFAULT_RULES, help="Rules file to validate."),
    kind: Optional[str] = typer.Option(None, "--kind", help="sla or qa (default: from the file's keys)"),
) -> None:
    """Validate an SLA policy file or a QA sampling file; exit 2 with every problem listed."""
    kind = kind or _rules_kind(path)
    if kind == "qa":
        from .core.qa_rules import QARulesError, load_qa_rules

        try:
            qa = load_qa_rules(path)
        except QARulesError as exc:
            _fail(f"invalid QA rules file\n{exc}")
        Console().print(f"{path}: OK, QA rules version {qa.version}, rate {qa.rate:.1%}, "
                        f"{sum(p.enabled for p in qa.pools) + qa.escalation.enabled} targeted pools on",
                        markup=False)
        return
    if kind != "sla":
        _fail(f"--kind must be sla or qa, got {kind!r}")
    policies = _load_rules(path)
    Console().print(f"{path}: OK, {len(policies.policies)} policies, "
                    f"{len(policies.calendars)} calendars", markup=False)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
