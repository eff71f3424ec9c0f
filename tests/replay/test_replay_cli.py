"""`slawatch replay` as a user runs it: a real process, files, stderr and exit codes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.scenario import Scenario, utc

ROOT = Path(__file__).resolve().parents[2]
RULES = """
policies:
  - name: chat
    match: {kind: conversation}
    targets: {first_response: {within: 30s}}
"""


def slawatch(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], input=stdin,
                          capture_output=True, cwd=ROOT, env=env, timeout=120)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(RULES)
    return p


def write_events(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def read_records(path: Path) -> list[dict]:
    return [orjson.loads(l) for l in path.read_bytes().splitlines() if l.strip()]


def test_replay_writes_sorted_records_and_reports_invalid_lines(tmp_path, rules):
    s = Scenario()
    s.started("c2", 0)
    s.started("c1", 0)
    s.msg("c1", 10, "agent", author_id="A1")
    lines = s.lines()
    lines.insert(1, b"{not json")
    lines.insert(3, b'{"event_id":"x","type":"conversation.started","occurred_at":"2026-11-02T09:00:00+08:00"}')
    lines.insert(4, b'{"event_id":"y","type":"conversation.flew_away","occurred_at":"2026-11-02T09:00:00+08:00","conversation_id":"c9"}')
    events = write_events(tmp_path / "events.jsonl", lines)
    out = tmp_path / "out.jsonl"
    proc = slawatch("replay", str(events), "--rules", str(rules), "--out", str(out), "--until", utc(60))
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert f"{events}:2: invalid event skipped: not valid JSON" in err
    assert f"{events}:4: invalid event skipped: missing field 'conversation_id'" in err
    assert f"{events}:5: invalid event skipped: unknown event type 'conversation.flew_away'" in err
    assert "3 invalid" in err
    recs = read_records(out)
    assert [(r["entity_id"], r["status"], r["at"]) for r in recs] == [
        ("c1", "achieved", utc(10)), ("c2", "breached", utc(30))]
    assert list(recs[0]) == ["entity_kind", "entity_id", "metric", "policy", "cycle", "status",
                             "target_seconds", "elapsed_seconds", "deadline", "at", "channel",
                             "priority", "customer_tier", "category", "agent_id"]


def test_default_until_is_newest_event_and_until_is_inclusive(tmp_path, rules):
    s = Scenario()
    s.started("c1", 0)
    s.started("c2", 20)
    events = write_events(tmp_path / "e.jsonl", s.lines())
    out = tmp_path / "o.jsonl"
    assert slawatch("replay", str(events), "--rules", str(rules), "--out", str(out)).returncode == 0
    assert read_records(out) == []          # clock ends at 20 s: nothing due yet
    proc = slawatch("replay", str(events), "--rules", str(rules), "--out", str(out), "--until", utc(30))
    assert proc.returncode == 0, proc.stderr
    assert [(r["entity_id"], r["status"]) for r in read_records(out)] == [("c1", "breached")]
    slawatch("replay", str(events), "--rules", str(rules), "--out", str(out), "--until", utc(50))
    assert [(r["entity_id"], r["status"]) for r in read_records(out)] == [("c1", "breached"), ("c2", "breached")]


def test_events_after_until_are_not_applied(tmp_path, rules):
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 40, "agent")
    events = write_events(tmp_path / "e.jsonl", s.lines())
    out = tmp_path / "o.jsonl"
    proc = slawatch("replay", str(events), "--rules", str(rules), "--out", str(out), "--until", utc(35))
    assert proc.returncode == 0
    assert [r["status"] for r in read_records(out)] == ["breached"]
    assert "1 after --until" in proc.stderr.decode()


def test_stdout_is_the_default_output(tmp_path, rules):
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 5, "agent")
    events = write_events(tmp_path / "e.jsonl", s.lines())
    proc = slawatch("replay", str(events), "--rules", str(rules))
    assert proc.returncode == 0
    assert [orjson.loads(l)["status"] for l in proc.stdout.splitlines()] == ["achieved"]


def test_unreadable_input_exits_non_zero(tmp_path, rules):
    proc = slawatch("replay", str(tmp_path / "missing.jsonl"), "--rules", str(rules))
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr.decode() and "missing.jsonl" in proc.stderr.decode()


def test_broken_rules_exit_non_zero_naming_file_key_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies:\n  - name: x\n    match: {}\n    targets:\n      first_response: {within: 15x}\n")
    events = write_events(tmp_path / "e.jsonl", Scenario().lines() or [b""])
    proc = slawatch("replay", str(events), "--rules", str(bad))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "bad.yaml" in err and "policies[0].targets.first_response.within" in err and "line 5" in err


def test_bad_until_is_a_usage_error(tmp_path, rules):
    events = write_events(tmp_path / "e.jsonl", [b""])
    proc = slawatch("replay", str(events), "--rules", str(rules), "--until", "yesterday")
    assert proc.returncode == 2 and "--until" in proc.stderr.decode()


def test_file_with_only_invalid_lines_still_exits_zero(tmp_path, rules):
    events = write_events(tmp_path / "e.jsonl", [b"garbage", b"[1,2]", b'{"type": 5}'])
    proc = slawatch("replay", str(events), "--rules", str(rules))
    assert proc.returncode == 0
    assert proc.stdout == b""
    assert proc.stderr.decode().count("invalid event skipped") == 3


def test_extended_records_carry_a_deterministic_record_id(tmp_path, rules):
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 5, "agent")
    events = write_events(tmp_path / "e.jsonl", s.lines())
    a = slawatch("replay", str(events), "--rules", str(rules), "--extended").stdout
    b = slawatch("replay", str(events), "--rules", str(rules), "--extended").stdout
    rec = orjson.loads(a.splitlines()[0])
    assert a == b and len(rec["record_id"]) == 32 and "queue" in rec


def test_rules_check_command(tmp_path, rules):
    assert slawatch("rules", "check", str(rules)).returncode == 0
    assert slawatch("rules", "check", str(ROOT / "rules" / "sla.yaml")).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies: []\n")
    assert slawatch("rules", "check", str(bad)).returncode == 2


def test_rules_check_validates_qa_sampling_files_too(tmp_path):
    ok = slawatch("rules", "check", str(ROOT / "rules" / "qa.yaml"))
    assert ok.returncode == 0 and b"QA rules version" in ok.stdout
    bad = tmp_path / "qa.yaml"
    bad.write_text("version: x\nseed: 1\nrate: 2\n")
    proc = slawatch("rules", "check", str(bad))
    assert proc.returncode == 2
    assert b"invalid QA rules file" in proc.stderr and b"rate (line 3)" in proc.stderr
    # Forced to the other kind: the SLA loader's complaint, not a silent pass.
    forced = slawatch("rules", "check", str(ROOT / "rules" / "qa.yaml"), "--kind", "sla")
    assert forced.returncode == 2 and b"invalid policy file" in forced.stderr


def test_generate_then_replay_round_trip(tmp_path):
    events = tmp_path / "gen.jsonl"
    proc = slawatch("generate", "--out", str(events), "--days", "0.05", "--seed", "4")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "o.jsonl"
    proc = slawatch("replay", str(events), "--out", str(out))
    assert proc.returncode == 0 and "0 invalid" in proc.stderr.decode()
    statuses = {r["status"] for r in read_records(out)}
    assert {"achieved", "breached"} <= statuses


def test_generate_rejects_naive_start(tmp_path):
    proc = slawatch("generate", "--out", str(tmp_path / "g.jsonl"), "--start", "2026-11-02T00:00:00")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr.decode()


def test_replay_backfills_clickhouse_idempotently(tmp_path, rules):
    from sinks.clickhouse import ClickHouseSink

    s = Scenario()
    s.started("c1", 0)
    s.started("c2", 1)
    s.msg("c1", 5, "agent")
    events = write_events(tmp_path / "e.jsonl", s.lines())
    dsn = f"chdb://{tmp_path / 'ch'}"
    for _ in range(2):  # a second backfill of the same file must not double count
        proc = slawatch("replay", str(events), "--rules", str(rules), "--until", utc(60),
                        "--out", str(tmp_path / "o.jsonl"), "--clickhouse", dsn)
        assert proc.returncode == 0, proc.stderr
        assert "wrote 2 records" in proc.stderr.decode()
    sink = ClickHouseSink(dsn)
    sink.connect()
    try:
        assert sink.count_records() == 2
    finally:
        sink.close()


def test_clickhouse_dsn_is_printed_without_its_password():
    from streams.cli import _redacted

    assert _redacted("http://writer:fake-s3cret@ch.internal:8123/slawatch") == \
        "http://writer:***@ch.internal:8123/slawatch"
    assert _redacted("chdb:///var/lib/slawatch/ch") == "chdb:///var/lib/slawatch/ch"
    assert "fake-s3cret" not in _redacted("https://u:fake-s3cret@host/db")
