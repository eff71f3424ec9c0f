"""One test per rule of spec sla.md, plus the boundaries around each (the engine via replay)."""
from __future__ import annotations

from tests.scenario import Scenario, brief, utc

CHAT = """
policies:
  - name: chat
    match: {kind: conversation}
    targets:
      first_response: {within: 30s}
      next_response: {within: 60s}
      resolution: {within: 1h}
    warn_at: [0.5, 0.8]
  - name: tickets
    match: {kind: ticket}
    targets:
      first_response: {within: 1h}
      assignment: {within: 10m}
      next_response: {within: 2h}
      resolution: {within: 4h}
"""

NO_WARN = CHAT.replace("    warn_at: [0.5, 0.8]\n", "")


def fr(records):
    return [r for r in brief(records) if r[0] == "first_response"]


def only(records, metric):
    return [r for r in brief(records) if r[0] == metric]


# ---------------------------------------------------------------- first response
def test_first_response_achieved_by_agent_message():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 3, "customer")
    s.msg("c1", 12, "agent", author_id="A7")
    recs = s.replay(NO_WARN)
    assert fr(recs) == [("first_response", 1, "achieved", 12, 12)]
    r = [r for r in recs if r["metric"] == "first_response"][0]
    assert r["agent_id"] == "A7"
    assert r["target_seconds"] == 30
    assert r["deadline"] == utc(30)
    assert r["policy"] == "chat" and r["entity_kind"] == "conversation" and r["entity_id"] == "c1"
    assert r["channel"] == "web" and r["customer_tier"] == "regular"
    assert r["priority"] is None and r["category"] is None


def test_reply_exactly_at_deadline_is_achieved_not_breached():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 30, "agent", author_id="A1")
    assert fr(s.replay(NO_WARN)) == [("first_response", 1, "achieved", 30, 30)]


def test_breach_fires_at_deadline_without_further_events():
    s = Scenario()
    s.started("c1", 0)
    s.started("c2", 100)  # only moves time on: c1 has no event after its start
    recs = s.replay(NO_WARN)
    assert fr(recs) == [("first_response", 1, "breached", 30, 30)]
    assert recs[0]["deadline"] == utc(30) and recs[0]["at"] == utc(30)


def test_breach_then_late_reply_is_completed_late():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 45, "agent", author_id="A1")
    assert fr(s.replay(NO_WARN)) == [
        ("first_response", 1, "breached", 30, 30),
        ("first_response", 1, "completed_late", 45, 45),
    ]


def test_reply_one_microsecond_after_deadline_is_late():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 30.000001, "agent")
    assert [r[2] for r in fr(s.replay(NO_WARN))] == ["breached", "completed_late"]


def test_warnings_at_each_fraction_once_then_breach():
    s = Scenario()
    s.started("c1", 0)
    s.started("c2", 40)
    assert fr(s.replay(CHAT)) == [
        ("first_response", 1, "warning", 15, 15),
        ("first_response", 1, "warning", 24, 24),
        ("first_response", 1, "breached", 30, 30),
    ]


def test_reply_exactly_at_warning_threshold_prevents_that_warning():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 15, "agent")
    assert fr(s.replay(CHAT)) == [("first_response", 1, "achieved", 15, 15)]


def test_bot_reply_does_not_count_by_default():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 1, "bot", author_id="bot")
    s.msg("c1", 20, "agent", author_id="A1")
    assert fr(s.replay(NO_WARN)) == [("first_response", 1, "achieved", 20, 20)]


def test_bot_reply_counts_when_count_bot_replies():
    rules = NO_WARN.replace("      resolution: {within: 1h}\n",
                            "      resolution: {within: 1h}\n    count_bot_replies: true\n", 1)
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 1, "bot", author_id="bot")
    assert fr(s.replay(rules)) == [("first_response", 1, "achieved", 1, 1)]


def test_system_message_never_stops_a_clock():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 1, "system", text="agent will join soon")
    s.msg("c1", 40, "agent")
    assert [r[2] for r in fr(s.replay(NO_WARN))] == ["breached", "completed_late"]


