"""Dashboard "QA": the day's QA samples, why they were drawn, which automatic checks fail, and
each sample's masked transcript.

From ClickHouse `qa_samples`, `qa_checks` and `qa_transcripts` (written by `slawatch qa sample`).
Transcripts are PII-masked before they are stored; the dashboard lives in the "QA" folder so its
audience can be limited with folder permissions. A sample's row links to the same dashboard with
`var-sample` set, which fills the transcript and check panels; the table also gives the
`slawatch qa pull` command that exports the agent's samples of that day as readable HTML pages.
"""
from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, dashboard as dash, table
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue, VariableOption

from .common import ch_variable, pos, sql, where, with_panels

UID = "slawatch-qa"
FOLDER = "qa"

SAMPLE_FILTERS = {"agent": "agent_id", "channel": "channel"}


def _variables() -> list:
    sample = (dash.TextBoxVariable("sample").label("Sample")
              .description("Sample id whose transcript and checks are shown (click a sample below)")
              .default_value("").current(VariableOption(selected=True, text="", value="")))
    return [
        ch_variable("agent", "Agent", """
            SELECT DISTINCT agent_id FROM qa_samples
            WHERE $__timeFilter(sampled_at) AND agent_id IS NOT NULL
            ORDER BY agent_id""", "Agent of the sampled conversation or ticket"),
        ch_variable("channel", "Channel", """
            SELECT DISTINCT channel FROM qa_samples
            WHERE $__timeFilter(sampled_at) AND channel IS NOT NULL
            ORDER BY channel""", "Contact channel"),
        sample,
    ]


def _by_reason() -> barchart.Panel:
    q = sql(f"""
        SELECT
          reason_name AS `Reason`,
          count() AS `Samples`
        FROM qa_samples FINAL
        ARRAY JOIN reasons AS reason_name
        {where("$__timeFilter(sampled_at)", var_columns=SAMPLE_FILTERS)}
        GROUP BY reason_name
        ORDER BY `Samples` DESC""")
    return (barchart.Panel().title("Samples by reason")
            .description("Why conversations and tickets were drawn: the random share and the "
                         "targeted pools (low CSAT, breach, reopened, abandoned after an agent "
                         "joined, long handle time, escalation words). A sample can have several.")
            .grid_pos(pos(0, 0, 12, 9)).with_target(q).x_field("Reason"))


def _check_failure_rates() -> barchart.Panel:
    q = sql(f"""
        SELECT
          c.check AS `Check`,
          countIf(NOT c.passed) / count() AS `Failure rate`
        FROM (SELECT sample_id, `check`, passed FROM qa_checks FINAL) AS c
        INNER JOIN (SELECT sample_id, agent_id, channel, sampled_at FROM qa_samples FINAL) AS s
          ON s.sample_id = c.sample_id
        {where("$__timeFilter(s.sampled_at)", var_columns={"agent": "s.agent_id", "channel": "s.channel"})}
        GROUP BY c.check
        ORDER BY `Failure rate` DESC""")
    return (barchart.Panel().title("Check failure rates")
            .description("Share of the sampled conversations and tickets failing each automatic check.")
            .grid_pos(pos(12, 0, 12, 9)).with_target(q).x_field("Check").unit("percentunit"))


def _samples() -> table.Panel:
    q = sql(f"""
        SELECT
          s.sample_id AS `Sample`,
          toString(s.day) AS `Day`,
          s.agent_id AS `Agent`,
          s.channel AS `Channel`,
          s.queue AS `Queue`,
          arrayStringConcat(s.reasons, ', ') AS `Reasons`,
          arrayStringConcat(arraySort(groupArrayIf(c.check, NOT c.passed)), ', ') AS `Failed checks`,
          s.status AS `Status`,
          concat('slawatch qa pull --from ', toString(s.day), ' --to ', toString(s.day),
                 if(s.agent_id IS NULL, '', concat(' --agent ', s.agent_id)),
                 ' --format html --out qa-pages') AS `Export command`
        FROM (SELECT * FROM qa_samples FINAL) AS s
        LEFT JOIN (SELECT sample_id, `check`, passed FROM qa_checks FINAL) AS c ON c.sample_id = s.sample_id
        {where("$__timeFilter(s.sampled_at)", var_columns={"agent": "s.agent_id", "channel": "s.channel"})}
        GROUP BY s.sample_id, s.day, s.agent_id, s.channel, s.queue, s.reasons, s.status, s.priority
        ORDER BY s.day DESC, s.priority DESC, s.sample_id
        LIMIT 500""")
    link = {"title": "Show transcript", "targetBlank": False,
            "url": "/d/" + UID + "/slawatch-qa?${__url_time_range}&${agent:queryparam}"
                   "&${channel:queryparam}&var-sample=${__data.fields.Sample}"}
    return (table.Panel().title("Samples").description(
                "Click a sample id to show its masked transcript and check results below. The "
                "export command writes that agent's samples of the day as HTML pages "
                "(add --api URL of the running `slawatch sink`, or --clickhouse DSN).")
            .grid_pos(pos(0, 9, 24, 10)).with_target(q)
            .override_by_name("Sample", [DynamicConfigValue(id_val="links", value=[link])]))


def _transcript() -> table.Panel:
    q = sql("""
        SELECT
          turn_no AS `#`,
          JSONExtractString(turn, 'at') AS `At`,
          JSONExtractString(turn, 'role') AS `Role`,
          JSONExtractString(turn, 'author_id') AS `Author`,
          JSONExtractString(turn, 'text') AS `Text (masked)`
        FROM qa_transcripts FINAL
        ARRAY JOIN JSONExtractArrayRaw(transcript) AS turn,
                   arrayEnumerate(JSONExtractArrayRaw(transcript)) AS turn_no
        WHERE sample_id = ${sample:sqlstring}
        ORDER BY turn_no""")
    return (table.Panel().title("Transcript of sample ${sample}")
            .description("The masked transcript (phone numbers, e-mails, bank cards and ID numbers "
                         "replaced) as stored by `slawatch qa sample`.")
            .grid_pos(pos(0, 19, 16, 12)).with_target(q))


def _sample_checks() -> table.Panel:
    q = sql("""
        SELECT
          `check` AS `Check`,
          if(passed, 'passed', 'FAILED') AS `Result`,
          arrayStringConcat(evidence, '; ') AS `Evidence`
        FROM qa_checks FINAL
        WHERE sample_id = ${sample:sqlstring}
        ORDER BY passed, `check`""")
    return (table.Panel().title("Checks of sample ${sample}").grid_pos(pos(16, 19, 8, 12))
            .with_target(q))


def build() -> dash.Dashboard:
    d = (dash.Dashboard("slawatch · QA").uid(UID)
         .description("QA samples by reason, automatic check failure rates, and each sample's "
                      "masked transcript.")
         .tags(["slawatch", "qa"]).time("now-2d", "now").refresh("").timezone("browser").readonly())
    for v in _variables():
        d = d.with_variable(v)
    return with_panels(d, [_by_reason(), _check_failure_rates(), _samples(), _transcript(), _sample_checks()])
