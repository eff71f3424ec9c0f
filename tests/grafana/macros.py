"""What Grafana does to a panel query before the data source runs it, for running the dashboards'
queries in tests without Grafana.

ClickHouse (grafana-clickhouse-datasource v4): the frontend first replaces
`$__conditionalAll(cond, $var)` (by `1=1` when "All" is selected, else by `cond`), then Grafana
interpolates template variables (`${var:singlequote}` -> `'a','b'`, `${var:sqlstring}` likewise
with `'` doubled, `$var`/`${var}` -> the raw values joined by `,`), then the backend expands the
time macros: `$__timeFilter(col)` -> `col >= toDateTime(FROM) AND col <= toDateTime(TO)`,
`$__fromTime`/`$__toTime` -> `toDateTime(N)`, `$__timeInterval(col)` ->
`toStartOfInterval(toDateTime(col), INTERVAL N second)` (the plugin's pkg/macros).

Prometheus: `$__rate_interval`/`$__interval`/`$__range` become durations and `$var` the variable's
regex value (`.*` for "All").

Anything left starting with `$` afterwards is an unknown macro or variable: `expand_*` raise.
"""
from __future__ import annotations

import re

ALL = object()  # the "All" option of a multi-value variable

_VAR = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")


def _quote(value: str, double: bool) -> str:
    return "'" + (value.replace("'", "''") if double else value.replace("'", "\\'")) + "'"


def _args(text: str, start: int) -> tuple[list[str], int]:
    """Comma-separated arguments of the call whose '(' is at `start`; returns (args, index after ')')."""
    depth, args, current = 0, [], []
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "(":
            depth += 1
            if depth == 1:
                continue
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(current))
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append("".join(current))
            current = []
            continue
        current.append(ch)
    raise ValueError(f"unbalanced parentheses in {text[start:start + 80]!r}")


def _conditional_all(sql: str, values: dict) -> str:
    macro = "$__conditionalAll"
    while (i := sql.find(macro)) != -1:
        args, end = _args(sql, i + len(macro))
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll needs 2 arguments: {sql[i:end]!r}")
        m = _VAR.fullmatch(args[1].strip())
        if m is None:
            raise ValueError(f"$__conditionalAll's 2nd argument is not a variable: {args[1]!r}")
        name = m.group(1) or m.group(3)
        if name not in values:
            raise KeyError(f"no value for variable {name!r}")
        sql = sql[:i] + ("1=1" if values[name] is ALL else args[0]) + sql[end:]
    return sql


def _variables(text: str, values: dict, all_value: str, sql: bool) -> str:
    def sub(m: re.Match) -> str:
        name, fmt = m.group(1) or m.group(3), m.group(2)
        if name.startswith("__"):
            return m.group(0)  # a macro, not a variable
        if name not in values:
            raise KeyError(f"no value for variable {name!r} in {text[:80]!r}")
        value = values[name]
        items = [all_value] if value is ALL else ([value] if isinstance(value, str) else list(value))
        if fmt in ("singlequote", "sqlstring"):
            return ",".join(_quote(v, fmt == "sqlstring") for v in items)
        if fmt not in (None, "raw", "regex"):
            raise ValueError(f"format {fmt!r} not supported by this test helper")
        return items[0] if len(items) == 1 else ("(" + "|".join(items) + ")" if not sql else ",".join(items))
    return _VAR.sub(sub, text)


def expand_sql(raw: str, values: dict, time_from: int, time_to: int, interval_s: int = 60) -> str:
    """A ClickHouse panel query as the plugin would send it. Times are Unix seconds."""
    sql = _conditional_all(raw, values)
    sql = _variables(sql, values, ".*", sql=True)
    sql = sql.replace("$__fromTime", f"toDateTime({time_from})").replace("$__toTime", f"toDateTime({time_to})")
    for macro, fmt in (("$__timeFilter", "{c} >= toDateTime({f}) AND {c} <= toDateTime({t})"),
                       ("$__timeInterval", "toStartOfInterval(toDateTime({c}), INTERVAL {n} second)")):
        while (i := sql.find(macro + "(")) != -1:
            (col,), end = _args(sql, i + len(macro))
            sql = sql[:i] + fmt.format(c=col.strip(), f=time_from, t=time_to, n=interval_s) + sql[end:]
    if "$" in sql:
        raise ValueError(f"unexpanded macro or variable left in:\n{sql}")
    return sql


def expand_promql(expr: str, values: dict, rate_interval: str = "1m") -> str:
    expr = (expr.replace("$__rate_interval", rate_interval).replace("$__interval", "15s")
            .replace("$__range", "1h"))
    expr = _variables(expr, values, ".*", sql=False)
    if "$" in expr:
        raise ValueError(f"unexpanded macro or variable left in: {expr}")
    return expr
