"""QA sampling rules (rules/qa.yaml) and the daily QA sample (issue 5)."""
from __future__ import annotations

import dataclasses
import pathlib
import pickle
import random
from collections import Counter, defaultdict

import pytest

from streams.core.qa_rules import QARules, QARulesError, load_qa_rules, load_qa_rules_text
from streams.core.qa_sampler import ConversationSummary, QASampler, Sample, draw, sample_id

RULES = pathlib.Path(__file__).resolve().parents[2] / "rules" / "qa.yaml"
SRC = "rules/qa.yaml"
DAY = "2026-11-11"
CHANNELS = ("web", "app", "phone", "wechat", "email")
AGENTS = tuple(f"A{i:02d}" for i in range(40))

BASE = """\
version: "t1"
seed: 42
rate: 0.07
strata: [channel, agent]
per_agent: {min_per_day: 5, max_per_day: 30}
targeted:
  low_csat: {max_score: 2}
  breached: true
  reopened: true
  abandoned_after_agent_joined: true
  long_handle_time: {percentile: 90}
  escalation_words:
    zh: [投诉, "12315", 退款, 曝光, 律师]
    en: [complaint, refund, lawyer, chargeback]
backup: true
"""

ZH_BAD = ["我要投诉你们", "再不处理我打12315", "给我退款！", "我要去媒体曝光", "我的律师会联系你们"]
EN_BAD = ["I want to file a complaint", "Refund me now", "my lawyer will call", "I'll do a chargeback"]
NEUTRAL = ["你好，请问订单什么时候发货", "谢谢", "Where is my parcel?", "ok thanks",
           "我的快递到哪了", "Can I change the address?"]


def rules(text: str = BASE, **repl: str) -> QARules:
    for old, new in repl.items():
        text = text.replace(old, new)
    return load_qa_rules_text(text, SRC)


def make_summaries(n: int = 10_000, seed: int = 1) -> list[ConversationSummary]:
    rnd = random.Random(seed)
    # agents A38 and A39 are new: only a handful of conversations each (min_per_day top-up)
    weights = [1.0] * 38 + [0.0, 0.0]
    out = []
    for i in range(n):
        channel = rnd.choice(CHANNELS)
        agent = rnd.choices(AGENTS, weights)[0]
        texts = [("customer", rnd.choice(NEUTRAL)), ("agent", "您好，很高兴为您服务")]
        x = rnd.random()
        if x < 0.02:
            texts.append(("customer", rnd.choice(ZH_BAD)))
        elif x < 0.03:
            texts.append(("customer", rnd.choice(EN_BAD)))
        elif x < 0.04:
            # an agent using the word is not an escalation
            texts.append(("agent", "退款已经处理 / your refund is on its way"))
        base = {"phone": 300.0, "email": 900.0}.get(channel, 180.0)
        out.append(ConversationSummary(
            entity_kind="conversation", entity_id=f"c{i:05d}", day=DAY, channel=channel,
            agent_id=agent, ended_at_us=1_794_000_000_000_000 + i * 1_000_000,
            csat=rnd.choice([None, None, 1, 2, 3, 4, 5, 5, 5, 5]) if rnd.random() < 0.5 else None,
            breached=rnd.random() < 0.03, reopened=rnd.random() < 0.01,
            abandoned_after_agent=rnd.random() < 0.01,
            handle_time_s=rnd.expovariate(1 / base), texts=texts))
    for j, agent in enumerate(("A38", "A38", "A38", "A38", "A38", "A38", "A38", "A38", "A39", "A39")):
        out.append(ConversationSummary(
            entity_kind="conversation", entity_id=f"new{j}", day=DAY, channel="web",
            agent_id=agent, ended_at_us=1_794_000_000_000_000 + j, handle_time_s=1.0,
            texts=[("customer", "hello")]))
    return out


@pytest.fixture(scope="module")
def summaries() -> list[ConversationSummary]:
    return make_summaries()


@pytest.fixture(scope="module")
def result(summaries) -> tuple[QARules, list[Sample]]:
    r = rules()
    return r, QASampler(r).select_day(summaries)


def _p90(values: list[float]) -> float:
    values = sorted(values)
    import math
    return values[math.ceil(0.9 * len(values)) - 1]


