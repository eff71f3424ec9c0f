"""QA checks: each check passing and failing, in Chinese and in English, plus evidence contents."""
from __future__ import annotations

import pytest

from streams.core.qa_checks import (
    CHECKS,
    CheckResult,
    QAChecker,
    QAConfig,
    Turn,
    detect_language,
)

S = 1_000_000


def valid_id(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


ID = valid_id("11010119900307123")
T0 = 1_794_000_000 * S


def conv(*turns: tuple[str, str, float]) -> list[Turn]:
    """(role, text, seconds after T0) -> transcript."""
    return [Turn(role, text, T0 + round(sec * S), "A7" if role == "agent" else None) for role, text, sec in turns]


ZH_GOOD = conv(
    ("customer", "你好，我的快递三天了还没到", 0),
    ("agent", "您好，很高兴为您服务！请提供一下订单号", 20),
    ("customer", "订单号 2026111100012345", 40),
    ("agent", "麻烦您稍等，我帮您查询一下物流", 70),
    ("agent", "已为您催促快递，预计明天送达。请问还有其他可以帮您的吗？", 120),
    ("customer", "没有了，谢谢", 150),
    ("agent", "不客气，祝您生活愉快！", 160),
    ("customer", "好的", 170),
)

EN_GOOD = conv(
    ("customer", "Hi, my package has not arrived yet", 0),
    ("agent", "Hello! Thanks for contacting us. Could you share your order number?", 15),
    ("customer", "Order 2026111100012345", 30),
    ("agent", "Thank you, it will arrive tomorrow. Is there anything else I can help with?", 75),
    ("customer", "No, thanks!", 90),
    ("agent", "Have a nice day!", 95),
)

ZH_BAD = conv(
    ("customer", "我的退款怎么还没到？", 0),
    ("agent", "订单号多少", 200),
    ("customer", "2026111100012345", 210),
    ("agent", "不知道，你自己看物流，烦不烦", 400),
    ("customer", "我打了电话也没人接", 420),
    ("agent", "你打这个号码13812345678，身份证发我 " + ID, 430),
    ("customer", "你们这什么服务态度", 600),
)

EN_BAD = conv(
    ("customer", "Where is my refund??", 0),
    ("agent", "Order number.", 150),
    ("customer", "2026111100012345", 160),
    ("agent", "Calm down, that's not my problem. Ask the courier, it's a stupid question", 300),
    ("agent", "Or email refunds.team@example.com, card on file 4111 1111 1111 1111", 310),
    ("customer", "This is ridiculous, I want a manager", 320),
)


def by_check(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.check: r for r in results}


@pytest.fixture(scope="module")
def qa() -> QAChecker:
    return QAChecker()


@pytest.mark.parametrize("transcript", [ZH_GOOD, EN_GOOD], ids=["zh", "en"])
def test_good_transcripts_pass_everything(qa, transcript):
    results = qa.run(transcript)
    assert [r.check for r in results] == list(CHECKS)
    failed = [r for r in results if not r.passed]
    assert failed == []


@pytest.mark.parametrize("transcript", [ZH_BAD, EN_BAD], ids=["zh", "en"])
def test_bad_transcripts_fail_everything(qa, transcript):
    results = by_check(qa.run(transcript))
    assert {name for name, r in results.items() if r.passed} == set()
    assert all(r.evidence for r in results.values())


# --- greeting -------------------------------------------------------------------------------

def test_greeting_evidence(qa):
    assert qa.check_greeting(ZH_GOOD).evidence == ["#1 '您好'"]  # first phrase in the text
    assert qa.check_greeting(EN_GOOD).evidence == ["#1 'hello'"]
    r = qa.check_greeting(ZH_BAD)
    assert not r.passed and r.evidence[0].startswith("#1 no greeting: 订单号多少")
    assert not qa.check_greeting(EN_BAD).passed


def test_greeting_only_first_agent_message_counts_and_bots_are_ignored(qa):
    t = conv(("bot", "您好，欢迎光临", 0), ("agent", "什么问题", 5), ("agent", "您好", 6))
    assert not qa.check_greeting(t).passed
    t = conv(("bot", "auto reply", 0), ("agent", "hi there, how can I help?", 5))
    assert qa.check_greeting(t).passed
    assert qa.check_greeting([]) == CheckResult("greeting", False, ["no agent message"])


def test_english_phrases_match_on_word_boundaries(qa):
    assert not qa.check_greeting(conv(("agent", "This is your order", 0))).passed  # "hi" in "This"
    assert qa.check_greeting(conv(("agent", "HELLO,   Thanks  for\ncontacting ACME", 0))).passed


# --- closing --------------------------------------------------------------------------------

def test_closing(qa):
    assert qa.check_closing(ZH_GOOD).passed  # last agent turn: 祝您生活愉快
    assert qa.check_closing(EN_GOOD).evidence == ["#5 'have a nice day'"]
    zh = conv(("agent", "您好", 0), ("agent", "请问还有其他可以帮您的吗", 10), ("agent", "已经帮您处理好了", 20))
    assert qa.check_closing(zh).passed  # second to last counts
    zh_late = conv(("agent", "还有其他可以帮您的吗", 0), ("agent", "好", 10), ("agent", "已处理", 20))
    r = qa.check_closing(zh_late)
    assert not r.passed and len(r.evidence) == 2 and r.evidence[1].startswith("#2 no closing")
    en = conv(("agent", "Have a nice day", 0), ("agent", "ok", 10), ("agent", "done", 20))
    assert not qa.check_closing(en).passed
    assert not qa.check_closing(EN_BAD).passed


# --- polite ---------------------------------------------------------------------------------

def test_polite_zh_evidence(qa):
    r = qa.check_polite(ZH_BAD)
    assert not r.passed
    words = [e.split("'")[1] for e in r.evidence]
    assert words == ["不知道", "你自己看", "烦", "烦"]
    assert all(e.startswith("#3 ") for e in r.evidence)
    assert "不知道，你自己看物流" in r.evidence[0]


def test_polite_en_evidence(qa):
    r = qa.check_polite(EN_BAD)
    assert not r.passed
    assert sorted(e.split("'")[1] for e in r.evidence) == ["calm down", "not my problem", "stupid"]
    assert any("it's a stupid question" in e for e in r.evidence)


def test_polite_allowed_phrases_are_not_flagged(qa):
    zh = conv(("agent", "麻烦您提供订单号，烦请稍等。不知道您是否方便？这款滚筒洗衣机页面可以滚动查看", 0))
    assert qa.check_polite(zh).passed
    en = conv(("agent", "Sorry, that was a stupidity of our system; please don't calm-down... I mean, stay calm", 0))
    # "stupidity" is not the word "stupid"; "calm-down" is not "calm down"
    assert qa.check_polite(en).passed
    assert qa.check_polite(conv(("customer", "你们客服真烦，滚", 0))).passed  # customers are not judged


def test_polite_snippets_are_masked(qa):
    t = conv(("agent", "我不知道，你打13812345678问问", 0))
    r = qa.check_polite(t)
    assert not r.passed
    assert "13812345678" not in " ".join(r.evidence) and "[PHONE]" in r.evidence[0]


# --- response gaps --------------------------------------------------------------------------

def test_response_gaps(qa):
    assert qa.check_response_gaps(ZH_GOOD).passed
    assert qa.check_response_gaps(EN_GOOD).passed
    r = qa.check_response_gaps(ZH_BAD)
    assert r.evidence == ["#0->#1 200s > 60s", "#2->#3 190s > 60s"]  # #4->#5 is 10 s; #6 never answered
    assert qa.check_response_gaps(EN_BAD).evidence == ["#0->#1 150s > 60s", "#2->#3 140s > 60s"]


def test_response_gap_measured_from_first_unanswered_message_and_target_is_inclusive():
    qa = QAChecker({"response_gap_target_s": 30})
    t = conv(("customer", "在吗", 0), ("customer", "有人吗", 20), ("agent", "您好，在的", 30))
    assert qa.check_response_gaps(t).passed  # exactly the target
    t = conv(("customer", "hello?", 0), ("customer", "anyone?", 20), ("agent", "Hello!", 31))
    assert qa.check_response_gaps(t).evidence == ["#0->#2 31s > 30s"]


def test_response_gaps_use_event_time_order_not_list_order(qa):
    t = [
        Turn("agent", "您好，请问有什么可以帮您", T0 + 100 * S),
        Turn("customer", "我要退货", T0),
    ]
    assert qa.check_response_gaps(t).evidence == ["#1->#0 100s > 60s"]


def test_acknowledgements_do_not_start_a_wait(qa):
    t = conv(("agent", "还有其他可以帮您的吗", 0), ("customer", "没有了，谢谢！", 5), ("agent", "再见", 500))
    assert qa.check_response_gaps(t).passed
    t = conv(("agent", "Anything else I can help with?", 0), ("customer", "ok thanks :)", 5), ("agent", "Bye", 500))
    assert qa.check_response_gaps(t).passed


# --- unanswered -----------------------------------------------------------------------------

def test_unanswered(qa):
    assert qa.check_unanswered(ZH_GOOD).passed  # trailing "好的" is only an acknowledgement
    assert qa.check_unanswered(EN_GOOD).passed
    assert qa.check_unanswered(ZH_BAD).evidence == ["#6 no agent reply"]
    assert qa.check_unanswered(EN_BAD).evidence == ["#5 no agent reply"]
    zh = conv(("customer", "你好", 0), ("customer", "在吗？我的订单怎么还没发货", 5), ("bot", "客服正忙", 6))
    assert qa.check_unanswered(zh).evidence == ["#0 no agent reply", "#1 no agent reply"]
    en = conv(("customer", "My order hasn't shipped", 0), ("agent", "Hello, checking", 5), ("customer", "Any news?", 9))
    assert qa.check_unanswered(en).evidence == ["#2 no agent reply"]
    assert qa.check_unanswered([]).passed


# --- privacy --------------------------------------------------------------------------------

def test_privacy_zh(qa):
    r = qa.check_privacy(ZH_BAD)
    assert not r.passed
    assert r.evidence == ["#5: phone", "#5: id"]
    assert "13812345678" not in repr(r) and ID not in repr(r)


def test_privacy_en(qa):
    r = qa.check_privacy(EN_BAD)
    assert r.evidence == ["#4: email", "#4: card"]
    for raw in ("refunds.team@example.com", "4111 1111 1111 1111", "4111"):
        assert raw not in repr(r)


def test_privacy_ignores_customer_pii_and_order_numbers(qa):
    t = conv(
        ("customer", "我的手机13812345678，邮箱a@b.com", 0),
        ("agent", "您好，订单号 2026111100012345 已发货，运单号SF1234567890123", 10),
        ("agent", "Your order 2026111100012345 shipped, tracking YT7512345678901", 20),
    )
    assert qa.check_privacy(t).passed


def test_privacy_evidence_never_contains_raw_values_in_any_check(qa):
    for transcript in (ZH_BAD, EN_BAD):
        dump = repr(qa.run(transcript))
        for raw in ("13812345678", ID, "refunds.team@example.com", "4111 1111 1111 1111"):
            assert raw not in dump


# --- config and language --------------------------------------------------------------------

def test_detect_language():
    assert detect_language("您好，很高兴为您服务") == "zh"
    assert detect_language("Hello there") == "en"
    assert detect_language("您好 hello") is None
    assert detect_language("13812345678 ☺") is None
    assert detect_language("订单 SF1234567890123 已发货") == "zh"  # codes are not English words

def test_unsure_language_uses_both_lists(qa):
    t = conv(("agent", "亲 hello，订单已发货，have a nice day", 0))
    assert qa.check_greeting(t).passed and qa.check_closing(t).passed
    assert not qa.check_polite(conv(("agent", "订单 status: not my problem", 0))).passed


def test_dict_config_overrides_defaults():
    qa = QAChecker({"zh": {"greetings": ["亲爱的顾客"]}, "en": {"forbidden": ["nope"]}, "response_gap_target_s": 300})
    assert not qa.check_greeting(conv(("agent", "您好", 0))).passed  # replaced list
    assert qa.check_greeting(conv(("agent", "亲爱的顾客，下午好", 0))).passed
    assert qa.check_greeting(conv(("agent", "Hello", 0))).passed  # en greetings untouched
    assert qa.check_polite(conv(("agent", "That's not my problem", 0))).passed
    assert not qa.check_polite(conv(("agent", "Nope.", 0))).passed
    assert not qa.check_polite(conv(("agent", "你自己看", 0))).passed  # zh forbidden untouched
    assert qa.check_response_gaps(ZH_BAD).passed  # all gaps <= 300 s
    assert QAChecker(QAConfig(response_gap_target_s=1)).check_response_gaps(ZH_GOOD).passed is False


@pytest.mark.parametrize(
    "bad", [{"zh": {"greeting": ["x"]}}, {"zh": {"greetings": "您好"}}, {"response_gap_target_s": -1}, {"zh": 3}]
)
def test_bad_config_is_rejected(bad):
    with pytest.raises(ValueError):
        QAChecker(bad)


def test_turn_from_event():
    ev = {"event_id": "e2", "type": "ticket.comment", "occurred_at": "2026-11-11T09:40:00+08:00", "ticket_id": "T1",
          "author_role": "agent", "author_id": "A7", "public": True, "text": "您好，很高兴为您服务"}
    t = Turn.from_event(ev)
    assert (t.role, t.author_id, t.text) == ("agent", "A7", "您好，很高兴为您服务")
    assert QAChecker().check_greeting([t]).passed
