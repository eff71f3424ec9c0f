"""slawatch stream processing: the Faust app and agents, and the pure SLA/metrics/QA core they drive."""
