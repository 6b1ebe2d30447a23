"""The ``notify`` section: receivers of each kind, routes, and mistakes named by file:line:field."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.alerting import (
    AlertmanagerReceiver,
    EmailReceiver,
    Notification,
    NotifyConfig,
    Route,
    SlackReceiver,
    WebhookReceiver,
)
from streams.config import ConfigError, load_config

FULL = """
notify:
  repeat_interval_seconds: 1800
  receivers:
    oncall:
      kind: webhook
      url: https://pager.example.com/hook
      headers: {Authorization: "Bearer ${CCPULSE_TEST_TOKEN}"}
      timeout_seconds: 5
      max_retries: 3
    team:
      kind: slack
      url: https://hooks.slack.com/services/T/B/X
    mail:
      kind: email
      host: smtp.example.com
      security: ssl
      port: 465
      username: ccpulse
      password: ${CCPULSE_TEST_SMTP}
      from: ccpulse@example.com
      to: [sup1@example.com, sup2@example.com]
    am:
      kind: alertmanager
      url: http://alertmanager:9093
  routes:
    - queues: ["billing*"]
      severities: [critical]
      receivers: [oncall, mail]
      continue: true
    - queues: ["billing*", "sales-*"]
      receivers: [team]
  default_receivers: [am]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ccpulse.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def alert(queue: str, severity: str = "warning", rule: str = "abandon_rate_high") -> Notification:
    return Notification(
        fingerprint=f"{rule}/{queue}",
        rule=rule,
        queue=queue,
        severity=severity,  # type: ignore[arg-type]
        status="firing",
        summary="s",
        starts_at=1_700_000_000.0,
    )


def test_defaults_have_no_receivers_so_alerts_are_only_logged() -> None:
    notify = load_config(None).notify
    assert notify == NotifyConfig()
    assert notify.receivers == {}
    assert notify.receivers_for(alert("billing", "critical")) == []


def test_every_receiver_kind_is_read_with_env_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCPULSE_TEST_TOKEN", "t0k")
    monkeypatch.setenv("CCPULSE_TEST_SMTP", "s3cret")
    notify = load_config(write(tmp_path, FULL)).notify
    oncall, team, mail, am = (notify.receivers[n] for n in ("oncall", "team", "mail", "am"))
    assert isinstance(oncall, WebhookReceiver)
    assert oncall.headers == {"Authorization": "Bearer t0k"}
    assert (oncall.timeout_seconds, oncall.max_retries) == (5, 3)
    assert isinstance(team, SlackReceiver)
    assert isinstance(mail, EmailReceiver)
    assert (mail.security, mail.port, mail.password, mail.from_) == (
        "ssl",
        465,
        "s3cret",
        "ccpulse@example.com",
    )
    assert mail.to == ["sup1@example.com", "sup2@example.com"]
    assert isinstance(am, AlertmanagerReceiver)
    assert am.resend_interval_seconds == 60
    assert notify.repeat_interval_seconds == 1800


def test_routes_first_match_wins_unless_continue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCPULSE_TEST_TOKEN", "t0k")
    monkeypatch.setenv("CCPULSE_TEST_SMTP", "s3cret")
    notify = load_config(write(tmp_path, FULL)).notify
    # critical billing: first route (continue) then the second one adds team
    assert notify.receivers_for(alert("billing-emea", "critical")) == ["oncall", "mail", "team"]
    # warning billing: first route does not match the severity
    assert notify.receivers_for(alert("billing-emea", "warning")) == ["team"]
    assert notify.receivers_for(alert("sales-us", "critical")) == ["team"]
    # nothing matches: the default receivers
    assert notify.receivers_for(alert("support", "critical")) == ["am"]


def test_route_matching_by_rule_pattern() -> None:
    notify = NotifyConfig(
        receivers={"a": WebhookReceiver(url="http://x"), "b": WebhookReceiver(url="http://y")},
        routes=[Route(rules=["asa_*"], receivers=["a"])],
        default_receivers=["b"],
    )
    assert notify.problem() is None
    assert notify.receivers_for(alert("q", rule="asa_high")) == ["a"]
    assert notify.receivers_for(alert("q", rule="abandon_rate_high")) == ["b"]


def test_route_to_unknown_receiver_fails_with_route_and_line(tmp_path: Path) -> None:
    text = """notify:
  receivers:
    team: {kind: slack, url: "https://hooks.example.com/x"}
  routes:
    - queues: ["*"]
      receivers: [team, pager]
"""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'ccpulse.yaml'}:6: notify.routes[0].receivers[1]:")
    assert "route 0 names unknown receiver 'pager'" in message
    assert "known: team" in message


def test_unknown_default_receiver_fails(tmp_path: Path) -> None:
    text = "notify:\n  default_receivers: [nobody]\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert ":2: notify.default_receivers[0]: unknown receiver 'nobody' (known: none)" in str(
        info.value
    )


def test_bad_receiver_kind_names_the_receiver(tmp_path: Path) -> None:
    text = """notify:
  receivers:
    pagerduty:
      kind: pager
      url: https://x
"""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert ":4: notify.receivers.pagerduty.kind: Invalid value 'pager'" in str(info.value)


def test_missing_email_field_names_the_receiver(tmp_path: Path) -> None:
    text = """notify:
  receivers:
    mail:
      kind: email
      host: smtp.example.com
      from: a@example.com
"""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert ":3: notify.receivers.mail: Object missing required field `to`" in str(info.value)


def test_non_http_url_is_refused(tmp_path: Path) -> None:
    text = """notify:
  receivers:
    hook:
      kind: webhook
      url: pager.example.com/hook
"""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert ":5: notify.receivers.hook.url: must be an http(s) URL" in str(info.value)


def test_unknown_field_in_route_is_refused(tmp_path: Path) -> None:
    text = """notify:
  routes:
    - receivers: []
      queue: billing
"""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert ":4: notify.routes[0].queue: Object contains unknown field `queue`" in str(info.value)