def expected_targeted(summaries: list[ConversationSummary]) -> dict[str, set[str]]:
    """Independent re-statement of the pools for the BASE rules."""
    exp: dict[str, set[str]] = defaultdict(set)
    by_channel: dict[str, list[ConversationSummary]] = defaultdict(list)
    for s in summaries:
        by_channel[s.channel].append(s)
    limits = {c: _p90([s.handle_time_s for s in m]) for c, m in by_channel.items()}
    zh, en = ("投诉", "12315", "退款", "曝光", "律师"), ("complaint", "refund", "lawyer", "chargeback")
    for s in summaries:
        if s.csat is not None and s.csat <= 2:
            exp[s.entity_id].add("low_csat")
        if s.breached:
            exp[s.entity_id].add("breached")
        if s.reopened:
            exp[s.entity_id].add("reopened")
        if s.abandoned_after_agent:
            exp[s.entity_id].add("abandoned_after_agent_joined")
        if s.handle_time_s > limits[s.channel]:
            exp[s.entity_id].add("long_handle_time")
        for role, text in s.texts:
            if role == "customer" and (any(w in text for w in zh)
                                       or any(w in text.lower() for w in en)):
                exp[s.entity_id].add("escalation_words")
    return exp


# --------------------------------------------------------------------------- sampling


def test_random_rate_within_one_point(summaries, result):
    r, samples = result
    n_random = sum("random" in s.reasons for s in samples)
    assert abs(n_random / len(summaries) - r.rate) <= 0.01
    # and per channel, since channel is a stratum
    per_channel = Counter(s.channel for s in samples if "random" in s.reasons)
    totals = Counter(s.channel for s in summaries)
    for channel in CHANNELS:
        assert abs(per_channel[channel] / totals[channel] - r.rate) <= 0.01, channel


@pytest.mark.parametrize("rate", ["0.05", "0.1"])
def test_other_rates(summaries, rate):
    samples = QASampler(rules(**{"rate: 0.07": f"rate: {rate}"})).select_day(summaries)
    n_random = sum("random" in s.reasons for s in samples)
    assert abs(n_random / len(summaries) - float(rate)) <= 0.01


def test_per_agent_max_holds_for_random_picks_only(summaries):
    r = rules(**{"max_per_day: 30": "max_per_day: 10"})
    samples = QASampler(r).select_day(summaries)
    random_per_agent = Counter(s.agent_id for s in samples if "random" in s.reasons)
    assert max(random_per_agent.values()) == 10
    all_per_agent = Counter(s.agent_id for s in samples)
    assert max(all_per_agent.values()) > 10   # targeted picks are not capped
    for agent in AGENTS[:5]:
        kept = [draw(r.seed, s.entity_id) for s in samples
                if s.agent_id == agent and "random" in s.reasons]
        assert len(kept) == 10


def test_per_agent_max_default_rules(result):
    r, samples = result
    random_per_agent = Counter(s.agent_id for s in samples if "random" in s.reasons)
    assert max(random_per_agent.values()) <= r.max_per_day


def test_per_agent_min_topped_up_from_backup(summaries, result):
    r, samples = result
    handled = Counter(s.agent_id for s in summaries)
    representative = Counter(s.agent_id for s in samples if {"random", "backup"} & set(s.reasons))
    for agent in AGENTS:
        assert representative[agent] >= min(r.min_per_day, handled[agent]), agent
    # A38 has 8 conversations: 5 reviewed; A39 has 2: both reviewed
    assert representative["A38"] == 5
    assert representative["A39"] == 2
    backups = [s for s in samples if "backup" in s.reasons]
    assert backups and all("random" not in s.reasons for s in backups)
    # backup picks come in draw order among the agent's unsampled conversations
    a38 = sorted((s for s in summaries if s.agent_id == "A38"), key=lambda s: draw(r.seed, s.entity_id))
    picked = {s.entity_id for s in samples if s.agent_id == "A38"}
    assert picked == {s.entity_id for s in a38[:5]}


def test_no_backup_when_disabled(summaries):
    samples = QASampler(rules(**{"backup: true": "backup: false"})).select_day(summaries)
    assert not any("backup" in s.reasons for s in samples)


def test_every_targeted_conversation_included_with_its_reasons(summaries, result):
    _, samples = result
    exp = expected_targeted(summaries)
    got = {s.entity_id: set(s.reasons) - {"random", "backup"} for s in samples}
    for entity_id, reasons in exp.items():
        assert got.get(entity_id) == reasons, entity_id
    # and nothing is targeted without a reason
    assert {k for k, v in got.items() if v} == set(exp)
    # every pool was exercised, and some conversations have several reasons
    assert set().union(*exp.values()) == {"low_csat", "breached", "reopened",
                                          "abandoned_after_agent_joined", "long_handle_time",
                                          "escalation_words"}
    assert any(len(v) >= 2 for v in exp.values())


