"""Tests of the provisioned Grafana dashboards (grafana/): schema, SDK round trip, builder output,
provisioning, and every panel query run on real Prometheus and ClickHouse (chdb) data."""