# ---------------------------------------------------------------- abandonment and end
def test_conversation_ended_before_any_agent_response_is_abandoned():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 2, "customer")
    s.ended("c1", 10, "abandoned")
    recs = s.replay(NO_WARN)
    assert brief(recs) == [
        ("first_response", 1, "abandoned", 10, 10),
        ("resolution", 1, "cancelled", 10, 10),
    ]


def test_abandoned_with_any_outcome_and_after_breach():
    s = Scenario()
    s.started("c1", 0)
    s.ended("c1", 50, "resolved")
    assert brief(s.replay(NO_WARN)) == [
        ("first_response", 1, "breached", 30, 30),
        ("first_response", 1, "abandoned", 50, 50),
        ("resolution", 1, "achieved", 50, 50),
    ]


def test_only_bot_replies_still_abandoned_when_bots_do_not_count():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 1, "bot")
    s.ended("c1", 5, "timeout")
    assert fr(s.replay(NO_WARN)) == [("first_response", 1, "abandoned", 5, 5)]


def test_resolution_cancelled_unless_resolved():
    for outcome, expected in [("resolved", "achieved"), ("unresolved", "cancelled"),
                              ("timeout", "cancelled"), ("abandoned", "cancelled")]:
        s = Scenario()
        s.started("c1", 0)
        s.msg("c1", 5, "agent")
        s.ended("c1", 600, outcome)
        assert only(s.replay(NO_WARN), "resolution") == [("resolution", 1, expected, 600, 600)]


def test_resolution_breach_then_resolved_is_completed_late():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 5, "agent")
    s.ended("c1", 4000, "resolved")
    assert only(s.replay(NO_WARN), "resolution") == [
        ("resolution", 1, "breached", 3600, 3600),
        ("resolution", 1, "completed_late", 4000, 4000),
    ]


def test_events_after_end_change_nothing():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 5, "agent")
    s.ended("c1", 10, "resolved")
    s.msg("c1", 20, "customer")
    s.msg("c1", 200, "agent")
    recs = s.replay(NO_WARN)
    assert [r[2] for r in brief(recs)] == ["achieved", "achieved"]


# ---------------------------------------------------------------- next response
def test_next_response_cycles():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 1, "customer")          # before the first response: not a next_response wait
    s.msg("c1", 10, "agent")            # first response
    s.msg("c1", 20, "customer")         # cycle 1 starts
    s.msg("c1", 25, "customer")         # already waiting: no new cycle
    s.msg("c1", 50, "agent")            # cycle 1 achieved after 30 s
    s.msg("c1", 60, "agent")            # nothing waiting
    s.msg("c1", 100, "customer")        # cycle 2
    s.msg("c1", 200, "agent")           # 100 s > 60 s: breached at 160, completed late
    s.msg("c1", 300, "customer")        # cycle 3, still waiting at the end
    s.ended("c1", 330, "resolved")
    assert only(s.replay(NO_WARN), "next_response") == [
        ("next_response", 1, "achieved", 50, 30),
        ("next_response", 2, "breached", 160, 60),
        ("next_response", 2, "completed_late", 200, 100),
        ("next_response", 3, "cancelled", 330, 30),
    ]


def test_next_response_warnings_are_per_cycle():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 1, "agent")
    s.msg("c1", 10, "customer")
    s.msg("c1", 50, "agent")    # cycle 1: warned at 30 s (50 %) and 48 s? no: 10+30=40, 10+48=58 > 50
    s.msg("c1", 100, "customer")
    s.msg("c1", 140, "agent")   # cycle 2: warned at 130
    got = [r for r in only(s.replay(CHAT), "next_response") if r[2] == "warning"]
    assert got == [("next_response", 1, "warning", 40, 30), ("next_response", 2, "warning", 130, 30)]


