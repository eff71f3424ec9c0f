"""Access and secrets (docs/security.md), tested on the real things:

- every listener slawatch opens binds 127.0.0.1 unless configured otherwise (the OS's own table
  of listening sockets, /proc/net/tcp*, is the witness);
- the sink's POST /query (history, QA transcripts) answers only with the bearer token; the
  worker's /status and /metrics carry no agent or entity ids, which is why they need none;
- Kafka TLS: worker, generator producer and sink work through a TLS endpoint in front of the
  embedded broker when the CA is configured, and refuse it when not. tansu 0.6 has SASL (SCRAM)
  but its users can only be created through an already authenticated connection and its
  storage is in memory, so SASL is tested as the exact aiokafka arguments of every client;
- ClickHouse TLS and credentials reach a real HTTPS endpoint (user and password headers);
- secrets never show in Settings' repr/str/JSON nor in what the processes print;
- no committed file holds a secret.
"""
from __future__ import annotations

import ast
import asyncio
import base64
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
import trustme
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr

from streams import tansu_compat
from streams.broker import EmbeddedBroker, find_tansu, free_port
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {
    "SLAWATCH_SASL_PASSWORD": "test-sasl-3f9a1c",
    "SLAWATCH_SSL_KEY_PASSWORD": "test-key-77d0e2",
    "SLAWATCH_API_TOKEN": "test-token-5b8e44",
    "SLAWATCH_CLICKHOUSE_PASSWORD": "test-ch-c41d09",
    "SLAWATCH_CLICKHOUSE_DSN": "http://writer:test-dsn-a1b2c3@127.0.0.1:1/slawatch",
}
SECRET_VALUES = ["test-sasl-3f9a1c", "test-key-77d0e2", "test-token-5b8e44", "test-ch-c41d09", "test-dsn-a1b2c3"]
AGENT_ID = re.compile(rb"\bA0\d\d\b")


