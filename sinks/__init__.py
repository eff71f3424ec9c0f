"""Output sinks (ClickHouse history, Prometheus exposition) fed by the stream agents."""