# ---------------------------------------------------------------- tickets
def test_ticket_first_response_needs_public_agent_comment():
    s = Scenario()
    s.created("t1", 0)
    s.comment("t1", 60, "agent", public=False, author_id="A1")   # internal note
    s.comment("t1", 120, "system", public=True)
    s.comment("t1", 600, "agent", public=True, author_id="A2")
    recs = s.replay(NO_WARN, until=700)
    assert only(recs, "first_response") == [("first_response", 1, "achieved", 600, 600)]
    assert [r for r in recs if r["metric"] == "first_response"][0]["agent_id"] == "A2"


def test_ticket_assignment_clock():
    s = Scenario()
    s.created("t1", 0, priority="high")
    s.tassigned("t1", 300, "A9")
    s.tassigned("t1", 900, "A3")        # only the first assignment stops the clock
    recs = s.replay(NO_WARN, until=1000)
    assert only(recs, "assignment") == [("assignment", 1, "achieved", 300, 300)]
    r = [r for r in recs if r["metric"] == "assignment"][0]
    assert r["agent_id"] == "A9" and r["priority"] == "high" and r["category"] == "inquiry"


def test_assignment_breach_and_late_assignment():
    s = Scenario()
    s.created("t1", 0)
    s.tassigned("t1", 700, "A9")
    assert only(s.replay(NO_WARN, until=800), "assignment") == [
        ("assignment", 1, "breached", 600, 600),
        ("assignment", 1, "completed_late", 700, 700),
    ]


def test_resolution_pauses_while_pending_and_on_hold():
    s = Scenario()
    s.created("t1", 0)
    s.status("t1", 10, "open")
    s.status("t1", 3600, "pending")       # 1 h elapsed
    s.status("t1", 7200, "on_hold")       # still paused, no new record
    s.status("t1", 10800, "open")         # resumed after 2 h paused
    s.status("t1", 14400, "solved")       # 1 h + 1 h = 2 h elapsed
    recs = s.replay(NO_WARN)
    assert only(recs, "resolution") == [
        ("resolution", 1, "paused", 3600, 3600),
        ("resolution", 1, "resumed", 10800, 3600),
        ("resolution", 1, "achieved", 14400, 7200),
    ]
    resumed = [r for r in recs if r["metric"] == "resolution" and r["status"] == "resumed"][0]
    assert resumed["deadline"] == utc(10800 + 3 * 3600)


def test_paused_clock_cannot_breach_across_its_deadline():
    s = Scenario()
    s.created("t1", 0)
    s.status("t1", 3 * 3600, "pending")     # 3 h of 4 h used
    s.status("t1", 10 * 3600, "open")       # the old deadline (4 h) passed while paused
    recs = s.replay(NO_WARN, until=14 * 3600)
    assert only(recs, "resolution") == [
        ("resolution", 1, "paused", 3 * 3600, 3 * 3600),
        ("resolution", 1, "resumed", 10 * 3600, 3 * 3600),
        ("resolution", 1, "breached", 11 * 3600, 4 * 3600),
    ]


def test_reopen_resumes_the_same_clock_and_can_be_achieved_again():
    s = Scenario()
    s.created("t1", 0)
    s.status("t1", 3600, "solved")
    s.status("t1", 7200, "open")            # reopen: 1 h kept
    s.status("t1", 9000, "solved")          # + 30 min
    recs = s.replay(NO_WARN)
    assert only(recs, "resolution") == [
        ("resolution", 1, "achieved", 3600, 3600),
        ("resolution", 1, "resumed", 7200, 3600),
        ("resolution", 1, "achieved", 9000, 5400),
    ]


def test_reopen_after_breach_completes_late_again():
    s = Scenario()
    s.created("t1", 0)
    s.status("t1", 5 * 3600, "solved")
    s.status("t1", 6 * 3600, "open")
    s.status("t1", 7 * 3600, "closed")
    assert [r[2:4] for r in only(s.replay(NO_WARN), "resolution")] == [
        ("breached", 4 * 3600), ("completed_late", 5 * 3600), ("resumed", 6 * 3600),
        ("completed_late", 7 * 3600)]


