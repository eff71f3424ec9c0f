"""The core stays pure: importing every `streams.core` module loads no Kafka, ClickHouse,
Prometheus or HTTP client (issue 2). Checked in a fresh interpreter, so that what other tests
imported cannot hide a transitive import; `make test` runs it on the compiled and the pure core."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("faust", "aiokafka", "kafka", "clickhouse_connect", "chdb", "prometheus_client",
             "aiohttp", "pyarrow")


def test_importing_the_whole_core_loads_no_io_library() -> None:
    modules = sorted(p.stem for p in (ROOT / "streams" / "core").glob("*.py") if p.stem != "__init__")
    assert {"engine", "events", "metrics", "policy", "records", "build"} <= set(modules)
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module('streams.core.' + name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"the core imported: {out.stdout.strip()}"
