"""End to end: metrics target -> real Prometheus (our rules) -> real Alertmanager (our routing)
-> webhook receiver.

Prometheus and Alertmanager are the Debian binaries (scripts/install-system.sh), started on free
loopback ports with temporary storage and stopped at the end. Prometheus loads
rules/prometheus/slawatch.rules.yml as shipped except that the alerts under test get `for: 0s`
(the durations are covered by the promtool unit tests); Alertmanager runs
rules/alertmanager/alertmanager.yml as shipped except that its example webhook URLs point at the
test's receiver and the group timers are short. The test proves that a breaching urgent ticket
reaches the *pager* webhook with the rule's labels and annotations.

The scrape target is the `metrics_target_url` fixture: a real slawatch worker on a real
embedded broker, fed one urgent email ticket whose resolution deadline passes while the input
stays idle, so the whole chain worker -> Prometheus -> Alertmanager -> pager is exercised.
"""
from __future__ import annotations

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import yaml

from . import ALERTMANAGER_CONFIG, require_binary
from .daemons import Daemon, free_port, http_get, start_prometheus

DEADLINE_S = 60
# Alerts whose `for:` is zeroed in the test copy of the rules.
FAST_ALERTS = {"TicketsBreaching"}


# ---------------------------------------------------------------------------- helpers
class Webhook:
    """Tiny Alertmanager webhook receiver: every POST body (JSON) with its path."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[str, dict]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.put((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------- scrape target
URGENT_RULES = """
policies:
  - name: urgent-ticket
    match: {kind: ticket, priority: urgent}
    targets: {resolution: {within: 2s}}
  - name: default
    match: {}
    targets: {first_response: {within: 1h}}
"""


@pytest.fixture(scope="module")
def metrics_target_url(tmp_path_factory):
    """What Prometheus scrapes (job "slawatch"): a real worker's `GET /metrics`, on a real
    embedded broker, fed one urgent email ticket whose 2 s resolution target lapses at once."""
    import asyncio
    from datetime import datetime, timezone

    from streams.broker import EmbeddedBroker
    from tests.integration.test_live_pipeline import Worker, produce

    tmp = tmp_path_factory.mktemp("worker")
    rules = tmp / "rules.yaml"
    rules.write_text(URGENT_RULES)
    with EmbeddedBroker() as kafka:
        worker = Worker(kafka, tmp, rules=rules).start()
        try:
            ticket = {"event_id": "alert-pipeline-1", "type": "ticket.created",
                      "occurred_at": datetime.now(timezone.utc).isoformat(), "ticket_id": "T-urgent",
                      "channel": "email", "priority": "urgent", "category": "payment",
                      "customer_id": "C1"}
            asyncio.run(produce(kafka, worker, [ticket]))
            yield f"http://127.0.0.1:{worker.port}/metrics"
        finally:
            worker.stop()


# ---------------------------------------------------------------------------- daemons
@pytest.fixture(scope="module")
def webhook():
    hook = Webhook()
    try:
        yield hook
    finally:
        hook.close()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory, webhook):
    binary = require_binary("alertmanager", "prometheus-alertmanager")
    tmp = tmp_path_factory.mktemp("alertmanager")
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    # The shipped routing, with its example webhook URLs pointed at the test receiver (same
    # path: /pager or /chat) and timers short enough for a test.
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook.url + urlsplit(hook["url"]).path
    routes = [config["route"], *config["route"].get("routes", [])]
    for route in routes:
        for key, value in (("group_wait", "0s"), ("group_interval", "1s")):
            if key in route or route is config["route"]:
                route[key] = value
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    daemon = Daemon("alertmanager", [
        binary,
        f"--config.file={tmp / 'alertmanager.yml'}",
        f"--storage.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip cluster
        "--log.level=info",
    ], tmp / "alertmanager.log", f"http://127.0.0.1:{port}/-/ready")
    try:
        daemon.wait_ready()
        daemon.url = f"http://127.0.0.1:{port}"
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, alertmanager, metrics_target_url):
    target = urlsplit(metrics_target_url)
    daemon = start_prometheus(
        tmp_path_factory.mktemp("prometheus"),
        [{"job_name": "slawatch", "scheme": target.scheme, "metrics_path": target.path or "/metrics",
          "static_configs": [{"targets": [target.netloc]}]}],
        fast_alerts=FAST_ALERTS, alertmanager=urlsplit(alertmanager.url).netloc)
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()


# ---------------------------------------------------------------------------- the test
def diagnostics(prometheus, alertmanager) -> str:
    parts = []
    for name, url in (("targets", f"{prometheus.url}/api/v1/targets"),
                      ("prometheus alerts", f"{prometheus.url}/api/v1/alerts"),
                      ("alertmanager alerts", f"{alertmanager.url}/api/v2/alerts")):
        try:
            parts.append(f"--- {name}\n{http_get(url).decode()[:3000]}")
        except OSError as exc:
            parts.append(f"--- {name}: {exc}")
    parts.append(f"--- prometheus log\n{prometheus.tail()}")
    parts.append(f"--- alertmanager log\n{alertmanager.tail()}")
    return "\n".join(parts)


def test_breach_reaches_pager_webhook(prometheus, alertmanager, webhook):
    start = time.monotonic()
    seen = []
    while (left := DEADLINE_S - (time.monotonic() - start)) > 0:
        try:
            path, payload = webhook.received.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        seen.append((path, payload))
        hits = [a for a in payload["alerts"]
                if a["labels"].get("alertname") == "TicketsBreaching" and a["status"] == "firing"]
        if hits:
            break
    else:
        pytest.fail(f"no firing TicketsBreaching at the webhook within {DEADLINE_S}s; "
                    f"received {seen}\n{diagnostics(prometheus, alertmanager)}")

    assert path == "/pager", f"a page went to {path}, not the pager receiver"
    assert payload["receiver"] == "pager"
    assert payload["groupLabels"] == {"alertname": "TicketsBreaching", "channel": "email"}
    (alert,) = hits
    assert alert["labels"] == {
        "alertname": "TicketsBreaching", "severity": "page",
        "metric": "resolution", "channel": "email", "priority": "urgent",
    }
    assert alert["annotations"] == {
        "summary": "1 urgent email ticket(s) past their resolution deadline",
        "description": "1 urgent ticket(s) on channel email have a running resolution clock that is "
                       "already past its deadline, for at least 2 minutes.",
        "runbook_url": "https://github.com/slawatch/slawatch/blob/main/docs/runbook.md#ticketsbreaching",
    }
    # Prometheus saw the target through the `slawatch` job (what WorkerDown watches).
    targets = json.loads(http_get(f"{prometheus.url}/api/v1/targets"))["data"]["activeTargets"]
    assert [(t["labels"]["job"], t["health"]) for t in targets] == [("slawatch", "up")]
