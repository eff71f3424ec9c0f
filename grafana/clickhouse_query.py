"""The `grafana-clickhouse-datasource` (v4) panel query as a grafana-foundation-sdk data query.

The SDK ships query models for Grafana's core data sources only. This adds the ClickHouse
plugin's SQL query (its JSON shape: `editorType: "sql"`, `rawSql`, `format`, `queryType`) as a
`Dataquery` with a builder, and registers it with the SDK runtime so that
`Dashboard.from_json` decodes ClickHouse targets into it (a JSON -> model -> JSON round trip keeps
every key) instead of an untyped bag.
"""
from __future__ import annotations

import typing

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

PLUGIN_ID = "grafana-clickhouse-datasource"

# The plugin's `Format` enum: how the result frame is shaped for the panel.
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1

# Keys of the plugin's SQL query model, in the order the plugin's editor writes them.
_KEYS = ("datasource", "editorType", "format", "pluginVersion", "queryType", "rawSql", "refId",
         "hide")


class ClickHouseQuery(cogvariants.Dataquery):
    """A raw-SQL query of the ClickHouse plugin. `extra` keeps keys this model does not know,
    so a dashboard edited in Grafana (which may add keys) still round-trips losslessly."""

    def __init__(self, raw_sql: str = "", ref_id: str = "A", fmt: int = FORMAT_TABLE,
                 query_type: str = "table", datasource: dashboard.DataSourceRef | None = None,
                 hide: bool | None = None, plugin_version: str | None = None,
                 extra: dict[str, typing.Any] | None = None) -> None:
        self.raw_sql = raw_sql
        self.ref_id = ref_id
        self.format = fmt
        self.query_type = query_type
        self.datasource = datasource
        self.hide = hide
        self.plugin_version = plugin_version
        self.extra = dict(extra or {})

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {}
        if self.datasource is not None:
            payload["datasource"] = self.datasource.to_json()
        payload["editorType"] = "sql"
        payload["format"] = self.format
        if self.plugin_version is not None:
            payload["pluginVersion"] = self.plugin_version
        payload["queryType"] = self.query_type
        payload["rawSql"] = self.raw_sql
        payload["refId"] = self.ref_id
        if self.hide is not None:
            payload["hide"] = self.hide
        payload.update(self.extra)
        return payload

    @classmethod
    def from_json(cls, data: dict[str, typing.Any]) -> "ClickHouseQuery":
        ds = data.get("datasource")
        return cls(raw_sql=data.get("rawSql", ""), ref_id=data.get("refId", "A"),
                   fmt=data.get("format", FORMAT_TABLE), query_type=data.get("queryType", "table"),
                   datasource=None if ds is None else dashboard.DataSourceRef.from_json(ds),
                   hide=data.get("hide"), plugin_version=data.get("pluginVersion"),
                   extra={k: v for k, v in data.items() if k not in _KEYS})


class ClickHouse(cogbuilder.Builder[ClickHouseQuery]):
    """Builder: `ClickHouse(sql).ref_id("A").time_series()`."""

    def __init__(self, raw_sql: str) -> None:
        self._internal = ClickHouseQuery(raw_sql)

    def build(self) -> ClickHouseQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> typing.Self:
        self._internal.ref_id = ref_id
        return self

    def datasource(self, ref: dashboard.DataSourceRef) -> typing.Self:
        self._internal.datasource = ref
        return self

    def time_series(self) -> typing.Self:
        """Long rows (time, labels..., value) become one series per label set."""
        self._internal.format = FORMAT_TIME_SERIES
        self._internal.query_type = "timeseries"
        return self

    def table(self) -> typing.Self:
        self._internal.format = FORMAT_TABLE
        self._internal.query_type = "table"
        return self


def register() -> None:
    """Make `Dashboard.from_json` decode ClickHouse targets into `ClickHouseQuery`."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=PLUGIN_ID, from_json_hook=ClickHouseQuery.from_json))


register()
