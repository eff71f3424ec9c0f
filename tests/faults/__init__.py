"""Fault tests (issue 7): crashes, broker restarts, ClickHouse outages, hostile input and policy
reloads, each on the real processes (worker, sink, tansu, chdb, Prometheus). What each proves
and what it does not is in docs/reliability.md. Larger variants run with SLAWATCH_SOAK=1
(`make soak`)."""
from __future__ import annotations

import os

#: `make soak`: the same tests, bigger and longer (10^5 fuzzed messages through the worker, a
#: 60 s ClickHouse outage, more kills).
SOAK = os.environ.get("SLAWATCH_SOAK") == "1"
