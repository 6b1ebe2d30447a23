"""The ``access:`` rules (streams/views/access.py) without a server: grants, refusals, the
default without tokens, and the config's validation."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from streams.config import AccessConfig, AccessToken, ConfigError, load_config
from streams.views.access import COOKIE, Access

A = "team-a-token-0123456789"
OPS = "ops-token-0123456789abc"


def access() -> Access:
    return Access(
        AccessConfig(
            tokens=[
                AccessToken(name="team-a", token=A, queues=["sales-*"], actions=["read", "ack"]),
                AccessToken(name="ops", token=OPS, actions=["admin"]),
            ],
            metrics_token="metrics-token-0123456789",
        )
    )


def request(header: str | None = None, cookie: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        headers={"Authorization": header} if header else {},
        cookies={COOKIE: cookie} if cookie else {},
        path="/api/kpis",
        remote="127.0.0.1",
    )


def test_a_token_reads_and_acks_its_own_queues_only() -> None:
    grant = access().grant(request(f"Bearer {A}"))
    assert grant is not None and grant.name == "team-a"
    assert grant.readable(["sales-1", "billing", "sales-2"]) == ["sales-1", "sales-2"]
    assert grant.may("ack", "sales-1") and not grant.may("ack", "billing")
    assert not grant.may("silence", "sales-1")
    # A silence pattern: its own pattern, or a name it matches; never a wider one.
    assert not grant.may("silence", "*")
    ops = access().grant(request(cookie=OPS))
    assert ops is not None and ops.may("silence", "*") and ops.may("read", "billing")


def test_a_silence_pattern_wider_than_the_grant_is_refused() -> None:
    """fnmatch of one pattern against another is not containment: ``client*-*`` matches the
    string ``client?-*`` yet silences ``clientXYZ-q``, which the grant cannot read."""
    grant = Access(
        AccessConfig(
            tokens=[
                AccessToken(name="b", token=A, queues=["client?-*"], actions=["read", "silence"])
            ]
        )
    ).grant(request(f"Bearer {A}"))
    assert grant is not None and not grant.may("read", "clientXYZ-q")
    assert not grant.may("silence", "client*-*")
    assert not grant.may("silence", "client[A-Z]-*")
    assert grant.may("silence", "client?-*") and grant.may("silence", "clientA-sales")


def test_wrong_missing_or_prefix_tokens_are_refused() -> None:
    rules = access()
    for header in (None, "Bearer ", f"Bearer {A[:-1]}", f"Bearer {A}x", f"Basic {A}", A):
        assert rules.grant(request(header)) is None, header


def test_without_tokens_everyone_reads_everything() -> None:
    rules = Access(AccessConfig())
    assert not rules.enabled
    grant = rules.grant(request())
    assert grant is not None and grant.readable(["a", "b"]) == ["a", "b"]
    assert not grant.may("ack", "a")  # ack and silence: worker.api_token, as before
    assert rules.metrics_allowed(request())


def test_metrics_has_its_own_token() -> None:
    rules = access()
    assert not rules.metrics_allowed(request())
    assert not rules.metrics_allowed(request(f"Bearer {A}"))
    assert rules.metrics_allowed(request("Bearer metrics-token-0123456789"))


def test_a_refusal_is_logged_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    view = SimpleNamespace(json=lambda body, status, headers: (status, body, headers))
    with caplog.at_level(logging.WARNING, logger="ccpulse.access"):
        status, _body, headers = access().refused(view, request(f"Bearer {A}x"), "wrong token")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert "request refused" in caplog.text and A not in caplog.text


def test_config_reads_tokens_from_the_environment_and_names_a_bad_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCPULSE_TEST_TOKEN", A)
    path = tmp_path / "ccpulse.yaml"
    path.write_text(
        "access:\n  tokens:\n    - name: a\n      token: ${CCPULSE_TEST_TOKEN}\n"
        "      queues: [sales-*]\n      actions: [read, fly]\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert ":6: access.tokens[0].actions[1]" in str(error.value)
    path.write_text(path.read_text().replace(", fly", ""))
    (token,) = load_config(path).access.tokens
    assert token.token == A and token.actions == ["read"]
