"""Pieces every slawatch dashboard shares: data source references, template variables and the
SQL filter snippets that make ClickHouse panels follow those variables.

Data source uids are fixed (`prometheus`, `clickhouse`) and provisioned by
grafana/provisioning/datasources/datasources.yml, so dashboards never depend on the name an
operator gives a data source.

Variables are multi-value with an "All" option whose value is `.*`: Prometheus panels use them
as regular expressions (`channel=~"$channel"`); ClickHouse panels wrap every condition in the
plugin's `$__conditionalAll(cond, $var)`, which becomes `1=1` when "All" is selected, and
otherwise `cond` with `${var:singlequote}` expanded to `'a','b'`.
"""
from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    GridPos,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from .clickhouse_query import PLUGIN_ID, ClickHouse

PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
CLICKHOUSE = DataSourceRef(type_val=PLUGIN_ID, uid="clickhouse")

# Local time zone of the support team: hour-of-day and weekday breakdowns, "today".
DEFAULT_TZ = "Asia/Shanghai"

ALL = VariableOption(selected=True, text="All", value="$__all")


def prom(expr: str, legend: str = "", ref_id: str = "A", instant: bool = False) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).ref_id(ref_id).datasource(PROMETHEUS)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant().format("table")
    return q


def sql(raw: str, ref_id: str = "A", time_series: bool = False) -> ClickHouse:
    q = ClickHouse(_dedent(raw)).ref_id(ref_id).datasource(CLICKHOUSE)
    return q.time_series() if time_series else q.table()


def _dedent(text: str) -> str:
    """Remove the source indentation of a triple-quoted SQL text: the indentation of its first
    line is removed from every line that has it (lines inserted by `where()` have none)."""
    lines = text.strip("\n").splitlines()
    indent = len(lines[0]) - len(lines[0].lstrip(" "))
    prefix = " " * indent
    return "\n".join(line[indent:] if line.startswith(prefix) else line for line in lines).strip()


def ch_variable(name: str, label: str, sql_text: str, description: str) -> dash.QueryVariable:
    """A multi-value variable whose options come from ClickHouse, refreshed with the time range."""
    return (dash.QueryVariable(name).label(label).description(description)
            .datasource(CLICKHOUSE).query(_dedent(sql_text))
            .multi(True).include_all(True).all_value(".*").current(ALL)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC))


def tz_variable() -> dash.CustomVariable:
    """The team's time zone for hour-of-day/weekday panels (a constant-like custom variable)."""
    zones = [DEFAULT_TZ, "UTC", "Europe/Berlin", "America/New_York"]
    return (dash.CustomVariable("tz").label("Time zone").values(",".join(zones))
            .description("Time zone of hour-of-day and weekday breakdowns")
            .current(VariableOption(selected=True, text=DEFAULT_TZ, value=DEFAULT_TZ)))


def dimension_variables() -> list[dash.QueryVariable]:
    """channel, queue, priority, tier: the dimensions of `metric_windows` (ClickHouse), which has
    all four; Prometheus labels carry channel and queue (and priority on some series) only."""
    out = []
    for name, label, column, what in (
            ("channel", "Channel", "channel", "Contact channel (web, app, wechat, ...)"),
            ("queue", "Queue", "queue", "Queue (or group) the conversation or ticket is in"),
            ("priority", "Priority", "priority", "Ticket priority (conversations have none)"),
            ("tier", "Tier", "customer_tier", "Customer tier (regular, vip, new, ...)")):
        out.append(ch_variable(name, label, f"""
            SELECT DISTINCT {column}
            FROM metric_windows
            WHERE $__timeFilter(window_start) AND {column} IS NOT NULL
            ORDER BY {column}""", what))
    return out


def where(*conditions: str, var_columns: dict[str, str] | None = None) -> str:
    """`WHERE c1 AND c2 ... AND $__conditionalAll(col IN (${var:singlequote}), $var) ...`, one
    condition a line (indented by two spaces, for `_dedent`)."""
    parts = list(conditions)
    for var, column in (var_columns or {}).items():
        parts.append(f"$__conditionalAll({column} IN (${{{var}:singlequote}}), ${var})")
    return "WHERE " + "\n  AND ".join(parts)


def with_panels(d: dash.Dashboard, panels: list) -> dash.Dashboard:
    """Add `panels` with ids 1..n in order (Grafana links and panel embedding use the ids)."""
    for n, p in enumerate(panels, start=1):
        d = d.with_panel(p.id(n))
    return d


# Columns of metric_windows / sla_records that the dimension variables filter.
WINDOW_DIMS = {"channel": "channel", "queue": "queue", "priority": "priority", "tier": "customer_tier"}
RECORD_DIMS = WINDOW_DIMS


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (dash.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE)
            .steps([Threshold(value=v, color=c) for v, c in steps]))


def pos(x: int, y: int, w: int, h: int) -> GridPos:
    return GridPos(x=x, y=y, w=w, h=h)


__all__ = ["PROMETHEUS", "CLICKHOUSE", "DEFAULT_TZ", "prom", "sql", "ch_variable", "tz_variable",
           "dimension_variables", "where", "WINDOW_DIMS", "RECORD_DIMS", "thresholds", "pos",
           "with_panels"]
