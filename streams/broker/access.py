"""Fail at once, naming the cause, when Kafka says no to ccpulse's credentials or TLS settings.

Neither client library does this by itself: kafka-python logs the broker's answer and keeps
retrying its bootstrap until its own timeout (30 s, then "Unable to bootstrap"), and aiokafka
(Faust's worker) logs it and raises a bare "Unable to bootstrap" error. A wrong password or a
CA that does not sign the broker's certificate never fixes itself, so every command that
connects (``topics``, ``worker``, ``simulate``, ``ingest``) first makes one connection with
login to a bootstrap server and stops with :class:`KafkaAccessError` when the broker refused
it. A broker that does not answer at all is not such a case (it may be starting): the check
lets the command go on, and the client's own retries and timeouts apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import msgspec

from streams.broker.settings import aiokafka_kwargs, kafka_python_kwargs
from streams.config import KafkaConfig

__all__ = ["KafkaAccessError", "check_access", "checked_kafka_python_client"]

CHECK_TIMEOUT_SECONDS = 15.0
"""How long one bootstrap server may take to connect, handshake and log in during the check."""


class KafkaAccessError(Exception):
    """The broker answered and refused: retrying cannot help (a wrong user or password, a
    mechanism the listener does not enable, a certificate the configured CA does not trust,
    TLS against a listener that does not speak it)."""


def check_access(kafka: KafkaConfig, timeout: float = CHECK_TIMEOUT_SECONDS) -> None:
    """One connection, TLS handshake and SASL login to the first bootstrap server that answers,
    with the settings the clients get; :class:`KafkaAccessError` if the broker refused them.
    Plaintext without SASL has nothing to refuse: no connection is made."""
    if kafka.security_protocol == "PLAINTEXT":
        return
    try:
        client = aiokafka_kwargs(kafka)
    except OSError as error:  # the CA, certificate or key file cannot be read (ssl names none)
        files = ", ".join(
            f"kafka.ssl_{name} {path}"
            for name in ("cafile", "certfile", "keyfile")
            if (path := getattr(kafka, f"ssl_{name}"))
        )
        raise KafkaAccessError(f"cannot load {files}: {error}") from error
    servers = client.pop("bootstrap_servers")
    # A loop of its own, never set as the thread's current one: the worker's Faust loop and
    # the webhook server's come later and must find nothing left behind.
    loop = asyncio.new_event_loop()
    try:
        for server in servers:
            if loop.run_until_complete(_login(kafka, server.strip(), client, timeout)):
                return
    finally:
        loop.close()


def checked_kafka_python_client(
    kafka: KafkaConfig, bootstrap: str | None = None
) -> tuple[str, dict[str, Any]]:
    """(bootstrap, keyword arguments) for a kafka-python client, once :func:`check_access`
    passed; ``bootstrap`` (a command's ``--bootstrap``) replaces ``kafka.bootstrap``."""
    if bootstrap:
        kafka = msgspec.structs.replace(kafka, bootstrap=bootstrap)
    check_access(kafka)
    client = kafka_python_kwargs(kafka)
    return ",".join(client.pop("bootstrap_servers")), client


async def _login(kafka: KafkaConfig, server: str, client: dict[str, Any], timeout: float) -> bool:
    """True once ``server`` accepted a connection with login; False if it did not answer."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import (
        IllegalSaslStateError,
        KafkaError,
        SaslAuthenticationFailed,
        UnsupportedSaslMechanismError,
    )

    host, _, port = server.rpartition(":")
    try:
        connection = await asyncio.wait_for(
            create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **client),
            timeout,
        )
    except SaslAuthenticationFailed as error:
        raise KafkaAccessError(
            f"Kafka at {server} refused the {kafka.sasl_mechanism or 'PLAIN'} login of user "
            f"{kafka.username!r}: {error.args[0] if error.args else error}. "
            "Check kafka.username and kafka.password."
        ) from error
    except (UnsupportedSaslMechanismError, IllegalSaslStateError) as error:
        raise KafkaAccessError(
            f"Kafka at {server} does not accept kafka.sasl_mechanism "
            f"{kafka.sasl_mechanism or 'PLAIN'} on this listener: {error}"
        ) from error
    except ssl.SSLCertVerificationError as error:
        trusted = (
            f"kafka.ssl_cafile {kafka.ssl_cafile}"
            if kafka.ssl_cafile
            else "the system's CA certificates: kafka.ssl_cafile is not set"
        )
        raise KafkaAccessError(
            f"the certificate of Kafka at {server} is not trusted: {error.verify_message} "
            f"(checked against {trusted})"
        ) from error
    except ssl.SSLError as error:
        raise KafkaAccessError(
            f"TLS handshake with Kafka at {server} failed: {error.reason or error}. "
            f"Does this listener speak kafka.security_protocol {kafka.security_protocol}?"
        ) from error
    except (TimeoutError, OSError, KafkaError):
        return False  # not answering, or closed on us: the clients' own retries apply
    with contextlib.suppress(Exception):
        connection.close()
    return True
