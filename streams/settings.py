"""Runtime configuration from the environment (prefix SLAWATCH_) or a .env file.

Every setting a user may change for the live pipeline is here, validated at start-up. Kafka
security options map onto aiokafka's own names (see `kafka_credentials`); secrets are
SecretStr so they never appear in logs or reprs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "rules" / "sla.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLAWATCH_", env_file=".env", extra="ignore")

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
    ssl_cafile: Path | None = None
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

    # Observability
    http_host: str = "127.0.0.1"
    http_port: int = Field(9108, ge=0, le=65535)
    sink_http_port: int = Field(9109, ge=0, le=65535, description="`slawatch sink` /metrics and /query (0: off)")
    api_token: SecretStr | None = Field(None, description="bearer token for HTTP endpoints that return history (/query); unset: they are off")
    # Live QA sampling (run by `slawatch sink`: streams/qa_live.py, sinks/qa_stage.py)
    qa_enabled: bool = Field(True, description="draw the daily QA sample live in `slawatch sink`")
    qa_rules: Path = DEFAULT_RULES.parent / "qa.yaml"
    qa_tz: str = Field("Asia/Shanghai", description="time zone of the QA day")
    qa_close_after_s: float = Field(3600.0, ge=0, description="grace after local midnight before a day is drawn")
    qa_retention_s: float = Field(7 * 86400.0, gt=0, description="entities silent this long are dropped by the QA stage")


    @property
    def lateness_us(self) -> int:
        return int(self.allowed_lateness_s * 1_000_000)

    def bootstrap_servers(self) -> list[str]:
        return [s.strip().removeprefix("kafka://") for s in self.broker_url.split(",") if s.strip()]

    def kafka_credentials(self) -> dict:
        """aiokafka keyword arguments for the configured security; empty for PLAINTEXT."""
        kw: dict = {"security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            kw["sasl_mechanism"] = self.sasl_mechanism
            kw["sasl_plain_username"] = self.sasl_username
            kw["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        if self.security_protocol in ("SSL", "SASL_SSL"):
            import ssl
            kw["ssl_context"] = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        return kw
