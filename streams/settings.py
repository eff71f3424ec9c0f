"""Runtime configuration from the environment (prefix SLAWATCH_) or a .env file.

Every setting a user may change for the live pipeline is here, validated at start-up. Kafka
security options map onto aiokafka's own names (`kafka_credentials`, streams/kafka_options.py),
ClickHouse ones onto clickhouse-connect's (`clickhouse_client_kwargs`); secrets are SecretStr
so they never appear in logs, reprs or dumps (docs/security.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "rules" / "sla.yaml"


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error would otherwise print every input, passwords too.
    model_config = SettingsConfigDict(env_prefix="SLAWATCH_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    # Kafka
    broker_url: str = Field("127.0.0.1:9092", description="host:port[,host:port] of the Kafka bootstrap servers")
    app_id: str = "slawatch"
    conversations_topic: str = "support.conversations"
    tickets_topic: str = "support.tickets"
    dead_letter_topic: str = "support.dead-letter"
    sla_events_topic: str = "sla.events"
    metrics_topic: str = "sla.metric-windows"
    partitions: int = Field(4, ge=1, description="partitions of the input topics and state table")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) for the brokers' certificates; default: the system's")
    ssl_certfile: Path | None = Field(None, description="client certificate (PEM) for mutual TLS")
    ssl_keyfile: Path | None = Field(None, description="its private key, unless inside ssl_certfile")
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    embedded: bool = Field(False, description="the broker is the embedded tansu (enables its client shim)")
    broker_session_timeout_s: float = Field(10.0, gt=0, description="consumer group session timeout")

    # SLA semantics
    rules: Path = DEFAULT_RULES
    allowed_lateness_s: float = Field(10.0, ge=0)
    future_skew_s: float = Field(300.0, ge=0, description="events further ahead of the wall clock go to the dead-letter topic")
    idle_after_s: float = Field(1.0, gt=0, description="input silence after which the clock follows wall time")
    ended_retention_s: float = Field(24 * 3600.0, ge=0, description="how long ended conversations are kept for late events")

    # Processing
    batch_max: int = Field(2000, ge=1)
    batch_within_s: float = Field(0.05, gt=0)
    tick_interval_s: float = Field(0.2, gt=0)

    # Live QA sampling (run by `slawatch sink`: streams/qa_live.py, sinks/qa_stage.py)
    qa_enabled: bool = Field(True, description="draw the daily QA sample live in `slawatch sink`")
    qa_rules: Path = DEFAULT_RULES.parent / "qa.yaml"
    qa_tz: str = Field("Asia/Shanghai", description="time zone of the QA day")
    qa_close_after_s: float = Field(3600.0, ge=0, description="grace after local midnight before a day is drawn")
    qa_retention_s: float = Field(7 * 86400.0, gt=0, description="entities silent this long are dropped by the QA stage")

    # Observability
    http_host: str = "127.0.0.1"
    http_port: int = Field(9108, ge=0, le=65535)
    sink_http_port: int = Field(9109, ge=0, le=65535, description="`slawatch sink` /metrics and /query (0: off)")
    api_token: SecretStr | None = Field(None, description="bearer token for HTTP endpoints that return history (/query); unset: they are off")

    # ClickHouse server (not used for chdb://). The DSN may carry user:password, hence secret;
    # prefer the separate user and password variables.
    clickhouse_dsn: SecretStr | None = Field(None, description="history DSN: chdb:///dir or http(s)://host:8123/db (`slawatch sink`, `query`, `qa`)")
    clickhouse_user: str | None = None
    clickhouse_password: SecretStr | None = None
    clickhouse_secure: bool = Field(False, description="TLS to the server (also implied by an https:// DSN)")
    clickhouse_ca_cert: Path | None = Field(None, description="CA (PEM) for the server's certificate; default: the system's")
    clickhouse_verify: bool = True
    clickhouse_client_cert: Path | None = None
    clickhouse_client_key: Path | None = None

    @model_validator(mode="after")
    def _security_is_complete(self) -> "Settings":
        # A half-configured SASL setup would otherwise surface as an opaque broker error.
        if self.security_protocol.startswith("SASL_"):
            missing = [name for name in ("sasl_mechanism", "sasl_username", "sasl_password")
                       if getattr(self, name) in (None, "")]
            if missing:
                raise ValueError(f"security_protocol={self.security_protocol} needs "
                                 + ", ".join(f"SLAWATCH_{m.upper()}" for m in missing))
        elif self.sasl_mechanism:
            raise ValueError(f"SLAWATCH_SASL_MECHANISM is set but SLAWATCH_SECURITY_PROTOCOL is "
                             f"{self.security_protocol}: use SASL_SSL (or SASL_PLAINTEXT)")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("SLAWATCH_SSL_KEYFILE needs SLAWATCH_SSL_CERTFILE")
        if self.clickhouse_client_key and not self.clickhouse_client_cert:
            raise ValueError("SLAWATCH_CLICKHOUSE_CLIENT_KEY needs SLAWATCH_CLICKHOUSE_CLIENT_CERT")
        return self

    @property
    def lateness_us(self) -> int:
        return int(self.allowed_lateness_s * 1_000_000)

    def bootstrap_servers(self) -> list[str]:
        return [s.strip().removeprefix("kafka://") for s in self.broker_url.split(",") if s.strip()]

    def kafka_credentials(self) -> dict:
        """aiokafka keyword arguments for the configured TLS/SASL (every Kafka client uses them)."""
        from .kafka_options import kafka_client_kwargs

        return kafka_client_kwargs(self)

    def clickhouse_client_kwargs(self, dsn: str | None = None) -> dict:
        """clickhouse-connect `get_client` keyword arguments for a ClickHouse server at `dsn`.

        Only what is configured: a DSN's own `user:password@` still applies when the variables
        are unset; when set, they win (clickhouse-connect prefers explicit arguments).
        """
        kw: dict = {}
        # clickhouse-connect 1.12 ignores the DSN's scheme: https://host:8123 would go out as
        # plain HTTP, password included. The scheme asks for TLS, so TLS it is.
        if dsn and dsn.lower().startswith("https://"):
            kw["secure"] = True
        if self.clickhouse_user:
            kw["username"] = self.clickhouse_user
        if self.clickhouse_password is not None:
            kw["password"] = self.clickhouse_password.get_secret_value()
        if self.clickhouse_secure:
            kw["secure"] = True
        if self.clickhouse_ca_cert:
            kw["ca_cert"] = str(self.clickhouse_ca_cert)
        if not self.clickhouse_verify:
            kw["verify"] = False
        if self.clickhouse_client_cert:
            kw["client_cert"] = str(self.clickhouse_client_cert)
        if self.clickhouse_client_key:
            kw["client_cert_key"] = str(self.clickhouse_client_key)
        return kw