def test_solved_to_closed_is_not_a_reopen_and_closed_to_pending_is():
    s = Scenario()
    s.created("t1", 0)
    s.status("t1", 100, "solved")
    s.status("t1", 200, "closed")
    s.status("t1", 300, "pending")
    s.status("t1", 400, "open")
    assert [r[2:5] for r in only(s.replay(NO_WARN), "resolution")] == [
        ("achieved", 100, 100), ("paused", 300, 100), ("resumed", 400, 100)]


def test_ticket_next_response_and_solved_cancels_waiting_cycle():
    s = Scenario()
    s.created("t1", 0)
    s.comment("t1", 60, "agent", author_id="A1")
    s.comment("t1", 120, "customer")
    s.comment("t1", 180, "agent", author_id="A1")
    s.comment("t1", 240, "customer")
    s.status("t1", 300, "solved")
    assert only(s.replay(NO_WARN), "next_response") == [
        ("next_response", 1, "achieved", 180, 60),
        ("next_response", 2, "cancelled", 300, 60),
    ]


# ---------------------------------------------------------------- re-match
REMATCH = """
policies:
  - name: urgent
    match: {kind: ticket, priority: urgent}
    targets:
      first_response: {within: 10m}
      resolution: {within: 1h}
    warn_at: [0.5]
  - name: normal
    match: {kind: ticket}
    targets:
      first_response: {within: 1h}
      assignment: {within: 30m}
"""


def test_priority_raised_keeps_elapsed_and_uses_new_target():
    s = Scenario()
    s.created("t1", 0)
    s.priority("t1", 120, "urgent")      # 2 min elapsed of a now 10 min target
    recs = s.replay(REMATCH, until=3000)
    first = only(recs, "first_response")
    assert first == [("first_response", 1, "warning", 300, 300),
                     ("first_response", 1, "breached", 600, 600)]
    breach = [r for r in recs if r["metric"] == "first_response" and r["status"] == "breached"][0]
    assert breach["policy"] == "urgent" and breach["priority"] == "urgent" and breach["target_seconds"] == 600


def test_rematch_to_exceeded_target_breaches_at_rematch_instant():
    s = Scenario()
    s.created("t1", 0)
    s.priority("t1", 900, "urgent")      # 15 min already > 10 min
    recs = s.replay(REMATCH, until=1000)
    # both at the re-match instant; the spec's output order sorts status alphabetically
    assert only(recs, "first_response") == [
        ("first_response", 1, "breached", 900, 900),
        ("first_response", 1, "warning", 900, 900),
    ]


def test_rematch_cancels_metric_new_policy_lacks_and_starts_new_metric_from_entity_start():
    s = Scenario()
    s.created("t1", 0)
    s.status("t1", 600, "pending")       # 10 min, then paused
    s.status("t1", 1200, "open")         # resolution (only in urgent) must exclude this pause
    s.priority("t1", 1500, "urgent")     # assignment cancelled; resolution starts from creation
    s.status("t1", 2100, "solved")
    recs = s.replay(REMATCH, until=2200)
    assert only(recs, "assignment") == [("assignment", 1, "cancelled", 1500, 1500)]
    # 2100 s since creation minus the 600 s pause = 1500 s < 3600 s; warning at 1800 elapsed never reached
    assert only(recs, "resolution") == [("resolution", 1, "achieved", 2100, 1500)]


def test_rematch_of_paused_clock_keeps_it_paused():
    s = Scenario()
    s.created("t1", 0, priority="urgent")
    s.status("t1", 60, "pending")
    s.priority("t1", 120, "normal")        # resolution cancelled (normal has none)
    s.priority("t1", 180, "urgent")        # back: resolution only in urgent -> from start, paused
    s.status("t1", 600, "open")
    recs = s.replay(REMATCH, until=700)
    assert only(recs, "resolution") == [
        ("resolution", 1, "paused", 60, 60),
        ("resolution", 1, "cancelled", 120, 60),
        ("resolution", 1, "resumed", 600, 60),
    ]


