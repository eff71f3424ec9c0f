"""`make demo` after the install: scripts/demo.sh end to end on the embedded default.

Broker, worker, sink (with its QA stage), real-time generator and live view for a few seconds,
then the offline part: a replayed day, its summary, its QA sample and its HTML report. Run in a
temporary directory on free ports, so it never touches a developer's `.demo/` or port 9108.
"""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_demo_runs_the_live_pipeline_then_prints_where_to_look(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "DEMO_SECONDS": "4", "DEMO_OUT": str(out), "VENV": str(ROOT / ".venv"),
           "SLAWATCH_HTTP_PORT": str(free_port()), "SLAWATCH_SINK_HTTP_PORT": str(free_port())}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    for expected in ("slawatch live demo", f"/status", "ClickHouse history written by the sink",
                     "QA samples so far", "Offline: a generated day replayed", "daily report:",
                     "qa pull --from 2026-11-02"):
        assert expected in text, expected
    report = (out / "report.html").read_text()
    assert "<svg" in report and "Service report 2026-11-02" in report
    first = (out / "qa-sample.txt").read_text().splitlines()[0].split("\t")
    assert first[0] == "samples" and int(first[1]) > 50
    for log in ("worker.log", "sink.log", "broker.log"):
        assert "Traceback" not in (out / log).read_text(errors="replace"), log
