"""Policy file loading, validation messages and policy matching (spec sla.md, "Policy file")."""
from __future__ import annotations

import pathlib
import pickle
import textwrap
from datetime import date, datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.calendar import AlwaysOpen, BusinessCalendar
from streams.core.policy import (
    MATCH_KEYS,
    METRICS,
    PolicyError,
    PolicySet,
    load_policies,
    load_policies_text,
    parse_duration,
)
from streams.core.timeutil import US, to_us

RULES = pathlib.Path(__file__).resolve().parents[2] / "rules" / "sla.yaml"
SRC = "rules/test.yaml"
H = 3600 * US


def attrs(**kw: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {k: None for k in MATCH_KEYS}
    out.update(kw)
    return out


def conv(channel: str = "web", tier: str = "regular", **kw: str | None) -> dict[str, str | None]:
    return attrs(kind="conversation", channel=channel, customer_tier=tier, **kw)


def ticket(priority: str = "normal", tier: str = "regular", channel: str = "web",
           category: str = "inquiry", **kw: str | None) -> dict[str, str | None]:
    return attrs(kind="ticket", channel=channel, priority=priority, customer_tier=tier,
                 category=category, **kw)


def load(text: str) -> PolicySet:
    return load_policies_text(textwrap.dedent(text), SRC)


def fail(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load(text)
    err = info.value
    assert err.file == SRC
    assert err.problems, "a PolicyError must carry at least one problem"
    return err


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing `needle` in the dedented text."""
    hits = [i for i, line in enumerate(textwrap.dedent(text).splitlines(), 1) if needle in line]
    return hits[nth - 1]


def assert_problem(err: PolicyError, path: str, line: int | None, *fragments: str) -> None:
    """`err` reports `path` at `line` with a message containing every fragment, and its text
    has the documented `<file>: <path> (line N): <message>` shape."""
    for p_path, p_line, message in err.problems:
        if p_path == path and p_line == line and all(f in message for f in fragments):
            where = f"{SRC}: {path}" + (f" (line {line})" if line is not None else "")
            assert f"{where}: {message}" in str(err).splitlines()
            return
    pytest.fail(f"no problem at {path} line {line} with {fragments}; got:\n{err}")


def policy_file(*policies: str, calendars: str = "") -> str:
    """A file from policy blocks (each a YAML mapping body, 4-space indented continuation)."""
    body = "policies:\n" + "".join(
        "  - " + textwrap.dedent(p).strip().replace("\n", "\n    ") + "\n" for p in policies)
    return (textwrap.dedent(calendars).strip() + "\n" if calendars else "") + body


OFFICE = """\
calendars:
  office:
    timezone: UTC
    hours:
      mon-fri: ["09:00-12:00", "13:00-18:00"]
"""


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("15m", 15 * 60), ("4h", 4 * 3600), ("3d", 3 * 86400), ("1h30m", 5400),
    ("1d2h3m4s", 86400 + 7200 + 180 + 4), ("90", 90), (45, 45), (" 2H ", 7200), ("1h 30m", 5400),
])
def test_parse_duration_accepts(text, seconds):
    assert parse_duration(text) == seconds * US


@pytest.mark.parametrize("text", [
    "15x", "", "  ", "1.5h", "h", "-5s", "30 seconds", "m15", "15m4h", "1w", "0x10", None, 1.5,
    True, [],
])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)
    assert "30s, 15m, 4h, 3d" in str(info.value)


@pytest.mark.parametrize("text", ["0s", "0", 0, "0d0h", -5])
def test_parse_duration_must_be_positive(text):
    with pytest.raises(ValueError, match="greater than zero"):
        parse_duration(text)


@given(st.integers(0, 400), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_parse_duration_combinations(d, h, m, s):
    total = ((d * 24 + h) * 60 + m) * 60 + s
    parts = "".join(f"{n}{u}" for n, u in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if n)
    if total == 0:
        with pytest.raises(ValueError):
            parse_duration(parts or "0s")
    else:
        assert parse_duration(parts) == total * US
        assert parse_duration(str(total)) == total * US


# --------------------------------------------------------------------------- matching


def test_first_matching_policy_wins_in_file_order():
    a = "name: a\nmatch: {kind: ticket}\ntargets: {first_response: {within: 1h}}"
    b = "name: b\nmatch: {priority: urgent}\ntargets: {first_response: {within: 5m}}"
    urgent = ticket("urgent")
    assert load(policy_file(a, b)).match(urgent).name == "a"
    assert load(policy_file(b, a)).match(urgent).name == "b"
    # and the later policy still catches what the first does not
    assert load(policy_file(b, a)).match(ticket("low")).name == "a"


def test_list_and_scalar_match_values():
    ps = load(policy_file(
        "name: chat\nmatch: {channel: [web, app], customer_tier: vip}\n"
        "targets: {first_response: {within: 15s}}",
        "name: wechat\nmatch: {channel: wechat}\ntargets: {first_response: {within: 30s}}",
    ))
    assert ps.match(conv("web", "vip")).name == "chat"
    assert ps.match(conv("app", "vip")).name == "chat"
    assert ps.match(conv("web", "regular")) is None      # every key must hold
    assert ps.match(conv("wechat", "vip")).name == "wechat"
    assert ps.match(conv("phone", "vip")) is None
    chat = ps.get("chat")
    assert dict(chat.match) == {"channel": frozenset({"web", "app"}),
                                "customer_tier": frozenset({"vip"})}


def test_key_the_entity_lacks_does_not_match():
    ps = load(policy_file(
        "name: urgent\nmatch: {priority: urgent}\ntargets: {first_response: {within: 1h}}",
        "name: no-group\nmatch: {group: billing}\ntargets: {first_response: {within: 1h}}",
        "name: rest\nmatch: {}\ntargets: {first_response: {within: 8h}}",
    ))
    # a conversation has no priority: not even an "all priorities" policy matches it
    assert ps.match(conv()).name == "rest"
    assert ps.match(ticket("urgent")).name == "urgent"
    assert ps.match(ticket("low", group="billing")).name == "no-group"
    assert ps.match(ticket("low", group=None)).name == "rest"
    assert not ps.get("urgent").matches(attrs(priority=None))


def test_kind_matching():
    ps = load(policy_file(
        "name: conv\nmatch: {kind: conversation}\ntargets: {first_response: {within: 30s}}",
        "name: tick\nmatch: {kind: [ticket]}\ntargets: {assignment: {within: 1h}}",
    ))
    assert ps.match(conv()).name == "conv"
    assert ps.match(ticket()).name == "tick"
    assert ps.match(attrs(kind=None)) is None


def test_empty_match_catches_everything():
    ps = load(policy_file("name: all\nmatch: {}\ntargets: {first_response: {within: 1h}}"))
    for entity in (conv(), ticket("urgent", "vip"), attrs()):
        assert ps.match(entity).name == "all"
    assert ps.policies[0].match == ()


def test_match_cache_gives_same_answers_for_different_attrs():
    ps = load(policy_file(
        "name: vip\nmatch: {customer_tier: vip}\ntargets: {first_response: {within: 1m}}",
        "name: rest\nmatch: {}\ntargets: {first_response: {within: 1h}}",
    ))
    for _ in range(3):  # repeated look-ups go through the cache
        assert ps.match(conv(tier="vip")).name == "vip"
        assert ps.match(conv(tier="regular")).name == "rest"
        assert ps.match(ticket(tier="vip")).name == "vip"


def test_runtime_objects():
    ps = load(OFFICE + textwrap.dedent("""\
        policies:
          - name: p
            match: {kind: ticket}
            targets:
              resolution: {within: 3d, calendar: office}
              first_response: {within: 1h30m}
            warn_at: [0.8, 0.5, 0.8]
            count_bot_replies: true
          - name: q
            match: {}
            targets: {first_response: {within: 20}}
        """))
    p, q = ps.policies
    assert (p.index, q.index) == (0, 1)
    assert list(p.targets) == ["first_response", "resolution"]  # METRICS order, only defined ones
    fr, res = p.targets["first_response"], p.targets["resolution"]
    assert (fr.metric, fr.target_us, fr.calendar_name) == ("first_response", 5400 * US, "24x7")
    assert isinstance(fr.calendar, AlwaysOpen)
    assert (res.target_us, res.calendar_name) == (72 * H, "office")
    assert isinstance(res.calendar, BusinessCalendar)
    assert res.calendar is ps.calendars["office"]
    assert p.warn_at == (0.5, 0.8)
    assert p.count_bot_replies is True
    assert q.warn_at == () and q.count_bot_replies is False
    assert q.targets["first_response"].target_us == 20 * US
    with pytest.raises(TypeError):
        p.targets["assignment"] = fr  # read-only
    assert len({p, q}) == 2  # hashable, usable as keys


def test_hours_are_passed_to_the_calendar():
    ps = load(textwrap.dedent("""\
        calendars:
          shifts:
            timezone: Asia/Shanghai
            hours:
              "mon,wed": ["09:00-12:00", "12:00-13:00"]   # touching ranges are fine
              sat-sun: ["20:00-24:00"]
        policies:
          - name: p
            match: {}
            targets: {first_response: {within: 1h, calendar: shifts}}
        """))
    cal = ps.calendars["shifts"]

    def open_hours(day: str) -> float:
        start = to_us(datetime.fromisoformat(day + "T00:00:00+08:00"))
        return cal.elapsed(start, start + 24 * H) / H

    assert open_hours("2026-03-02") == 4      # Monday
    assert open_hours("2026-03-03") == 0      # Tuesday: not listed, closed
    assert open_hours("2026-03-04") == 4      # Wednesday
    assert open_hours("2026-03-07") == 4      # Saturday 20:00-24:00


def test_holidays_and_workdays_reach_the_calendar():
    ps = load(textwrap.dedent("""\
        calendars:
          office:
            timezone: Asia/Shanghai
            hours: {mon-fri: ["09:00-18:00"]}
            holidays: {country: CN, dates: [2026-03-03]}
            workdays: ["2026-03-08"]
        policies:
          - {name: p, match: {}, targets: {first_response: {within: 1h, calendar: office}}}
        """))
    cal = ps.calendars["office"]
    assert cal.day_intervals(date(2026, 3, 2))          # Monday: open
    assert cal.day_intervals(date(2026, 3, 3)) == ()    # explicit holiday (unquoted date)
    assert cal.day_intervals(date(2026, 10, 1)) == ()   # CN National Day
    assert cal.day_intervals(date(2026, 3, 8))          # Sunday make-up workday


def test_load_from_path(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(policy_file("name: x\nmatch: {}\ntargets: {first_response: {within: 1m}}"),
                 encoding="utf-8")
    ps = load_policies(f)
    assert ps.source == str(f)
    assert [p.name for p in ps] == ["x"]


# --------------------------------------------------------------------------- shipped rules


@pytest.fixture(scope="module")
def shipped() -> PolicySet:
    return load_policies(RULES)


def test_shipped_rules_load(shipped):
    assert [p.name for p in shipped.policies] == [
        "vip-chat", "web-chat", "app-chat", "other-chat", "urgent-ticket", "vip-ticket",
        "high-ticket", "standard-ticket", "default"]
    assert shipped.policies[-1].match == ()
    for p in shipped.policies:
        assert p.warn_at == (0.5, 0.8)
        assert set(p.targets) <= set(METRICS)


@pytest.mark.parametrize("entity, policy", [
    (conv("web", "vip"), "vip-chat"),
    (conv("app", "vip"), "vip-chat"),
    (conv("wechat", "vip"), "other-chat"),
    (conv("web", "regular"), "web-chat"),
    (conv("app", "new"), "app-chat"),
    (conv("phone"), "other-chat"),
    (conv("email"), "default"),
    (ticket("urgent", "vip"), "urgent-ticket"),
    (ticket("urgent", "regular"), "urgent-ticket"),
    (ticket("low", "vip"), "vip-ticket"),
    (ticket("high"), "high-ticket"),
    (ticket("normal"), "standard-ticket"),
    (ticket("low", channel="email"), "standard-ticket"),
])
def test_shipped_rules_match(shipped, entity, policy):
    assert shipped.match(entity).name == policy


def test_shipped_rules_targets(shipped):
    vip = shipped.get("vip-chat")
    assert {m: t.target_us for m, t in vip.targets.items()} == {
        "first_response": 15 * US, "next_response": 30 * US, "resolution": 30 * 60 * US}
    assert all(t.calendar_name == "24x7" for t in vip.targets.values())
    assert shipped.get("web-chat").targets["first_response"].target_us == 15 * US
    assert shipped.get("app-chat").targets["first_response"].target_us == 20 * US
    assert shipped.get("other-chat").targets["first_response"].target_us == 30 * US
    urgent = shipped.get("urgent-ticket")
    assert {m: (t.target_us, t.calendar_name) for m, t in urgent.targets.items()} == {
        "first_response": (2 * H, "24x7"), "assignment": (15 * 60 * US, "24x7"),
        "next_response": (4 * H, "24x7"), "resolution": (24 * H, "24x7")}
    vip_t = shipped.get("vip-ticket")
    assert {m: (t.target_us, t.calendar_name) for m, t in vip_t.targets.items()} == {
        "first_response": (4 * H, "cn_office"), "resolution": (48 * H, "cn_office")}
    std = shipped.get("standard-ticket")
    assert {m: (t.target_us, t.calendar_name) for m, t in std.targets.items()} == {
        "first_response": (8 * H, "cn_office"), "assignment": (2 * H, "cn_office"),
        "next_response": (8 * H, "cn_office"), "resolution": (72 * H, "cn_office")}
    for p in shipped.policies[:4]:
        assert "assignment" not in p.targets


def test_shipped_office_calendar(shipped):
    cal = shipped.calendars["cn_office"]
    assert isinstance(cal, BusinessCalendar)

    def hours(day: date) -> float:
        return sum(e - s for s, e in cal.day_intervals(day)) / H

    assert hours(date(2026, 11, 11)) == 8     # Singles' Day: a normal Wednesday, not a holiday
    assert hours(date(2026, 11, 14)) == 6     # Saturday 10:00-16:00
    assert hours(date(2026, 11, 15)) == 0     # Sunday
    assert hours(date(2026, 10, 1)) == 0      # National Day
    assert hours(date(2026, 10, 10)) == 8     # Saturday make-up workday: Monday's hours
    # the lunch break does not count
    noon = to_us(datetime(2026, 11, 11, 4, 0, tzinfo=timezone.utc))  # 12:00 in Shanghai
    assert cal.elapsed(noon, noon + H) == 0


# --------------------------------------------------------------------------- validation errors

GOOD_POLICY = "name: ok\nmatch: {}\ntargets: {first_response: {within: 1h}}"


def test_unknown_top_level_key():
    text = "polices: []\n" + policy_file(GOOD_POLICY)
    err = fail(text)
    assert_problem(err, "polices", 1, "unknown key 'polices'", "did you mean 'policies'")


def test_missing_policies_and_empty_list():
    assert_problem(fail("version: '1'\n"), "policies", None, "missing required key 'policies'")
    assert_problem(fail("policies: []\n"), "policies", 1, "at least one policy")


def test_not_a_mapping_and_empty_file():
    assert "must be a mapping" in str(fail("- a\n- b\n"))
    assert "empty" in str(fail("# nothing here\n"))


def test_unknown_match_key():
    text = policy_file("name: p\nmatch: {kind: ticket, prio: high}\n"
                       "targets: {first_response: {within: 1h}}")
    assert_problem(fail(text), "policies[0].match.prio", line_of(text, "prio"),
                   "unknown key 'prio'", "priority")


def test_bad_priority_value():
    text = policy_file(GOOD_POLICY, "name: p\nmatch:\n  priority: [high, urgnet]\n"
                       "targets: {first_response: {within: 1h}}")
    err = fail(text)
    assert_problem(err, "policies[1].match.priority[1]", line_of(text, "urgnet"),
                   "'urgnet'", "low, normal, high, urgent", "did you mean 'urgent'")
    assert len(err.problems) == 1  # 'high' is fine


@pytest.mark.parametrize("key, value, allowed", [
    ("kind", "chat", "conversation, ticket"),
    ("customer_tier", "VIP", "vip, regular, new"),
])
def test_bad_closed_match_values(key, value, allowed):
    text = policy_file(f"name: p\nmatch: {{{key}: {value}}}\ntargets: {{first_response: {{within: 1h}}}}")
    assert_problem(fail(text), f"policies[0].match.{key}", line_of(text, value), value, allowed)


@pytest.mark.parametrize("value, fragment", [
    ("[]", "empty list"), ("123", 'quote it: "123"'), ("{a: b}", "a value or a list"),
    ("''", "must not be empty"),
])
def test_bad_match_value_shapes(value, fragment):
    text = policy_file(f"name: p\nmatch:\n  queue: {value}\ntargets: {{first_response: {{within: 1h}}}}")
    assert_problem(fail(text), "policies[0].match.queue", line_of(text, "queue"), fragment)


def test_bad_duration_reports_its_line():
    text = policy_file(
        GOOD_POLICY,
        """\
        name: tickets
        match: {kind: ticket}
        targets:
          assignment:
            within: 2h
          first_response:
            within: 15x
        """)
    err = fail(text)
    line = line_of(text, "15x")
    assert line == 11
    assert_problem(err, "policies[1].targets.first_response.within", line,
                   "invalid duration '15x' (use e.g. 30s, 15m, 4h, 3d)")
    assert (f"{SRC}: policies[1].targets.first_response.within (line 11): "
            f"invalid duration '15x' (use e.g. 30s, 15m, 4h, 3d)") in str(err)


def test_zero_duration():
    text = policy_file("name: p\nmatch: {}\ntargets: {first_response: {within: 0m}}")
    assert_problem(fail(text), "policies[0].targets.first_response.within", 4, "greater than zero")


def test_unknown_metric_and_no_targets():
    text = policy_file("name: p\nmatch: {}\ntargets: {first_reply: {within: 1h}}",
                       "name: q\nmatch: {}\ntargets: {}")
    err = fail(text)
    assert_problem(err, "policies[0].targets.first_reply", line_of(text, "first_reply"),
                   "unknown key 'first_reply'", "first_response")
    assert_problem(err, "policies[1].targets", line_of(text, "targets: {}"), "at least one target")


def test_unknown_calendar_reference():
    text = OFFICE + policy_file(
        "name: p\nmatch: {}\ntargets:\n  first_response: {within: 1h, calendar: ofice}")
    assert_problem(fail(text), "policies[0].targets.first_response.calendar",
                   line_of(text, "ofice"), "unknown calendar 'ofice'", "office", "24x7")


def test_explicit_24x7_calendar_is_accepted():
    ps = load(policy_file("name: p\nmatch: {}\ntargets:\n  first_response: {within: 1h, calendar: 24x7}"))
    assert isinstance(ps.policies[0].targets["first_response"].calendar, AlwaysOpen)


def test_24x7_is_a_reserved_calendar_name():
    text = 'calendars:\n  24x7: {timezone: UTC, hours: {mon: ["09:00-10:00"]}}\n' + policy_file(GOOD_POLICY)
    assert_problem(fail(text), "calendars.24x7", 2, "built-in")


def test_bad_timezone():
    text = OFFICE.replace("UTC", "Asia/Shangai") + policy_file(GOOD_POLICY)
    assert_problem(fail(text), "calendars.office.timezone", 3,
                   "unknown time zone 'Asia/Shangai'", "did you mean 'Asia/Shanghai'")


@pytest.mark.parametrize("ranges, index, fragment", [
    ('["9-18"]', 0, "invalid time range '9-18'"),
    ('["09:00-25:00"]', 0, "invalid time '25:00'"),
    ('["09:60-10:00"]', 0, "invalid time '09:60'"),
    ('["24:00-24:00"]', 0, "invalid time '24:00'"),
    ('["09:00-18:00", "18:00-09:00"]', 1, "must end after it starts"),
    ('["10:00-10:00"]', 0, "must end after it starts"),
    ("[900]", 0, "must be a time range"),
])
def test_bad_hours_range(ranges, index, fragment):
    text = f"calendars:\n  office:\n    timezone: UTC\n    hours:\n      mon: {ranges}\n" + policy_file(GOOD_POLICY)
    assert_problem(fail(text), f"calendars.office.hours.mon[{index}]", 5, fragment)


def test_overlapping_ranges():
    text = ('calendars:\n  office:\n    timezone: UTC\n    hours:\n'
            '      mon-fri:\n        - "13:00-18:00"\n        - "09:00-13:30"\n'
            + policy_file(GOOD_POLICY))
    err = fail(text)
    assert_problem(err, "calendars.office.hours.mon-fri[0]", 6,
                   "'13:00-18:00' overlaps '09:00-13:30'")


@pytest.mark.parametrize("hours, key, fragment", [
    ('{mon-fri: ["09:00-18:00"], fri: ["09:00-12:00"]}', "fri", "fri given twice"),
    ('{"mon,mon": ["09:00-18:00"]}', "mon,mon", "mon given twice"),
    ('{funday: ["09:00-18:00"]}', "funday", "unknown day 'funday'"),
    ('{fri-mon: ["09:00-18:00"]}', "fri-mon", "runs backwards"),
    ('{mon: "09:00-18:00"}', "mon", "must be a list of time ranges"),
])
def test_bad_hours_days(hours, key, fragment):
    text = f"calendars:\n  office:\n    timezone: UTC\n    hours: {hours}\n" + policy_file(GOOD_POLICY)
    assert_problem(fail(text), f"calendars.office.hours.{key}", 4, fragment)


def test_calendar_without_any_hours():
    text = "calendars:\n  office:\n    timezone: UTC\n    hours: {sat: [], sun: []}\n" + policy_file(GOOD_POLICY)
    assert_problem(fail(text), "calendars.office.hours", 4, "no opening hours")


def test_unknown_country_and_bad_dates():
    text = textwrap.dedent("""\
        calendars:
          office:
            timezone: UTC
            hours: {mon: ["09:00-17:00"]}
            holidays:
              country: XX
              dates: ["2026-02-30", 2026-13-01, "11/11/2026"]
            workdays: [tomorrow]
        """) + policy_file(GOOD_POLICY)
    err = fail(text)
    assert_problem(err, "calendars.office.holidays.country", 6, "unknown country 'XX'")
    assert_problem(err, "calendars.office.holidays.dates[0]", 7, "invalid date '2026-02-30'")
    assert_problem(err, "calendars.office.holidays.dates[1]", 7, "invalid date '2026-13-01'")
    assert_problem(err, "calendars.office.holidays.dates[2]", 7, "invalid date '11/11/2026'")
    assert_problem(err, "calendars.office.workdays[0]", 8, "invalid date 'tomorrow'")


def test_holidays_details():
    text = textwrap.dedent("""\
        calendars:
          a:
            timezone: UTC
            hours: {mon: ["09:00-17:00"]}
            holidays: {country: US, subdivision: ZZ}
          b:
            timezone: UTC
            hours: {mon: ["09:00-17:00"]}
            holidays: {country_workdays: true, subdivision: CA}
          c:
            timezone: UTC
            hours: {mon: ["09:00-17:00"]}
            holidays: {dates: ["2026-03-02"], country_workdays: maybe}
            workdays: ["2026-03-02"]
        """) + policy_file(GOOD_POLICY)
    err = fail(text)
    assert_problem(err, "calendars.a.holidays.subdivision", 5, "unknown subdivision 'ZZ' of US")
    assert_problem(err, "calendars.b.holidays.subdivision", 9, "needs a country")
    assert_problem(err, "calendars.b.holidays.country_workdays", 9, "needs a country")
    assert_problem(err, "calendars.c.holidays.country_workdays", 13, "true or false")


def test_day_both_holiday_and_workday():
    text = textwrap.dedent("""\
        calendars:
          c:
            timezone: UTC
            hours: {mon: ["09:00-17:00"]}
            holidays: {dates: ["2026-03-02"]}
            workdays: ["2026-03-02"]
        """) + policy_file(GOOD_POLICY)
    assert_problem(fail(text), "calendars.c.workdays", 6, "2026-03-02", "both")


def test_country_codes_are_not_yaml_booleans():
    # Under YAML 1.1 `NO` (Norway) would be the boolean false.
    ps = load(textwrap.dedent("""\
        calendars:
          oslo:
            timezone: Europe/Oslo
            hours: {mon-fri: ["08:00-16:00"]}
            holidays: {country: NO, country_workdays: false}
        """) + policy_file(GOOD_POLICY))
    assert ps.calendars["oslo"].day_intervals(date(2026, 5, 17)) == ()  # Constitution Day


def test_warn_at_out_of_range():
    text = policy_file("name: p\nmatch: {}\ntargets: {first_response: {within: 1h}}\n"
                       "warn_at: [0.5, 1.0, 0, -0.2, high]")
    err = fail(text)
    line = line_of(text, "warn_at")
    for i in (1, 2, 3):
        assert_problem(err, f"policies[0].warn_at[{i}]", line, "strictly between 0 and 1")
    assert_problem(err, "policies[0].warn_at[4]", line, "must be a number")
    assert len(err.problems) == 4
    assert_problem(fail(policy_file(GOOD_POLICY + "\nwarn_at: 0.5")), "policies[0].warn_at", 5,
                   "must be a list")


def test_count_bot_replies_must_be_a_boolean():
    text = policy_file(GOOD_POLICY + "\ncount_bot_replies: yes")
    assert_problem(fail(text), "policies[0].count_bot_replies", 5, "true or false", "'yes'")


def test_duplicate_policy_names():
    text = policy_file(GOOD_POLICY, GOOD_POLICY.replace("ok", "other"), GOOD_POLICY)
    err = fail(text)
    assert_problem(err, "policies[2].name", line_of(text, "name: ok", 2),
                   "duplicate policy name 'ok'", "policies[0], line 2")
    assert len(err.problems) == 1


@pytest.mark.parametrize("name, fragment", [("''", "must not be empty"), ("[a]", "must be a name")])
def test_bad_policy_names(name, fragment):
    text = policy_file(f"name: {name}\nmatch: {{}}\ntargets: {{first_response: {{within: 1h}}}}")
    assert_problem(fail(text), "policies[0].name", 2, fragment)


def test_missing_policy_keys():
    text = policy_file("name: p\ntargets: {first_response: {within: 1h}}",
                       "match: {}\ntargets: {first_response: {within: 1h}}",
                       "name: r\nmatch:\ntargets: {first_response: {within: 1h}}")
    err = fail(text)
    # a missing key points at the policy it belongs in
    assert_problem(err, "policies[0].match", 2, "missing required key 'match'", "match: {}")
    assert_problem(err, "policies[1].name", 4, "missing required key 'name'")
    assert_problem(err, "policies[2].match", 7, "must be a mapping", "match: {}")


def test_assignment_on_conversation_only_policy():
    text = policy_file(
        "name: chat\nmatch: {kind: conversation}\n"
        "targets:\n  first_response: {within: 30s}\n  assignment: {within: 5m}",
        "name: tickets\nmatch: {kind: [ticket, conversation]}\n"
        "targets: {assignment: {within: 1h}}",  # fine: also matches tickets
        "name: any\nmatch: {}\ntargets: {assignment: {within: 1h}}",
    )
    err = fail(text)
    assert_problem(err, "policies[0].targets.assignment", line_of(text, "assignment"),
                   "assignment applies to tickets")
    assert len(err.problems) == 1


def test_duplicate_yaml_key():
    text = policy_file("name: a\nname: b\nmatch: {}\ntargets: {first_response: {within: 1h}}")
    assert_problem(fail(text), "policies[0].name", 3, "duplicate key 'name'", "first at line 2")


def test_yaml_syntax_error_with_line():
    text = policy_file(GOOD_POLICY, "name: b\nmatch: {kind: [ticket}\ntargets: {}")
    err = fail(text)
    assert len(err.problems) == 1
    path, line, message = err.problems[0]
    assert (path, line) == ("", line_of(text, "[ticket}"))
    assert "YAML syntax error" in message
    assert str(err).startswith(f"{SRC}: line {line}: YAML syntax error")


def test_unreadable_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError) as info:
        load_policies(missing)
    assert info.value.file == str(missing)
    assert str(info.value).startswith(f"{missing}: ")
    assert "No such file or directory" in str(info.value)
    with pytest.raises(PolicyError) as info:
        load_policies(tmp_path)  # a directory
    assert str(tmp_path) in str(info.value) and "cannot read" in str(info.value)


def test_non_utf8_file(tmp_path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes("policies: [{name: caf\xe9}]\n".encode("latin-1"))
    with pytest.raises(PolicyError, match="UTF-8"):
        load_policies(f)


def test_all_problems_are_reported_in_line_order():
    text = textwrap.dedent("""\
        calendars:
          office:
            timezone: Mars/Olympus
            hours: {mon: ["09:00-18:00"]}
        policies:
          - name: a
            match: {priority: hihg}
            targets:
              first_response: {within: soon}
              resolution: {within: 1d, calendar: nowhere}
            warn_at: [2]
          - name: a
            match: {}
            targets: {first_response: {within: 1h}}
        extra: true
        """)
    err = fail(text)
    expected = [
        ("calendars.office.timezone", 3),
        ("policies[0].match.priority", 7),
        ("policies[0].targets.first_response.within", 9),
        ("policies[0].targets.resolution.calendar", 10),
        ("policies[0].warn_at[0]", 11),
        ("policies[1].name", 12),
        ("extra", 15),
    ]
    assert [(p, line) for p, line, _ in err.problems] == expected
    assert len(str(err).splitlines()) == len(expected)
    assert all(row.startswith(f"{SRC}: ") for row in str(err).splitlines())


def test_policy_error_survives_pickling():
    err = fail("policies: []\n")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.file, copy.problems, str(copy)) == (err.file, err.problems, str(err))