def test_queue_change_rematches_conversation():
    rules = """
policies:
  - name: vip-queue
    match: {kind: conversation, queue: vip}
    targets: {first_response: {within: 10s}}
  - name: chat
    match: {kind: conversation}
    targets: {first_response: {within: 60s}}
"""
    s = Scenario()
    s.started("c1", 0)
    s.assigned("c1", 5, "A1", queue="vip")
    s.msg("c1", 12, "agent", author_id="A1")
    recs = s.replay(rules)
    assert [(r["status"], r["policy"], r["agent_id"]) for r in recs] == [
        ("breached", "vip-queue", "A1"), ("completed_late", "vip-queue", "A1")]


def test_policy_key_the_entity_lacks_does_not_match():
    rules = """
policies:
  - name: urgent-anything
    match: {priority: urgent}
    targets: {first_response: {within: 5s}}
  - name: rest
    match: {}
    targets: {first_response: {within: 60s}}
"""
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 10, "agent")
    assert [(r["policy"], r["status"]) for r in s.replay(rules)] == [("rest", "achieved")]


# ---------------------------------------------------------------- business calendar
BUSINESS = """
calendars:
  office:
    timezone: Asia/Shanghai
    hours:
      mon-fri: ["09:00-12:00", "13:00-18:00"]
    holidays:
      dates: ["2026-11-04"]
policies:
  - name: tickets
    match: {kind: ticket}
    targets:
      first_response: {within: 1h, calendar: office}
"""


def test_business_deadline_at_end_of_morning_range_not_after_lunch():
    s = Scenario()
    s.created("t1", 2 * 3600)            # Monday 11:00 local
    s.created("t2", 6 * 3600)            # moves time past 12:00 and 13:00
    recs = s.replay(BUSINESS)
    assert only(recs, "first_response") == [("first_response", 1, "breached", 3 * 3600, 3600)]
    assert recs[0]["at"] == utc(3 * 3600)    # 12:00 local, not 13:00


def test_business_elapsed_excludes_lunch_nights_and_holidays():
    s = Scenario()
    s.created("t1", 8 * 3600 + 1800)      # Monday 17:30 local: 30 min left today
    # Tuesday 09:30 reply: 30 + 30 = 60 min business time: exactly the deadline
    s.comment("t1", 24 * 3600 + 1800, "agent")
    recs = s.replay(BUSINESS)
    assert only(recs, "first_response") == [("first_response", 1, "achieved", 24 * 3600 + 1800, 3600)]
    assert recs[0]["deadline"] == utc(24 * 3600 + 1800)


def test_business_holiday_is_skipped():
    s = Scenario()
    s.created("t1", 24 * 3600 + 8 * 3600 + 1800)   # Tuesday 17:30; Wednesday 11-04 is a holiday
    s.created("t2", 4 * 24 * 3600)                 # Friday 09:00: time moves on
    recs = s.replay(BUSINESS)
    # 30 min Tuesday + 30 min Thursday -> Thursday 09:30 local
    assert only(recs, "first_response") == [("first_response", 1, "breached", 3 * 24 * 3600 + 1800, 3600)]


# ---------------------------------------------------------------- input handling
def test_duplicate_event_ids_are_applied_once():
    s = Scenario()
    s.started("c1", 0, event_id="same")
    s.msg("c1", 10, "agent", event_id="dup")
    s.msg("c1", 10, "agent", event_id="dup")
    s.started("c1", 0, event_id="same")
    assert [r[2] for r in brief(s.replay(NO_WARN))] == ["achieved"]


def test_duplicate_id_first_in_event_time_wins():
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 40, "agent", event_id="x")
    s.msg("c1", 10, "agent", event_id="x")   # same id, earlier in time: this one is applied
    assert fr(s.replay(NO_WARN)) == [("first_response", 1, "achieved", 10, 10)]


def test_events_before_start_are_ignored():
    s = Scenario()
    s.msg("c1", 0, "agent")
    s.started("c1", 5)
    assert fr(s.replay(NO_WARN, until=100)) == [("first_response", 1, "breached", 35, 30)]
