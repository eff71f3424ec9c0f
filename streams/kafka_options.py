"""aiokafka connection options (TLS, SASL) from `Settings`.

One mapping, used through `Settings.kafka_credentials()` by every Kafka client slawatch
constructs (the worker's consumer, producer, admin client and changelog reader, the generator's
producer, the ClickHouse sink's consumer), so TLS and SASL cannot be configured for one client
and forgotten for another. The SASL password leaves its `SecretStr` only here, on the way into
the client.
"""
from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["kafka_client_kwargs", "kafka_ssl_context"]


def kafka_ssl_context(settings: "Settings") -> ssl.SSLContext:
    """The TLS context for SSL / SASL_SSL: system CAs unless `ssl_cafile`, optional client
    certificate (mutual TLS), hostname checked unless explicitly switched off."""
    ctx = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    if settings.ssl_certfile:
        password = settings.ssl_key_password.get_secret_value() if settings.ssl_key_password else None
        ctx.load_cert_chain(str(settings.ssl_certfile),
                            str(settings.ssl_keyfile) if settings.ssl_keyfile else None, password)
    if not settings.ssl_check_hostname:
        ctx.check_hostname = False
    return ctx


def kafka_client_kwargs(settings: "Settings") -> dict[str, Any]:
    """aiokafka keyword arguments for the configured security (any client class)."""
    kw: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if settings.security_protocol.startswith("SASL_"):
        kw["sasl_mechanism"] = settings.sasl_mechanism
        kw["sasl_plain_username"] = settings.sasl_username
        kw["sasl_plain_password"] = (settings.sasl_password.get_secret_value()
                                     if settings.sasl_password else None)
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        kw["ssl_context"] = kafka_ssl_context(settings)
    return kw

