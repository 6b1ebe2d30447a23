"""One Kafka connection description -> the arguments each client library wants.

kafka-python (simulator, adapters, admin) and Faust (aiokafka underneath) spell the same TLS and
SASL settings differently; translating in one place keeps the YAML file the single source.
"""

from __future__ import annotations

import ssl
from typing import Any

from streams.config import KafkaConfig

__all__ = ["aiokafka_kwargs", "faust_broker_settings", "kafka_python_kwargs"]


def _common_kwargs(kafka: KafkaConfig) -> dict[str, Any]:
    """Servers, protocol and SASL: spelled the same by kafka-python and aiokafka."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap.split(","),
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism or "PLAIN"
        kwargs["sasl_plain_username"] = kafka.username
        kwargs["sasl_plain_password"] = kafka.password
    return kwargs


def kafka_python_kwargs(kafka: KafkaConfig) -> dict[str, Any]:
    """Keyword arguments for KafkaProducer / KafkaConsumer / KafkaAdminClient."""
    kwargs = _common_kwargs(kafka)
    if kafka.security_protocol.endswith("SSL"):
        for name in ("cafile", "certfile", "keyfile"):
            value = getattr(kafka, f"ssl_{name}")
            if value:
                kwargs[f"ssl_{name}"] = value
    return kwargs


def _ssl_context(kafka: KafkaConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=kafka.ssl_cafile)
    if kafka.ssl_certfile:
        context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile)
    return context


def aiokafka_kwargs(kafka: KafkaConfig) -> dict[str, Any]:
    """Keyword arguments for a standalone aiokafka client (the gap reader,
    streams/worker/gap_fill.py)."""
    kwargs = _common_kwargs(kafka)
    if kafka.security_protocol.endswith("SSL"):
        kwargs["ssl_context"] = _ssl_context(kafka)
    return kwargs


def faust_broker_settings(kafka: KafkaConfig) -> dict[str, Any]:
    """``broker`` and ``broker_credentials`` for ``faust.App``."""
    import faust

    servers = ";".join(f"kafka://{server.strip()}" for server in kafka.bootstrap.split(","))
    settings: dict[str, Any] = {"broker": servers}
    protocol = kafka.security_protocol
    if protocol.startswith("SASL"):
        settings["broker_credentials"] = faust.SASLCredentials(
            username=kafka.username,
            password=kafka.password,
            mechanism=kafka.sasl_mechanism or "PLAIN",
            ssl_context=_ssl_context(kafka) if protocol == "SASL_SSL" else None,
        )
    elif protocol == "SSL":
        settings["broker_credentials"] = faust.SSLCredentials(_ssl_context(kafka))
    return settings