def test_escalation_words_zh_and_en_customer_only():
    r = rules()
    sampler = QASampler(r)

    def conv(i, texts):
        return ConversationSummary("conversation", f"e{i}", DAY, "web", "A1", i, texts=texts)

    convs = [conv(1, [("customer", "不给退款我就打12315投诉")]),
             conv(2, [("customer", "I'll REFUND... no, I want a Chargeback")]),
             conv(3, [("agent", "您的退款已处理, refund done")]),
             conv(4, [("customer", "ok")])]
    got = {s.entity_id: s for s in sampler.select_day(convs)}
    assert got["e1"].matched_words == ("12315", "投诉", "退款")
    assert "escalation_words" in got["e1"].reasons
    assert got["e2"].matched_words == ("chargeback", "refund")
    assert "escalation_words" not in got["e3"].reasons   # in the sample only as a backup pick
    assert got["e3"].reasons == ("backup",) and got["e3"].matched_words == ()


def test_pools_can_be_switched_off(summaries):
    text = BASE.replace("breached: true", "breached: false").replace(
        "low_csat: {max_score: 2}", "low_csat: {enabled: false}")
    samples = QASampler(load_qa_rules_text(text, SRC)).select_day(summaries)
    assert not any({"breached", "low_csat"} & set(s.reasons) for s in samples)


def test_priority_worst_first(result):
    _, samples = result
    prios = [s.priority for s in samples]
    assert prios == sorted(prios, reverse=True)
    first_untargeted = next(i for i, s in enumerate(samples) if not s.targeted)
    assert all(not s.targeted for s in samples[first_untargeted:])
    assert all(s.priority > 0 for s in samples[:first_untargeted])
    assert samples[0].reasons[0] == "low_csat" and len(samples[0].reasons) >= 2


def test_reasons_sorted_in_canonical_order(result):
    from streams.core.qa_rules import REASON_ORDER
    _, samples = result
    for s in samples:
        assert list(s.reasons) == sorted(s.reasons, key=REASON_ORDER.index)
        assert len(set(s.reasons)) == len(s.reasons)


def test_deterministic_and_order_independent(summaries, result):
    r, samples = result
    again = QASampler(rules()).select_day(summaries)
    assert again == samples
    shuffled = list(summaries)
    random.Random(7).shuffle(shuffled)
    assert QASampler(r).select_day(shuffled) == samples


def test_other_seed_gives_other_random_sample(summaries, result):
    _, samples = result
    other = QASampler(rules(**{"seed: 42": "seed: 43"})).select_day(summaries)
    pick = lambda xs: {s.entity_id for s in xs if "random" in s.reasons}  # noqa: E731
    assert pick(other) != pick(samples)
    # targeted pools do not depend on the seed
    tgt = lambda xs: {(s.entity_id, s.reasons[0]) for s in xs if s.targeted}  # noqa: E731
    assert tgt(other) == tgt(samples)


def test_sample_ids_stable(result):
    r, samples = result
    ids = [s.sample_id for s in samples]
    assert len(set(ids)) == len(ids)
    for s in samples[:50]:
        assert s.sample_id == sample_id(r.version, s.entity_kind, s.entity_id)
        assert s.rule_version == "t1" and s.seed == 42
    assert sample_id("t1", "conversation", "c00001") == sample_id("t1", "conversation", "c00001")
    assert sample_id("t1", "conversation", "c00001") != sample_id("t2", "conversation", "c00001")
    # a new seed redraws the random sample but the id of a conversation does not change
    other = QASampler(rules(**{"seed: 42": "seed: 43"})).select_day(
        [dataclasses.replace(make_summaries(50)[0])])
    assert all(s.sample_id == sample_id("t1", s.entity_kind, s.entity_id) for s in other)


def test_to_dict(result):
    _, samples = result
    d = samples[0].to_dict()
    assert set(d) >= {"sample_id", "entity_kind", "entity_id", "agent_id", "channel", "day",
                      "reasons", "rule_version", "seed", "priority"}
    assert isinstance(d["reasons"], list) and d["day"] == DAY


