"""slawatch stream processing: the live worker, the offline replay, and the pure SLA/metrics/QA core they drive."""