# ---------------------------------------------------------------------------- helpers
def listening(port: int) -> set[str]:
    """Addresses the OS has a listening TCP socket on for `port` (any process)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                host, hex_port = local.split(":")
                if state != "0A" or int(hex_port, 16) != port:
                    continue
                raw = bytes.fromhex(host)
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:  # four little-endian 32-bit words
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def secured_settings(**overrides) -> Settings:
    return Settings(_env_file=None, **overrides)


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("SLAWATCH_"):
            monkeypatch.delenv(key)
    return monkeypatch


# ---------------------------------------------------------------------------- settings
def test_secret_fields_are_secretstr():
    for name, field in Settings.model_fields.items():
        if re.search(r"password|token|dsn", name):
            assert "SecretStr" in str(field.annotation), f"{name} must be a SecretStr"


def test_settings_never_show_secrets(clean_env):
    for key, value in SECRETS.items():
        clean_env.setenv(key, value)
    clean_env.setenv("SLAWATCH_SECURITY_PROTOCOL", "SASL_SSL")
    clean_env.setenv("SLAWATCH_SASL_MECHANISM", "SCRAM-SHA-512")
    clean_env.setenv("SLAWATCH_SASL_USERNAME", "slawatch")
    s = Settings(_env_file=None)
    shown = [repr(s), str(s), s.model_dump_json(), json.dumps(s.model_dump(mode="json")), str(s.model_dump())]
    for text in shown:
        for secret in SECRET_VALUES:
            assert secret not in text
    # ... and yet the values are there for the clients.
    assert s.kafka_credentials()["sasl_plain_password"] == "test-sasl-3f9a1c"
    assert s.clickhouse_client_kwargs()["password"] == "test-ch-c41d09"
    assert s.api_token.get_secret_value() == "test-token-5b8e44"


@pytest.mark.parametrize("env, message", [
    ({"SLAWATCH_SECURITY_PROTOCOL": "SASL_SSL", "SLAWATCH_SASL_MECHANISM": "PLAIN",
      "SLAWATCH_SASL_USERNAME": "u"}, "SLAWATCH_SASL_PASSWORD"),
    ({"SLAWATCH_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "SLAWATCH_SASL_USERNAME": "u",
      "SLAWATCH_SASL_PASSWORD": "test-sasl-3f9a1c"}, "SLAWATCH_SASL_MECHANISM"),
    ({"SLAWATCH_PARTITIONS": "many", "SLAWATCH_SASL_PASSWORD": "test-sasl-3f9a1c"}, "partitions"),
    ({"SLAWATCH_SASL_MECHANISM": "PLAIN"}, "SLAWATCH_SECURITY_PROTOCOL"),
    ({"SLAWATCH_SSL_KEYFILE": "/k.pem"}, "SLAWATCH_SSL_CERTFILE"),
    ({"SLAWATCH_CLICKHOUSE_CLIENT_KEY": "/k.pem"}, "SLAWATCH_CLICKHOUSE_CLIENT_CERT"),
])
def test_incomplete_security_settings_are_refused_with_the_variable_named(clean_env, env, message):
    for key, value in env.items():
        clean_env.setenv(key, value)
    clean_env.setenv("SLAWATCH_API_TOKEN", "test-token-5b8e44")
    with pytest.raises(ValueError, match=message) as info:
        Settings(_env_file=None)
    # pydantic echoes the whole input of a failed model by default: not ours.
    assert "test-token-5b8e44" not in str(info.value) and "input_value" not in str(info.value)


# ---------------------------------------------------------------------------- Kafka options
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_settings_reach_every_aiokafka_client_class(protocol, mechanism, tmp_path):
    ca = trustme.CA()
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    s = secured_settings(security_protocol=protocol, sasl_mechanism=mechanism, sasl_username="slawatch",
                         sasl_password="test-sasl-3f9a1c", ssl_cafile=tmp_path / "ca.pem")

    async def build():
        kw = dict(bootstrap_servers=s.bootstrap_servers(), **s.kafka_credentials())
        producer, consumer, admin = AIOKafkaProducer(**kw), AIOKafkaConsumer(**kw), AIOKafkaAdminClient(**kw)
        return [producer.client, consumer._client, admin._client]

    for client in asyncio.run(build()):
        assert client._security_protocol == protocol
        assert client._sasl_mechanism == mechanism
        assert client._sasl_plain_username == "slawatch"
        assert client._sasl_plain_password == "test-sasl-3f9a1c"
        if protocol == "SASL_SSL":
            ctx = client._ssl_context
            assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
            assert ctx.cert_store_stats()["x509_ca"] == 1  # our CA, not the system bundle
        else:
            assert client._ssl_context is None


def test_mutual_tls_and_hostname_options(tmp_path):
    ca = trustme.CA()
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    client_cert = ca.issue_cert("slawatch-client")
    client_cert.cert_chain_pems[0].write_to_path(tmp_path / "client.pem")
    client_cert.private_key_pem.write_to_path(tmp_path / "client.key")
    s = secured_settings(security_protocol="SSL", ssl_cafile=tmp_path / "ca.pem",
                         ssl_certfile=tmp_path / "client.pem", ssl_keyfile=tmp_path / "client.key",
                         ssl_check_hostname=False)
    kw = s.kafka_credentials()
    assert kw["security_protocol"] == "SSL" and "sasl_mechanism" not in kw
    assert kw["ssl_context"].check_hostname is False
    assert secured_settings().kafka_credentials() == {"security_protocol": "PLAINTEXT"}


def _kafka_client_calls(path: Path):
    tree = ast.parse(path.read_text())
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient")):
                yield func, node


def test_every_kafka_client_in_the_code_uses_the_security_settings():
    """Static, but exhaustive: a new client that forgets TLS/SASL fails here, not in production.
    streams/broker.py is the embedded tansu (loopback, tests and demo only) and is exempt."""
    seen = 0
    for path in sorted([*ROOT.glob("streams/**/*.py"), *ROOT.glob("sinks/**/*.py")]):
        if path.name == "broker.py":
            continue
        for _func, call in _kafka_client_calls(path):
            seen += 1
            spread = [kw.value for kw in call.keywords if kw.arg is None]
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            assert spread, f"{where}: {call.func.id} without **settings.kafka_credentials()"
            module = path.read_text()
            for value in spread:
                text = ast.unparse(value)
                # Either spread directly, or a dict built from it in this module (passed along).
                assert "kafka_credentials()" in text or (
                    isinstance(value, ast.Name)
                    and re.search(rf"\b{value.id}\s*=\s*dict\(.*\*\*\w+\.kafka_credentials\(\)", module)
                ), f"{where}: **{text} does not carry kafka_credentials()"
    assert seen >= 5  # worker (admin, producer, consumer, changelog reader), producer, sink


# ---------------------------------------------------------------------------- Kafka over TLS
class TlsProxy:
    """A TLS endpoint in front of a plain broker port, the way a TLS-terminating load balancer
    fronts Kafka: tansu advertises this port, so every client connection goes through TLS."""

    def __init__(self, target_port: int, server_ctx: ssl.SSLContext) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.ctx = server_ctx
        self.loop = asyncio.new_event_loop()
        self.handshakes = 0
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader, writer) -> None:
        self.handshakes += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def start(self) -> "TlsProxy":
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, ssl=self.ctx), self.loop)
        self.server = fut.result(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def tls_kafka(tmp_path_factory):
    """tansu on a plain loopback port, advertised through a TLS proxy; yields (url, ca path)."""
    tmp = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(tmp / "ca.pem")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    plain = free_port()
    proxy = TlsProxy(plain, server_ctx).start()
    log = open(tmp / "tansu.log", "wb")
    proc = subprocess.Popen([find_tansu(), "broker", "--listener-url", f"tcp://127.0.0.1:{plain}",
                             "--advertised-listener-url", f"tcp://127.0.0.1:{proxy.port}",
                             "--storage-engine", "memory://tansu/"],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 20
        while not listening(plain):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp / "tansu.log").read_text()
            time.sleep(0.05)
        tansu_compat.enable()
        yield f"127.0.0.1:{proxy.port}", tmp / "ca.pem", proxy
    finally:
        proc.terminate()
        proc.wait(10)
        proxy.stop()
        log.close()


def _pipeline_settings(url: str, ca: Path, prefix: str, **kw) -> Settings:
    return secured_settings(
        broker_url=url, embedded=True, security_protocol="SSL", ssl_cafile=ca, app_id=prefix,
        conversations_topic=f"{prefix}.conversations", tickets_topic=f"{prefix}.tickets",
        dead_letter_topic=f"{prefix}.dead-letter", sla_events_topic=f"{prefix}.sla-events",
        metrics_topic=f"{prefix}.windows", partitions=2, broker_session_timeout_s=1.0,
        http_port=free_port(), **kw)


def _events() -> list[dict]:
    from streams.generator import GeneratorConfig, generate

    return list(generate(GeneratorConfig(seed=7, days=0.05, conversations_per_day=3000, tickets_per_day=300)))


async def _count_topic(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers(), group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                **settings.kafka_credentials())
    await consumer.start()
    try:
        n = 0
        while batch := await consumer.getmany(timeout_ms=1500, max_records=10000):
            n += sum(len(v) for v in batch.values())
        return n
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
def tls_run(tls_kafka, tmp_path_factory):
    """Worker, generator producer and ClickHouse sink, all through TLS; what they showed."""
    from sinks.kafka_to_clickhouse import KafkaClickHouseSink
    from streams.producer import produce
    from streams.worker import Worker

    url, ca, proxy = tls_kafka
    settings = _pipeline_settings(url, ca, "tls-run")
    events = _events()
    out: dict = {"events": len(events), "port": settings.http_port,
                 "entity_ids": {e.get("conversation_id") or e.get("ticket_id") for e in events}}

    async def main():
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers(), **settings.kafka_credentials())
        await admin.start()
        await admin.create_topics([NewTopic(t, 2, 1) for t in (
            settings.conversations_topic, settings.tickets_topic, settings.dead_letter_topic,
            settings.sla_events_topic, settings.metrics_topic)])
        await admin.close()
        stop = asyncio.Event()
        worker = Worker(settings)
        task = asyncio.create_task(worker.run(stop))
        out["produced"] = await produce(events, settings)
        deadline = time.monotonic() + 60
        while worker.totals["records"] == 0 or worker.metrics is None:
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "no SLA record through TLS"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        out["listening"] = listening(settings.http_port)
        base = f"http://127.0.0.1:{settings.http_port}"
        out["status"] = await asyncio.to_thread(lambda: urllib.request.urlopen(base + "/status", timeout=5).read())
        out["metrics"] = await asyncio.to_thread(lambda: urllib.request.urlopen(base + "/metrics", timeout=5).read())
        stop.set()
        await task
        out["records_on_topic"] = await _count_topic(settings, settings.sla_events_topic)
        sink_stop = asyncio.Event()
        sink = KafkaClickHouseSink(settings, f"chdb://{tmp_path_factory.mktemp('ch')}", batch_seconds=0.2)
        sink_task = asyncio.create_task(sink.run(sink_stop))
        deadline = time.monotonic() + 60
        while sink.stats["messages"] < out["records_on_topic"]:
            assert not sink_task.done(), sink_task.exception()
            assert time.monotonic() < deadline, f"sink read {sink.stats['messages']} through TLS"
            await asyncio.sleep(0.2)
        sink_stop.set()
        await sink_task
        out["sink_messages"] = sink.stats["messages"]

    asyncio.run(main())
    out["handshakes"] = proxy.handshakes
    return out


def test_pipeline_runs_over_kafka_tls(tls_run):
    assert tls_run["produced"] == tls_run["events"]
    assert tls_run["records_on_topic"] > 0
    assert tls_run["sink_messages"] >= tls_run["records_on_topic"]
    assert tls_run["handshakes"] >= 5  # admin, producer, worker clients, reader, sink: all via TLS


def test_kafka_tls_without_the_ca_is_refused(tls_kafka):
    from streams.producer import produce

    url, _ca, _proxy = tls_kafka
    settings = secured_settings(broker_url=url, embedded=True, security_protocol="SSL")  # system CAs only
    with pytest.raises(Exception) as info:
        asyncio.run(asyncio.wait_for(produce([{"type": "ticket.created", "ticket_id": "T1"}], settings), 20))
    assert "bootstrap" in str(info.value).lower() or "certificate" in str(info.value).lower()


# ---------------------------------------------------------------------------- listeners
def test_worker_listens_on_loopback_by_default(tls_run):
    assert Settings.model_fields["http_host"].default == "127.0.0.1"
    assert tls_run["listening"] == {"127.0.0.1"}


def test_worker_status_and_metrics_carry_no_agent_or_entity_ids(tls_run):
    """Why /status and /metrics need no token: aggregates per channel/queue only."""
    for body in (tls_run["status"], tls_run["metrics"]):
        assert not AGENT_ID.search(body), AGENT_ID.search(body)
        text = body.decode()
        leaked = [e for e in tls_run["entity_ids"] if e and e in text]
        assert not leaked, leaked[:5]
    status = orjson.loads(tls_run["status"])
    assert status["totals"]["events"] > 0  # it did see the traffic


async def _serve_sink(settings: Settings, tmp: Path):
    from sinks.kafka_to_clickhouse import KafkaClickHouseSink, start_http

    runner = KafkaClickHouseSink(settings, f"chdb://{tmp}")
    await asyncio.to_thread(runner._prepare)
    runner.ready.set()   # as `run` does once the schema is in place (/query answers 503 before)
    return runner, await start_http(runner, settings)


def _post(url: str, body: dict, headers: dict) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=orjson.dumps(body),
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_sink_listener_is_loopback_and_query_needs_the_token(tmp_path):
    token = "test-token-5b8e44"
    settings = secured_settings(sink_http_port=free_port(), api_token=token)

    async def main():
        runner, web = await _serve_sink(settings, tmp_path / "ch")
        try:
            url = f"http://127.0.0.1:{settings.sink_http_port}/query"
            sql = {"sql": "SELECT count() FROM qa_transcripts"}
            results = {
                "bound": listening(settings.sink_http_port),
                "none": await asyncio.to_thread(_post, url, sql, {}),
                "wrong": await asyncio.to_thread(_post, url, sql, {"Authorization": "Bearer " + token[:-1] + "x"}),
                "prefix": await asyncio.to_thread(_post, url, sql, {"Authorization": "Bearer " + token[:-1]}),
                "basic": await asyncio.to_thread(_post, url, sql, {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}),
                "right": await asyncio.to_thread(_post, url, sql, {"Authorization": f"Bearer {token}"}),
                "write": await asyncio.to_thread(_post, url, {"sql": "DROP TABLE sla_records"}, {"Authorization": f"Bearer {token}"}),
            }
        finally:
            await web.cleanup()
            await asyncio.to_thread(runner.sink.close)
        return results

    r = asyncio.run(main())
    assert r["bound"] == {"127.0.0.1"}
    for case in ("none", "wrong", "prefix", "basic"):
        assert r[case][0] == 401, (case, r[case])
        assert b"rows" not in r[case][1]
    assert r["right"][0] == 200 and orjson.loads(r["right"][1])["rows"] == [[0]]
    assert r["write"][0] == 400  # token or not, the API is read-only


def test_sink_query_is_off_without_a_configured_token(tmp_path):
    settings = secured_settings(sink_http_port=free_port())

    async def main():
        runner, web = await _serve_sink(settings, tmp_path / "ch")
        try:
            url = f"http://127.0.0.1:{settings.sink_http_port}/query"
            return [await asyncio.to_thread(_post, url, {"sql": "SELECT 1"}, h)
                    for h in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"})]
        finally:
            await web.cleanup()
            await asyncio.to_thread(runner.sink.close)

    for status, body in asyncio.run(main()):
        assert status == 403 and b"SLAWATCH_API_TOKEN" in body


def test_listener_binds_elsewhere_only_when_configured():
    from streams.service import serve_http

    async def hello(request):
        from aiohttp import web
        return web.Response(text="ok")

    async def main(host):
        port = free_port()
        runner = await serve_http([("GET", "/", hello)], host, port)
        try:
            return listening(port)
        finally:
            await runner.cleanup()

    assert asyncio.run(main(Settings.model_fields["http_host"].default)) == {"127.0.0.1"}
    assert asyncio.run(main("0.0.0.0")) == {"0.0.0.0"}


def test_embedded_broker_listens_on_loopback():
    with EmbeddedBroker() as broker:
        assert listening(broker.port) == {"127.0.0.1"}


# ---------------------------------------------------------------------------- ClickHouse TLS
@pytest.fixture
def https_recorder(tmp_path):
    """An HTTPS endpoint on 127.0.0.1 that records each request's headers and fails it (no
    ClickHouse server here: what matters is what the client sent, over verified TLS)."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self):
            seen.append(dict(self.headers))
            self.send_response(516)  # ClickHouse's "authentication failed"
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"Code: 516. DB::Exception: test endpoint")

        do_GET = do_POST = _record

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/slawatch", tmp_path / "ca.pem", seen
    server.shutdown()
    server.server_close()


