"""Real monitoring daemons for tests and benchmarks: a child process that is waited for and
stopped, and Prometheus started on the shipped rules (scripts/install-system.sh installs it)."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from . import RULES, require_binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


class Daemon:
    """A child process with its output in a log file; stopped (TERM, then KILL) by stop()."""

    def __init__(self, name: str, cmd: list[str], log: Path, ready_url: str) -> None:
        self.name, self.log, self.ready_url = name, log, ready_url
        self._log_fh = open(log, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log_fh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                http_get(self.ready_url, timeout=1.0)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        pytest.fail(f"{self.name} not ready at {self.ready_url} after {timeout}s:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        self._log_fh.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log_fh.close()


def start_prometheus(tmp: Path, scrape_configs: list[dict], *, fast_alerts: frozenset[str] | set[str] = frozenset(),
                     alertmanager: str | None = None) -> Daemon:
    """Prometheus on a free loopback port (scrape and evaluation every second) with the shipped
    rules; the alerts in `fast_alerts` get `for: 0s` (their holds are promtool-tested). Returns
    the daemon with `.url`; the caller waits with `wait_ready()`."""
    tmp.mkdir(parents=True, exist_ok=True)
    rule_file = RULES
    if fast_alerts:
        rules = yaml.safe_load(RULES.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") in fast_alerts:
                    rule["for"] = "0s"
        rule_file = tmp / "slawatch.rules.yml"
        rule_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    config: dict = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rule_file)],
        "scrape_configs": scrape_configs,
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    daemon = Daemon("prometheus", [
        require_binary("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'prom-data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=info",
    ], tmp / "prometheus.log", f"http://127.0.0.1:{port}/-/ready")
    daemon.url = f"http://127.0.0.1:{port}"
    return daemon
