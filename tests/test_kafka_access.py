"""streams/broker/access.py without a broker: what it does when there is nothing to refuse.
(A broker that refuses is tests/test_kafka_sasl.py, on Apache Kafka.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.broker.access import KafkaAccessError, check_access, checked_kafka_python_client
from streams.config import KafkaConfig
from tests.servers import free_port


def test_a_broker_that_does_not_answer_is_left_to_the_clients_retries() -> None:
    """Nothing listens there: maybe a broker still starting, not a refusal."""
    kafka = KafkaConfig(
        bootstrap=f"127.0.0.1:{free_port()}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        username="u",
        password="p",
    )
    check_access(kafka, timeout=5)


def test_a_ca_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.crt"
    kafka = KafkaConfig(bootstrap="127.0.0.1:1", security_protocol="SSL", ssl_cafile=str(missing))
    with pytest.raises(
        KafkaAccessError, match=r"cannot load kafka\.ssl_cafile .*no-such-ca\.crt: "
    ):
        check_access(kafka)


def test_the_command_line_bootstrap_replaces_the_configs_and_plaintext_is_not_checked() -> None:
    bootstrap, client = checked_kafka_python_client(KafkaConfig(bootstrap="a:1"), "b:2,c:3")
    assert (bootstrap, client) == ("b:2,c:3", {"security_protocol": "PLAINTEXT"})
