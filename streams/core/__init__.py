"""The pure core: events in, state changes out. No I/O, no wall clock, no Kafka/ClickHouse/Prometheus imports.

Everything that decides an SLA outcome lives here so that the live Faust agents, the offline
`slawatch replay` and the tests drive exactly the same code.
"""
