"""Apache Kafka as it is deployed with security on: a SASL_SSL listener with SCRAM-SHA-512, a
certificate signed by a CA the test makes, and a SCRAM user created when the storage is
formatted (``kafka-storage format --add-scram``).

The certificates come from the ``openssl`` command (Debian's, always on the machines that run
the tests; the ``cryptography`` package is not a dependency). The broker reads them as PEM files
(``ssl.keystore.type=PEM``), so no Java keystore and no ``keytool``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.kafka_broker import KafkaNode, new_cluster_id
from tests.servers import free_port

SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Certificates:
    """``ca``: the CA certificate clients trust; ``keystore``: the broker's key and certificate
    (one PEM file, as Kafka's PEM keystore wants)."""

    ca: Path
    keystore: Path


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr}")


def make_ca(directory: Path, name: str = "ccpulse test CA") -> tuple[Path, Path]:
    """A self-signed CA: (certificate, private key)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "ca.crt", directory / "ca.key"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def make_certificates(directory: Path, host: str = "127.0.0.1") -> Certificates:
    """A CA and a broker certificate it signs for ``host`` (an IP SAN: clients check it)."""
    ca_cert, ca_key = make_ca(directory)
    key, request, cert = (directory / f"broker.{ext}" for ext in ("key", "csr", "crt"))
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}",
        "-keyout", str(key), "-out", str(request),
    )  # fmt: skip
    extensions = directory / "broker.ext"
    extensions.write_text(
        f"subjectAltName=IP:{host},DNS:localhost\n"
        "extendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    # Kafka's PEM keystore: an unencrypted PKCS#8 key followed by the certificate chain.
    keystore = directory / "broker-keystore.pem"
    keystore.write_text(key.read_text() + cert.read_text() + ca_cert.read_text())
    return Certificates(ca=ca_cert, keystore=keystore)


class SaslSslKafka(KafkaNode):
    """One KRaft node with a SASL_SSL listener (SCRAM-SHA-512) for the clients under test.

    Its first listener stays PLAINTEXT: the brokers' own listener and the one the start-up wait
    asks (streams.broker.embedded.BrokerProcess); nothing under test uses it. ``sasl_bootstrap`` is the
    SASL_SSL listener, the only address ccpulse is given.
    """

    def __init__(self, workdir: Path, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.certificates = make_certificates(workdir / "tls")
        listeners = {"PLAINTEXT": free_port(), "SASL_SSL": free_port(), "CONTROLLER": free_port()}
        jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        settings = {
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": jaas,
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(self.certificates.keystore),
        }
        super().__init__(
            workdir, cluster_id=new_cluster_id(), listeners=listeners, settings=settings
        )

    @property
    def sasl_bootstrap(self) -> str:
        return f"{self.host}:{self.listeners['SASL_SSL']}"

    def _java(self, main: str, *args: str) -> list[str]:
        # The SCRAM user is written into the metadata log when the storage is formatted, so it
        # exists before the broker's first client connects.
        if main == "kafka.tools.StorageTool":
            user = f"{SCRAM_MECHANISM}=[name={self.username},password={self.password}]"
            args = (*args, "--add-scram", user)
        return super()._java(main, *args)