def _user_and_password(headers: dict) -> tuple[str | None, str | None]:
    if "X-ClickHouse-User" in headers:
        return headers["X-ClickHouse-User"], headers.get("X-ClickHouse-Key")
    auth = headers.get("Authorization", "")
    if auth.startswith("Basic "):
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return user, password
    return None, None


def test_clickhouse_credentials_and_ca_from_the_environment(clean_env, https_recorder, caplog):
    from sinks.clickhouse import ClickHouseSink, SinkUnavailable

    dsn, ca, seen = https_recorder
    clean_env.setenv("SLAWATCH_CLICKHOUSE_USER", "writer")
    clean_env.setenv("SLAWATCH_CLICKHOUSE_PASSWORD", "test-ch-c41d09")
    clean_env.setenv("SLAWATCH_CLICKHOUSE_CA_CERT", str(ca))
    sink = ClickHouseSink(dsn, max_attempts=1)
    with pytest.raises(SinkUnavailable) as info:
        sink.connect()
    assert seen, "no request reached the TLS endpoint"
    assert _user_and_password(seen[0]) == ("writer", "test-ch-c41d09")
    assert "test-ch-c41d09" not in str(info.value) and "test-ch-c41d09" not in caplog.text


def test_clickhouse_tls_is_verified(clean_env, https_recorder):
    from sinks.clickhouse import ClickHouseSink, SinkUnavailable

    dsn, _ca, seen = https_recorder
    clean_env.setenv("SLAWATCH_CLICKHOUSE_PASSWORD", "test-ch-c41d09")
    with pytest.raises(SinkUnavailable):
        ClickHouseSink(dsn, max_attempts=1).connect()  # self-signed CA not trusted
    assert seen == [], "the password was sent to an unverified server"


