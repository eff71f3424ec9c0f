"""Dashboard "Agents": per agent first response, resolution, CSAT and QA check failures.

From the ClickHouse history: `sla_records` (the record's agent is the one who replied, else the
assignee), `metric_windows` (CSAT per agent dimension) and `qa_samples` + `qa_checks`. For team
leads coaching agents; no customer data is shown.
"""
from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, dashboard as dash, table, timeseries
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from .common import ch_variable, pos, sql, where, with_panels

UID = "slawatch-agents"
FOLDER = "supervisors"

AGENT = {"agent": "agent_id", "channel": "channel"}


def _variables() -> list[dash.QueryVariable]:
    return [
        ch_variable("agent", "Agent", """
            SELECT DISTINCT agent_id FROM sla_records
            WHERE $__timeFilter(at) AND agent_id IS NOT NULL
            ORDER BY agent_id""", "Agent id"),
        ch_variable("channel", "Channel", """
            SELECT DISTINCT channel FROM sla_records
            WHERE $__timeFilter(at) AND channel IS NOT NULL
            ORDER BY channel""", "Contact channel"),
    ]


def _per_agent() -> table.Panel:
    q = sql(f"""
        SELECT
          agent_id AS `Agent`,
          countIf(metric = 'first_response') AS `First responses`,
          quantileIf(0.5)(elapsed_seconds, metric = 'first_response') AS `First response p50`,
          quantileIf(0.9)(elapsed_seconds, metric = 'first_response') AS `First response p90`,
          countIf(metric = 'first_response' AND status = 'achieved')
            / nullIf(countIf(metric = 'first_response'), 0) AS `First response within target`,
          countIf(metric = 'resolution') AS `Resolved`,
          quantileIf(0.5)(elapsed_seconds, metric = 'resolution') AS `Resolution p50`,
          quantileIf(0.9)(elapsed_seconds, metric = 'resolution') AS `Resolution p90`
        FROM sla_records FINAL
        {where("$__timeFilter(at)", "agent_id IS NOT NULL", "status IN ('achieved', 'completed_late')",
               "metric IN ('first_response', 'resolution')", var_columns=AGENT)}
        GROUP BY agent_id
        ORDER BY agent_id""")
    seconds = [DynamicConfigValue(id_val="unit", value="s")]
    return (table.Panel().title("First response and resolution per agent")
            .description("Clocks the agent stopped in the time range (business seconds of the "
                         "policy's calendar).")
            .grid_pos(pos(0, 0, 24, 10)).with_target(q)
            .override_by_name("First response p50", seconds).override_by_name("First response p90", seconds)
            .override_by_name("Resolution p50", seconds).override_by_name("Resolution p90", seconds)
            .override_by_name("First response within target",
                              [DynamicConfigValue(id_val="unit", value="percentunit")]))


def _csat() -> barchart.Panel:
    q = sql(f"""
        SELECT
          agent_id AS `Agent`,
          sum(csat_sum) / nullIf(sum(csat_count), 0) AS `CSAT`,
          sum(csat_count) AS `Ratings`
        FROM metric_windows FINAL
        {where("$__timeFilter(window_start)", "agent_id IS NOT NULL", "csat_count > 0",
               var_columns=AGENT)}
        GROUP BY agent_id
        ORDER BY agent_id""")
    return (barchart.Panel().title("CSAT per agent")
            .description("Average rating (1-5) of the conversations and tickets the agent handled.")
            .grid_pos(pos(0, 10, 12, 9)).with_target(q).x_field("Agent")
            .override_by_name("Ratings", [DynamicConfigValue(id_val="custom.axisPlacement", value="right")]))


def _qa_failures() -> table.Panel:
    q = sql(f"""
        SELECT
          s.agent_id AS `Agent`,
          uniqExact(s.sample_id) AS `QA samples`,
          countIf(NOT c.passed) AS `Failed checks`,
          countIf(NOT c.passed) / count() AS `Failure rate`,
          arrayStringConcat(arraySort(groupUniqArrayIf(c.check, NOT c.passed)), ', ') AS `Checks failed`
        FROM qa_samples AS s FINAL
        INNER JOIN (SELECT sample_id, `check`, passed FROM qa_checks FINAL) AS c ON c.sample_id = s.sample_id
        {where("$__timeFilter(s.sampled_at)", "s.agent_id IS NOT NULL",
               var_columns={"agent": "s.agent_id", "channel": "s.channel"})}
        GROUP BY s.agent_id
        ORDER BY `Failure rate` DESC""")
    return (table.Panel().title("QA check failures per agent")
            .description("Automatic QA checks on the agent's sampled conversations and tickets.")
            .grid_pos(pos(12, 10, 12, 9)).with_target(q)
            .override_by_name("Failure rate", [DynamicConfigValue(id_val="unit", value="percentunit")]))


def _first_response_trend() -> timeseries.Panel:
    q = sql(f"""
        SELECT
          $__timeInterval(at) AS time,
          agent_id,
          quantile(0.9)(elapsed_seconds) AS `p90`
        FROM sla_records FINAL
        {where("$__timeFilter(at)", "agent_id IS NOT NULL", "metric = 'first_response'",
               "status IN ('achieved', 'completed_late')", var_columns=AGENT)}
        GROUP BY time, agent_id
        ORDER BY time""", time_series=True)
    return (timeseries.Panel().title("First response p90 per agent over time")
            .grid_pos(pos(0, 19, 24, 8)).with_target(q).unit("s"))


def build() -> dash.Dashboard:
    d = (dash.Dashboard("slawatch · Agents").uid(UID)
         .description("Per agent: first response and resolution times, CSAT and QA check failures.")
         .tags(["slawatch", "agents"]).time("now-7d", "now").refresh("5m").timezone("browser").readonly())
    for v in _variables():
        d = d.with_variable(v)
    return with_panels(d, [_per_agent(), _csat(), _qa_failures(), _first_response_trend()])
