"""streams/broker/settings.py: one connection description, each client's spelling."""

from __future__ import annotations

import ssl

from streams.broker.settings import aiokafka_kwargs, kafka_python_kwargs
from streams.config import KafkaConfig


def test_plaintext_is_servers_and_protocol_only() -> None:
    kafka = KafkaConfig(bootstrap="a:9092,b:9092")
    expected = {"bootstrap_servers": ["a:9092", "b:9092"], "security_protocol": "PLAINTEXT"}
    assert kafka_python_kwargs(kafka) == expected
    assert aiokafka_kwargs(kafka) == expected


def test_sasl_ssl_gives_credentials_to_both_and_tls_in_each_clients_form() -> None:
    kafka = KafkaConfig(
        bootstrap="k:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username="ccpulse",
        password="secret",
    )
    sasl = {
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ccpulse",
        "sasl_plain_password": "secret",
    }
    python_kwargs = kafka_python_kwargs(kafka)
    aio_kwargs = aiokafka_kwargs(kafka)
    assert sasl.items() <= python_kwargs.items() and sasl.items() <= aio_kwargs.items()
    assert isinstance(aio_kwargs["ssl_context"], ssl.SSLContext)
    assert "ssl_context" not in python_kwargs  # kafka-python takes file paths (none given)
