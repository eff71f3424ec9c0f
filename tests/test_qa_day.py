"""The QA day (streams/qa_day.py) and `slawatch qa` (streams/qa_cli.py) on generated events."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from streams.core.policy import load_policies
from streams.core.qa_rules import load_qa_rules
from streams.generator import GeneratorConfig, generate
from streams.qa_cli import qa_app
from streams.qa_day import run_qa_day, summaries_from_events
from streams.replay import replay_lines
from streams.settings import DEFAULT_RULES

ROOT = Path(__file__).resolve().parent.parent
QA_RULES = ROOT / "rules" / "qa.yaml"
PHONE, EMAIL = "13812345678", "zhang.wei@example.com"
runner = CliRunner()


def _ev(n, typ, at, **fields):
    return {"event_id": f"h-{n}", "type": typ, "occurred_at": at, **fields}


def hand_made() -> list[dict]:
    """Four scenarios on 2026-11-03 (+08:00)."""
    c = "2026-11-03T10:00:{:02d}+08:00".format
    evs = [
        # CVA: an agent joined and wrote (with the customer's phone and e-mail!), then abandoned.
        _ev(1, "conversation.started", c(0), conversation_id="CVA", channel="web", queue="payment",
            customer_id="U1", customer_tier="regular"),
        _ev(2, "conversation.message", c(1), conversation_id="CVA", message_id="m1",
            author_role="customer", text=f"我的手机 {PHONE}，邮箱 {EMAIL}"),
        _ev(3, "conversation.assigned", c(5), conversation_id="CVA", agent_id="A007"),
        _ev(4, "conversation.message", c(6), conversation_id="CVA", message_id="m2",
            author_role="agent", author_id="A007", text=f"您好，确认一下手机是 {PHONE} 吗"),
        _ev(5, "conversation.ended", c(30), conversation_id="CVA", outcome="abandoned"),
        # CVB: abandoned before any agent; rated 1.
        _ev(6, "conversation.started", c(0), conversation_id="CVB", channel="app",
            customer_id="U2", customer_tier="regular"),
        _ev(7, "conversation.message", c(1), conversation_id="CVB", message_id="m3",
            author_role="customer", text="有人吗"),
        _ev(8, "conversation.ended", c(40), conversation_id="CVB", outcome="abandoned"),
        _ev(9, "conversation.rated", c(50), conversation_id="CVB", score=1),
        # TKR: solved, reopened, solved again; rated 4. Internal note left out of the transcript.
        _ev(10, "ticket.created", "2026-11-03T09:00:00+08:00", ticket_id="TKR", channel="email",
            priority="normal", category="refund", customer_id="U3", customer_tier="vip"),
        _ev(11, "ticket.assigned", "2026-11-03T09:05:00+08:00", ticket_id="TKR", assignee_id="A002"),
        _ev(12, "ticket.status_changed", "2026-11-03T09:05:00+08:00", ticket_id="TKR", status="open"),
        _ev(13, "ticket.comment", "2026-11-03T09:06:00+08:00", ticket_id="TKR", author_role="agent",
            author_id="A002", public=False, text="internal note"),
        _ev(14, "ticket.status_changed", "2026-11-03T11:00:00+08:00", ticket_id="TKR", status="solved"),
        _ev(15, "ticket.status_changed", "2026-11-03T12:00:00+08:00", ticket_id="TKR", status="open"),
        _ev(16, "ticket.status_changed", "2026-11-03T13:00:00+08:00", ticket_id="TKR", status="solved"),
        _ev(17, "ticket.rated", "2026-11-03T14:00:00+08:00", ticket_id="TKR", score=4),
        # CVL: ends 2026-11-03 23:59 UTC+0 = 2026-11-04 07:59 Shanghai.
        _ev(18, "conversation.started", "2026-11-03T23:50:00Z", conversation_id="CVL",
            channel="wechat", customer_id="U4", customer_tier="new"),
        _ev(19, "conversation.ended", "2026-11-03T23:59:00Z", conversation_id="CVL", outcome="resolved"),
    ]
    return evs


def test_summaries_hand_made():
    records = [{"entity_id": "CVB", "status": "breached"}, {"entity_id": "CVA", "status": "warning"}]
    summaries, turns = summaries_from_events(hand_made(), records)
    by = {s.entity_id: s for s in summaries}
    assert set(by) == {"CVA", "CVB", "TKR", "CVL"}
    a, b, t, late = by["CVA"], by["CVB"], by["TKR"], by["CVL"]
    assert a.abandoned_after_agent and a.agent_id == "A007" and not a.breached and a.csat is None
    assert a.handle_time_s == 30 and a.day == "2026-11-03" and a.channel == "web"
    assert not b.abandoned_after_agent and b.agent_id is None and b.breached and b.csat == 1
    assert t.reopened and t.csat == 4 and t.agent_id == "A002" and t.entity_kind == "ticket"
    assert t.handle_time_s == 4 * 3600  # created 09:00, last solved 13:00
    assert turns["TKR"] == []  # the internal note is not part of the transcript
    assert late.day == "2026-11-04" and late.agent_id is None
    assert [x.role for x in turns["CVA"]] == ["customer", "agent"]


def test_run_qa_day_masks_transcripts_but_checks_see_pii():
    rows = run_qa_day(hand_made(), [{"entity_id": "CVB", "status": "breached"}],
                      load_qa_rules(QA_RULES), day="2026-11-03")
    assert {r["entity_id"] for r in rows} >= {"CVA", "CVB", "TKR"}
    assert "CVL" not in {r["entity_id"] for r in rows}  # another day
    dump = orjson.dumps(rows).decode()
    assert PHONE not in dump and EMAIL not in dump
    a = next(r for r in rows if r["entity_id"] == "CVA")
    assert "abandoned_after_agent_joined" in a["reasons"]
    assert "[PHONE]" in a["transcript"][1]["text"] and "[EMAIL]" in a["transcript"][0]["text"]
    checks = {c["check"]: c for c in a["checks"]}
    assert not checks["privacy"]["passed"] and checks["privacy"]["evidence"] == ["#1: phone"]
    assert checks["greeting"]["passed"]
    b = next(r for r in rows if r["entity_id"] == "CVB")
    assert {"low_csat", "breached"} <= set(b["reasons"])
    assert "reopened" in next(r for r in rows if r["entity_id"] == "TKR")["reasons"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    d = tmp_path_factory.mktemp("qa")
    events = list(generate(GeneratorConfig(seed=7, days=0.3)))
    # Plant PII in one agent reply of the generated log.
    target = next(i for i, e in enumerate(events)
                  if e["type"] == "conversation.message" and e["author_role"] == "agent")
    events[target] = {**events[target], "text": f"请拨打 {PHONE} 或发邮件到 {EMAIL}"}
    path = d / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return events, path, events[target]["conversation_id"], d


def test_generated_day_masked_and_flagged(generated):
    events, path, planted, _ = generated
    res = replay_lines(path.read_bytes().splitlines(), load_policies(DEFAULT_RULES))
    summaries, _ = summaries_from_events(events, res.records)
    assert summaries and all(s.day == "2026-11-02" for s in summaries)
    breached = {r.entity_id for r in res.records if r.status == "breached"}
    assert {s.entity_id for s in summaries if s.breached} == breached & {s.entity_id for s in summaries}
    rows = run_qa_day(events, res.records, load_qa_rules(QA_RULES))
    assert rows
    dump = orjson.dumps(rows).decode()
    assert PHONE not in dump and EMAIL not in dump
    for r in rows:
        if r["entity_id"] == planted:
            assert not next(c for c in r["checks"] if c["check"] == "privacy")["passed"]


def _invoke(args):
    result = runner.invoke(qa_app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def stored(generated):
    events, path, _, d = generated
    dsn = f"chdb://{d / 'ch'}"
    args = ["sample", str(path), "--rules", str(DEFAULT_RULES), "--qa-rules", str(QA_RULES),
            "--clickhouse", dsn]
    first = _invoke(args)
    counts = _counts(dsn)
    second = _invoke(args + ["--day", "2026-11-02"])
    assert first.output == second.output
    return dsn, counts, first.output


def _counts(dsn):
    from sinks.clickhouse import ClickHouseSink

    with ClickHouseSink(dsn).connect() as s:
        return {t: s.count_rows(t) for t in ("qa_samples", "qa_transcripts", "qa_checks")}


def test_sample_is_idempotent(stored):
    dsn, counts, out = stored
    assert counts["qa_samples"] > 0
    assert counts["qa_transcripts"] == counts["qa_samples"]
    assert counts["qa_checks"] == 6 * counts["qa_samples"]
    assert _counts(dsn) == counts
    assert out.splitlines()[0] == f"samples\t{counts['qa_samples']}"
    assert "breached\t" in out


def _pull(dsn, *extra):
    return _invoke(["pull", "--from", "2026-11-02", "--to", "2026-11-02", "--clickhouse", dsn,
                    *extra]).stdout


def test_pull_agent_jsonl(stored):
    dsn = stored[0]
    everything = [orjson.loads(x) for x in _pull(dsn).splitlines()]
    assert len(everything) == stored[1]["qa_samples"]
    agent = next(r["agent_id"] for r in everything if r["agent_id"])
    mine = [orjson.loads(x) for x in _pull(dsn, "--agent", agent, "--format", "jsonl").splitlines()]
    assert mine and all(r["agent_id"] == agent for r in mine)
    assert len(mine) == sum(r["agent_id"] == agent for r in everything)
    assert all(r["transcript"] and len(r["checks"]) == 6 for r in mine)
    assert PHONE not in _pull(dsn)
    # Filters are bound parameters: a quote is data, not SQL.
    assert _pull(dsn, "--agent", "x' OR 1=1 --") == ""
    failed = [orjson.loads(x) for x in _pull(dsn, "--check-failed", "greeting").splitlines()]
    assert all(not next(c for c in r["checks"] if c["check"] == "greeting")["passed"] for r in failed)
    breached = [orjson.loads(x) for x in _pull(dsn, "--reason", "breached").splitlines()]
    assert breached and all("breached" in r["reasons"] for r in breached)


def test_pull_csv(stored, tmp_path):
    dsn = stored[0]
    out = tmp_path / "s.csv"
    _invoke(["pull", "--from", "2026-11-01", "--to", "2026-11-03", "--format", "csv",
             "--out", str(out), "--clickhouse", dsn])
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == stored[1]["qa_samples"]
    assert all(orjson.loads(r["transcript"]) is not None and r["sample_id"] for r in rows)


def test_summary_per_agent(stored):
    dsn = stored[0]
    everything = [orjson.loads(x) for x in _pull(dsn).splitlines()]
    out = _invoke(["summary", "--from", "2026-11-02", "--to", "2026-11-02", "--clickhouse", dsn,
                   "--json"]).stdout
    per = {r["agent_id"]: r for r in map(orjson.loads, out.splitlines())}
    for agent in {r["agent_id"] or "-" for r in everything}:
        n = sum((r["agent_id"] or "-") == agent for r in everything)
        assert per[agent]["samples"] == n
        assert sum(per[agent]["checks"]["greeting"].values()) == n
    table = _invoke(["summary", "--from", "2026-11-02", "--to", "2026-11-02", "--clickhouse", dsn]).stdout
    assert table.splitlines()[0].startswith("agent") and "greeting ok/fail" in table



def test_pull_html_pages(stored, tmp_path):
    dsn = stored[0]
    out = tmp_path / "pages"
    _invoke(["pull", "--from", "2026-11-02", "--to", "2026-11-02", "--format", "html",
             "--out", str(out), "--clickhouse", dsn])
    pages = sorted(p.name for p in out.glob("*.html"))
    samples = _pull(dsn).strip().splitlines()
    assert "index.html" in pages and len(pages) == len(samples) + 1
    index = (out / "index.html").read_text()
    first = orjson.loads(samples[0])
    assert first["entity_id"] in index
