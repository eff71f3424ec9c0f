"""PII detection/masking: a mixed zh/en corpus (100 % recall on planted PII, no false positives on
order/tracking numbers, prices and dates) plus checksum unit tests with computed check digits."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.pii import MASK_TOKENS, PiiMatch, cn_id_ok, find_pii, luhn_ok, mask


# --- independent reference implementations used to *generate* valid numbers ------------------

def luhn_check_digit(body: str) -> str:
    """The digit that makes body + digit pass Luhn."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these positions get doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card(body: str) -> str:
    return body + luhn_check_digit(body)


def bad_card(body: str) -> str:
    return body + str((int(luhn_check_digit(body)) + 1) % 10)


def id_check_char(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


def cn_id(region: str, birth: str, seq: str) -> str:
    first17 = region + birth + seq
    assert len(first17) == 17
    return first17 + id_check_char(first17)


def cn_id_ending_x(region: str = "110105", birth: str = "19880521") -> str:
    for n in range(1000):
        v = cn_id(region, birth, f"{n:03d}")
        if v.endswith("X"):
            return v
    raise AssertionError("no X found")


def grouped(s: str, sizes: list[int], sep: str = " ") -> str:
    out, pos = [], 0
    for n in sizes:
        out.append(s[pos : pos + n])
        pos += n
    if pos < len(s):
        out.append(s[pos:])
    return sep.join(out)


def not_luhn(s: str) -> str:
    """s, with its last digit changed if needed so it fails Luhn (for order numbers)."""
    if luhn_ok(s):
        s = s[:-1] + str((int(s[-1]) + 1) % 10)
    assert not luhn_ok(s)
    return s


CARD19 = card("622202123456789012")  # UnionPay 19
CARD16 = card("621700001000123")  # 16
VISA = card("411111111111111")
AMEX = card("37828224631000")  # 15
CARD13 = card("422222222222")  # 13
CARD18 = card("62148302123456789")
ID1 = cn_id("110101", "19900307", "123")
ID2 = cn_id("440305", "20000229", "456")  # leap day
IDX = cn_id_ending_x()
ID3 = cn_id("310104", "19751231", "987")

ORDER16 = not_luhn("2026111100012345")
ORDER18 = not_luhn("202611110001234567")
ORDER19 = not_luhn("3026111100012345678")
TRACK_NUM = not_luhn("75312345678901")  # numeric courier waybill (ZTO style)


# Each entry: text, planted PII as (kind, exact value), strings that must survive masking.
CORPUS: list[tuple[str, list[tuple[str, str]], list[str]]] = [
    ("我的手机号是13812345678，请尽快联系我", [("phone", "13812345678")], []),
    ("电话：138 1234 5678", [("phone", "138 1234 5678")], []),
    ("联系电话 138-1234-5678 谢谢", [("phone", "138-1234-5678")], []),
    ("手机+86 15912345678", [("phone", "+86 15912345678")], []),
    ("Call me at +86 139-0000-1111 after 6pm", [("phone", "+86 139-0000-1111")], ["6pm"]),
    ("my number is +8618600001111.", [("phone", "+8618600001111")], []),
    ("国际格式0086 17712345678也可以", [("phone", "0086 17712345678")], []),
    ("收货人张三，19912345678，地址北京市朝阳区", [("phone", "19912345678")], []),
    ("phone: 166 6666 0000 or email lisi@example.com", [("phone", "166 6666 0000"), ("email", "lisi@example.com")], []),
    ("座机010-87654321", [("landline", "010-87654321")], []),
    ("office line (021)12345678 ext 204", [("landline", "(021)12345678 ext 204")], []),
    ("公司电话 0755-8765432转123，工作日可打", [("landline", "0755-8765432转123")], []),
    ("邮箱zhang.san@qq.com谢谢", [("email", "zhang.san@qq.com")], []),
    ("Please send it to John.Smith+orders@mail.example.co.uk thanks", [("email", "John.Smith+orders@mail.example.co.uk")], []),
    ("我的邮箱是 123456789@163.com", [("email", "123456789@163.com")], []),
    ("邮箱 wang_wu-2026@company.cn，手机 13700001234", [("email", "wang_wu-2026@company.cn"), ("phone", "13700001234")], []),
    (f"银行卡号{CARD19}，退款打到这张卡", [("card", CARD19)], []),
    (f"卡号：{grouped(CARD19, [4, 4, 4, 4])}", [("card", grouped(CARD19, [4, 4, 4, 4]))], []),
    (f"my card is {grouped(VISA, [4, 4, 4], '-')} exp 12/28", [("card", grouped(VISA, [4, 4, 4], "-"))], ["12/28"]),
    (f"Amex {grouped(AMEX, [4, 6])} please refund", [("card", grouped(AMEX, [4, 6]))], []),
    (f"退款账户 {CARD16} 开户行招商银行", [("card", CARD16)], []),
    (f"card {CARD13} was charged twice", [("card", CARD13)], []),
    (f"储蓄卡{grouped(CARD18, [4, 4, 4, 4])}尾号不对吗", [("card", grouped(CARD18, [4, 4, 4, 4]))], []),
    (f"身份证号{ID1}", [("id", ID1)], []),
    (f"ID number: {ID2}, name Li Si", [("id", ID2)], []),
    (f"身份证 {IDX} 实名认证", [("id", IDX)], []),
    (f"身份证号码 {IDX[:-1]}x", [("id", IDX[:-1] + "x")], []),
    (f"my ID is {grouped(ID3, [6, 8])}", [("id", grouped(ID3, [6, 8]))], []),
    (
        f"订单号 {ORDER16}，收件人手机13812345678，身份证{ID1}",
        [("phone", "13812345678"), ("id", ID1)],
        [ORDER16],
    ),
    (
        f"Order #{ORDER18} - refund to card {CARD16}, receipt to a.b@c.io",
        [("card", CARD16), ("email", "a.b@c.io")],
        [ORDER18],
    ),
    ("运单号SF1234567890123，电话 15800001234", [("phone", "15800001234")], ["SF1234567890123"]),
    ("tracking YT7512345678901 / JD0012345678901", [], ["YT7512345678901", "JD0012345678901"]),
    (f"中通快递 {TRACK_NUM} 已签收", [], [TRACK_NUM]),
    ("EMS EA123456789CN arrived 2026-11-13", [], ["EA123456789CN", "2026-11-13"]),
    (f"订单号 {ORDER16}", [], [ORDER16]),
    (f"订单 {ORDER19} 价格 ¥1,299.00", [], [ORDER19, "¥1,299.00"]),
    ("价格是3999元，优惠券满300减50，2026年11月11日 00:00 开抢", [], ["3999元", "2026年11月11日", "00:00"]),
    ("Total $1,049.99 charged on 2026-11-11 10:30:00+08:00", [], ["$1,049.99", "2026-11-11 10:30:00+08:00"]),
    ("客服热线400-820-8820或95588", [], ["400-820-8820", "95588"]),
    ("尺码 42，数量 2 件，重量 1.5kg，型号 XR-2026-11", [], ["42", "1.5kg", "XR-2026-11"]),
    ("SKU 100012345678 库存 9999", [], ["100012345678", "9999"]),
    (
        f"全部信息：{CARD19} / 13912345678 / {IDX} / x@y.com / 010-12345678",
        [("card", CARD19), ("phone", "13912345678"), ("id", IDX), ("email", "x@y.com"), ("landline", "010-12345678")],
        [],
    ),
    ("全角号码１３８１２３４５６７８也算", [("phone", "１３８１２３４５６７８")], []),
]


def test_corpus_is_big_enough_and_covers_every_kind():
    assert len(CORPUS) >= 40
    kinds = {k for _, planted, _ in CORPUS for k, _ in planted}
    assert kinds == set(MASK_TOKENS)


@pytest.mark.parametrize(("text", "planted", "keep"), CORPUS, ids=[f"line{i}" for i in range(len(CORPUS))])
def test_corpus_recall_and_precision(text, planted, keep):
    found = find_pii(text)
    got = {(m.kind, m.value) for m in found}
    for kind, value in planted:  # 100 % recall, per item, with the right kind and exact span
        assert value in text, "bad test line"
        assert (kind, value) in got, f"{kind} {value!r} not found in {text!r}: {found}"
    assert len(found) == len(planted), f"unexpected extra matches: {found}"  # no false positives
    masked = mask(text)
    for kind, value in planted:
        assert value not in masked
        assert MASK_TOKENS[kind] in masked
    for s in keep:
        assert s in masked, f"{s!r} was masked: {masked!r}"
    for m in found:
        assert text[m.start : m.end] == m.value


def test_mask_tokens_and_positions():
    text = f"A 13812345678 B {ID1} C {CARD19} D q@x.org E 010-87654321"
    assert mask(text) == "A [PHONE] B [ID] C [CARD] D [EMAIL] E [PHONE]"
    assert [m.kind for m in find_pii(text)] == ["phone", "id", "card", "email", "landline"]
    assert find_pii("") == [] and mask("") == ""
    assert mask("没有个人信息 no pii here") == "没有个人信息 no pii here"


def test_mask_is_idempotent_and_matches_dont_overlap():
    for text, _, _ in CORPUS:
        masked = mask(text)
        assert mask(masked) == masked
        found = find_pii(text)
        assert all(a.end <= b.start for a, b in zip(found, found[1:]))


def test_card_failing_luhn_is_not_masked():
    for body in ("622202123456789012", "411111111111111", "37828224631000", "422222222222"):
        bad = bad_card(body)
        assert not luhn_ok(bad)
        assert mask(f"卡号{bad}") == f"卡号{bad}"
        assert mask(f"card {grouped(bad, [4, 4, 4])}") == f"card {grouped(bad, [4, 4, 4])}"


def test_luhn_passing_number_after_order_label_is_kept():
    lucky_order = card("202611110001234")  # 16 digits, passes Luhn by construction
    assert luhn_ok(lucky_order)
    for label in ("订单号", "订单号：", "运单号 ", "order no. ", "Tracking number: ", "单号是"):
        assert mask(f"{label}{lucky_order}") == f"{label}{lucky_order}"
    assert mask(f"卡号{lucky_order}") == "卡号[CARD]"


def test_invalid_ids_are_not_masked():
    wrong_check = ID1[:-1] + ("0" if ID1[-1] != "0" else "1")
    bad_date_body = "110101" + "19900230" + "123"  # Feb 30th, but a correct check digit
    bad_date = bad_date_body + id_check_char(bad_date_body)
    bad_month_body = "110101" + "19901301" + "123"
    bad_month = bad_month_body + id_check_char(bad_month_body)
    for v in (wrong_check, bad_date, bad_month):
        assert not cn_id_ok(v)
        assert all(m.kind != "id" for m in find_pii(f"身份证{v}"))


# --- checksum unit tests --------------------------------------------------------------------

@pytest.mark.parametrize(
    "value",
    ["4111111111111111", "378282246310005", "6011111111111117", "79927398713", "4111 1111 1111 1111",
     "4111-1111-1111-1111", CARD19, CARD13, AMEX, "0"],
)
def test_luhn_valid(value):
    assert luhn_ok(value)


@pytest.mark.parametrize(
    "value",
    ["4111111111111112", "79927398710", "2026111100012345", "", "abc", "4111x1111", bad_card("62220212345678901")],
)
def test_luhn_invalid(value):
    assert not luhn_ok(value)


@given(st.text(alphabet="0123456789", min_size=12, max_size=18))
@settings(max_examples=200, deadline=None)
def test_luhn_generated(body):
    assert luhn_ok(card(body))
    assert not luhn_ok(bad_card(body))
    # a single-digit change is always detected
    flipped = str((int(body[0]) + 3) % 10) + body[1:]
    assert not luhn_ok(card(body)[:0] + flipped + luhn_check_digit(body)) or flipped == body


@pytest.mark.parametrize("value", [ID1, ID2, IDX, IDX[:-1] + "x", ID3, "11010519491231002X"])
def test_cn_id_valid(value):
    assert cn_id_ok(value)


@pytest.mark.parametrize(
    "value",
    [
        ID1[:-1] + str((int(ID1[-1]) + 1) % 10) if ID1[-1] != "X" else ID1[:-1] + "0",
        "11010519491231002Y",
        "1101051949123100",  # too short
        "1101051949123100211",  # too long
        "11010518991231" + "123" + id_check_char("11010518991231123"),  # year 1899
        "110101" + "20010229" + "123" + id_check_char("11010120010229123"),  # not a leap year
        "",
    ],
)
def test_cn_id_invalid(value):
    assert not cn_id_ok(value)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)), st.integers(0, 999),
       st.sampled_from(["110101", "310104", "440305", "510107", "650102"]))