def test_clickhouse_options_are_only_what_is_configured():
    assert secured_settings().clickhouse_client_kwargs() == {}
    kw = secured_settings(clickhouse_user="u", clickhouse_password="p", clickhouse_secure=True,
                          clickhouse_verify=False, clickhouse_client_cert="/c.pem",
                          clickhouse_client_key="/k.pem").clickhouse_client_kwargs()
    assert kw == {"username": "u", "password": "p", "secure": True, "verify": False,
                  "client_cert": "/c.pem", "client_cert_key": "/k.pem"}


# ---------------------------------------------------------------------------- process output
def _run_for(args: list[str], env: dict, seconds: float) -> str:
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    return out.decode(errors="replace")


def test_failing_processes_do_not_print_secrets(tmp_path):
    """The error paths are where a secret leaks: a worker whose SASL handshake is refused, a sink
    whose ClickHouse is unreachable. Their whole output is searched for every secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    env.update(PYTHONPATH=str(ROOT), SLAWATCH_API_TOKEN="test-token-5b8e44",
               SLAWATCH_CLICKHOUSE_PASSWORD="test-ch-c41d09", SLAWATCH_CLICKHOUSE_USER="writer",
               SLAWATCH_SSL_KEY_PASSWORD="test-key-77d0e2", SLAWATCH_BROKER_SESSION_TIMEOUT_S="1")
    with EmbeddedBroker() as broker:
        worker_env = dict(env, SLAWATCH_BROKER_URL=broker.url, SLAWATCH_HTTP_PORT=str(free_port()),
                          SLAWATCH_SECURITY_PROTOCOL="SASL_PLAINTEXT", SLAWATCH_SASL_MECHANISM="SCRAM-SHA-512",
                          SLAWATCH_SASL_USERNAME="slawatch", SLAWATCH_SASL_PASSWORD="test-sasl-3f9a1c")
        worker_out = _run_for(["worker"], worker_env, 8)
        sink_env = dict(env, SLAWATCH_BROKER_URL=broker.url, SLAWATCH_SINK_HTTP_PORT=str(free_port()),
                        SLAWATCH_QA_ENABLED="false")
        sink_out = _run_for(["sink", "--clickhouse", f"http://127.0.0.1:{free_port()}/slawatch"], sink_env, 8)
    assert "Sasl" in worker_out or "SASL" in worker_out or "bootstrap" in worker_out, worker_out[-2000:]
    assert "retrying" in sink_out, sink_out[-2000:]  # it did hit the error path
    for secret in SECRET_VALUES:
        assert secret not in worker_out and secret not in sink_out, secret


# ---------------------------------------------------------------------------- repository
_KEY = r"[\w.-]*(?:password|passwd|secret|api_?key|token)[\w.-]*"
SECRET_PATTERNS = [
    re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}\b"),
    # credentials inside a URL: scheme://user:password@host
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"']+:([^@\s/\"']{4,})@"),
    # a secret-named key given a quoted literal: password = "...", "token": '...'
    re.compile(rf"(?i)\b{_KEY}[\"']?\s*[:=]\s*[\"']([^\"'\s]{{6,}})[\"']"),
]
# In configuration files a value needs no quotes: KAFKA_PASSWORD=..., password: ...
CONFIG_PATTERN = re.compile(rf"(?i)^\s*-?\s*{_KEY}\s*[:=]\s*[\"']?([^\s\"'#]{{6,}})")
CONFIG_SUFFIXES = {".env", ".example", ".yml", ".yaml", ".ini", ".toml", ".cfg", ".conf", ".properties", ".xml"}
# Plainly not secrets: placeholders, interpolations, and made-up test values (which say "test").
PLACEHOLDER = re.compile(r"(?i)^(change-?me|\$|\{|<|\.\.\.|x{3,}|example|placeholder)|^(pass|password|secret|pw)$"
                         r"|test|dummy|fake|example")


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / p for p in out.decode().split("\0") if p]


def secrets_in(text: str, config: bool) -> list[str]:
    """Lines of `text` that look like they hold a real secret."""
    hits = []
    patterns = SECRET_PATTERNS + ([CONFIG_PATTERN] if config else [])
    for line in text.splitlines():
        for pattern in patterns:
            for m in pattern.finditer(line):
                if m.groups() and PLACEHOLDER.search(m.group(1)):
                    continue
                hits.append(line.strip()[:120])
    return hits


def test_no_secret_in_committed_files():
    problems = []
    for path in _tracked_files():
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        config = path.suffix in CONFIG_SUFFIXES or path.name.startswith(".env") or path.name == "Dockerfile"
        problems += [f"{path.relative_to(ROOT)}: {hit}" for hit in secrets_in(text, config)]
    assert not problems, "possible secrets in the repository:\n" + "\n".join(problems)


def test_secret_scan_finds_a_planted_secret():
    value = "Xq8vR2mZ7" + "tY"  # built at run time, so this file itself stays clean
    for line, config in [(f"KAFKA_PASSWORD={value}", True), (f"  password: {value}", True),
                         (f"url = 'https://admin:{value}@ch.internal:8443/db'", False),
                         ("-----BEGIN " + "PRIVATE KEY-----", False), (f'api_key = "{value}"', False),
                         (f'{{"token": "{value}"}}', False)]:
        assert secrets_in(line, config), line
    for line, config in [("CLICKHOUSE_WRITER_PASSWORD=change-me", True),
                         ("GF_CLICKHOUSE_PASSWORD: ${CLICKHOUSE_GRAFANA_PASSWORD:?set it}", True),
                         ('<password from_env="CLICKHOUSE_GRAFANA_PASSWORD"/>', True),
                         ("token = Settings().api_token", False), ('TOKEN = "test-token-4f2a"', False)]:
        assert not secrets_in(line, config), line