def test_several_days_are_sampled_separately(summaries):
    r = rules()
    day2 = [dataclasses.replace(s, day="2026-11-12") for s in summaries[:3000]]
    both = QASampler(r).select_day(summaries + day2)
    one = QASampler(r).select_day(day2)
    assert [s for s in both if s.day == "2026-11-12"] == one


def test_empty_day():
    assert QASampler(rules()).select_day([]) == []


# --------------------------------------------------------------------------- rules file


def test_shipped_rules_load():
    r = load_qa_rules(RULES)
    assert 0.05 <= r.rate <= 0.10
    assert r.strata == ("channel", "agent")
    assert r.min_per_day <= (r.max_per_day or r.min_per_day)
    assert r.pool("low_csat").max_score == 2
    assert r.pool("long_handle_time").percentile == 90
    words = dict(r.escalation.words)
    assert {"投诉", "12315", "退款", "曝光", "律师"} <= set(words["zh"])
    assert {"complaint", "refund", "lawyer", "chargeback"} <= set(words["en"])
    assert r.version and isinstance(r.seed, int)
    # the shipped rules run
    QASampler(r).select_day(make_summaries(500))


def test_defaults():
    r = load_qa_rules_text('version: "1"\nseed: 5\n', SRC)
    assert r.rate == 0.07 and r.strata == ("channel", "agent") and r.backup
    assert all(p.enabled for p in r.pools) and r.escalation.enabled


def _error(text: str) -> str:
    with pytest.raises(QARulesError) as info:
        load_qa_rules_text(text, SRC)
    return str(info.value)


@pytest.mark.parametrize("value", ["7", "-0.1", "1.5", '"7%"', "true"])
def test_bad_rate_names_key_and_line(value):
    msg = _error(BASE.replace("rate: 0.07", f"rate: {value}"))
    assert msg.startswith(f"{SRC}: rate (line 3): ")


def test_unknown_pool_key_names_key_and_line():
    msg = _error(BASE.replace("  reopened: true", "  reopend: true"))
    assert f"{SRC}: targeted.reopend (line 9): unknown targeted pool 'reopend'" in msg
    assert "did you mean 'reopened'?" in msg
    msg = _error(BASE.replace("{max_score: 2}", "{max_scor: 2}"))
    assert f"{SRC}: targeted.low_csat.max_scor (line 7): unknown key 'max_scor'" in msg


@pytest.mark.parametrize("value", ["0", "100", "150", "0.9", "high"])
def test_bad_percentile_names_key_and_line(value):
    msg = _error(BASE.replace("{percentile: 90}", f"{{percentile: {value}}}"))
    assert msg.startswith(f"{SRC}: targeted.long_handle_time.percentile (line 11): ")


def test_all_problems_reported_at_once():
    text = (BASE.replace("seed: 42", "seed: x")
            .replace("min_per_day: 5, max_per_day: 30", "min_per_day: 9, max_per_day: 3")
            .replace("[channel, agent]", "[channel, queue]")
            .replace("breached: true", "breached: 3"))
    msg = _error(text)
    lines = msg.splitlines()
    assert lines[0].startswith(f"{SRC}: seed (line 2): must be a whole number")
    assert any(line.startswith(f"{SRC}: strata[1] (line 4): unknown stratum 'queue'") for line in lines)
    assert any(line.startswith(f"{SRC}: per_agent.min_per_day (line 5): min_per_day 9 is more than")
               for line in lines)
    assert any(line.startswith(f"{SRC}: targeted.breached (line 8): must be true, false")
               for line in lines)


def test_missing_and_empty_and_yaml_errors(tmp_path):
    assert "missing required key 'seed'" in _error('version: "1"\n')
    assert "empty" in _error("")
    assert "line 2" in _error('version: "1"\nseed: [1\n')
    assert "duplicate key 'seed'" in _error('version: "1"\nseed: 1\nseed: 2\n')
    with pytest.raises(QARulesError) as info:
        load_qa_rules(tmp_path / "nope.yaml")
    assert "cannot read" in str(info.value)
    err = pickle.loads(pickle.dumps(info.value))
    assert isinstance(err, QARulesError) and str(err) == str(info.value)


def test_escalation_words_checked():
    msg = _error(BASE.replace("en: [complaint, refund, lawyer, chargeback]",
                              "en: [complaint, Refund, refund, '']"))
    assert f"{SRC}: targeted.escalation_words.en[2] (line 14): 'refund' listed twice" in msg
    assert f"{SRC}: targeted.escalation_words.en[3] (line 14): must not be empty" in msg