@settings(max_examples=200, deadline=None)
def test_generated_ids_are_found_and_masked(birth, seq, region):
    v = cn_id(region, birth.strftime("%Y%m%d"), f"{seq:03d}")
    assert cn_id_ok(v)
    assert mask(f"身份证号{v}。") == "身份证号[ID]。"
    assert mask(f"ID {v}, thanks") == "ID [ID], thanks"
    wrong = v[:-1] + ("0" if v[-1] == "X" else ("X" if v[-1] == "0" else "0"))
    assert not cn_id_ok(wrong)


@given(
    st.sampled_from(list("3456789")),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
    st.sampled_from(["{}", "+86{}", "+86 {}", "{0}-{1}-{2}", "{0} {1} {2}"]),
    st.sampled_from(["电话{}，谢谢", "call {} now", "{}"]),
)
@settings(max_examples=200, deadline=None)
def test_generated_mobiles_are_masked(second, rest, fmt, sentence):
    num = "1" + second + rest
    if "{0}" in fmt:
        shown = fmt.format(num[:3], num[3:7], num[7:])
    else:
        shown = fmt.format(num)
    assert mask(sentence.format(shown)) == sentence.format("[PHONE]")


def test_pii_match_is_a_value_object():
    m = find_pii("13812345678")[0]
    assert m == PiiMatch("phone", 0, 11, "13812345678")
    with pytest.raises(AttributeError):
        m.kind = "x"  # type: ignore[misc]
