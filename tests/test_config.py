"""The configuration file: defaults work, mistakes name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config import Config, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ccpulse.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_working_defaults() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.kafka.bootstrap == "127.0.0.1:9092"
    assert config.engine.windows == ["5m", "15m", "1h", "today"]
    assert config.engine.for_queue("anything").sl_threshold_seconds == 20.0


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == Config()


def test_values_and_patterns_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
engine:
  defaults:
    sl_threshold_seconds: 30
  queues:
    "sales-*":
      sl_variant: answered
      timezone: America/New_York
""",
    )
    engine = load_config(path).engine
    assert engine.for_queue("billing").sl_threshold_seconds == 30
    assert engine.for_queue("sales-emea").sl_variant == "answered"
    assert engine.for_queue("sales-emea").timezone == "America/New_York"


def test_wrong_type_names_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """kafka:
  bootstrap: broker:9092
engine:
  defaults:
    sl_threshold_seconds: twenty
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert error.line == 5
    assert error.path == "engine.defaults.sl_threshold_seconds"
    assert str(error).startswith(
        f"{path}:5: engine.defaults.sl_threshold_seconds: Expected `float`"
    )


def test_unknown_key_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "worker:\n  web_port: 6066\n  webport: 7000\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 3
    assert info.value.path == "worker.webport"
    assert "unknown field" in info.value.reason


def test_bad_enum_in_a_queue_override(tmp_path: Path) -> None:
    path = write(tmp_path, "engine:\n  queues:\n    billing:\n      sl_variant: fast\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 4
    assert info.value.path == "engine.queues.billing.sl_variant"


def test_callback_and_flow_out_choices_default_and_are_checked(tmp_path: Path) -> None:
    defaults = load_config(None).engine
    assert defaults.for_queue("q").sl_callbacks == "excluded"
    assert defaults.for_queue("q").sl_flow_outs == "excluded"
    assert defaults.max_open_callback_seconds == 48 * 3600
    path = write(
        tmp_path,
        "engine:\n  max_open_callback_seconds: 600\n  queues:\n    sales-*:\n"
        "      sl_callbacks: against\n",
    )
    engine = load_config(path).engine
    assert engine.for_queue("sales-emea").sl_callbacks == "against"
    assert engine.for_queue("sales-emea").sl_flow_outs == "excluded"
    assert engine.max_open_callback_seconds == 600
    path = write(tmp_path, "engine:\n  queues:\n    billing:\n\n      sl_flow_outs: ignored\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.line, info.value.path) == (5, "engine.queues.billing.sl_flow_outs")
    assert str(path) in str(info.value)


CALENDARS = """engine:
  calendars:
    office:
      timezone: Europe/Berlin
      hours:
        mon: ["09:00-12:00", "13:00-17:00"]
        sat: ["10:00-14:00"]
      holidays: ["2026-12-25"]
  queues:
    support-*:
      calendar: office
      paused_statuses: [pending, hold]
      sla_warning_ratio: 0.75
"""


def test_calendars_are_read_and_assigned_by_pattern(tmp_path: Path) -> None:
    engine = load_config(write(tmp_path, CALENDARS)).engine
    assert engine.calendars["office"].hours["sat"] == ["10:00-14:00"]
    support = engine.for_queue("support-de")
    assert (support.calendar, support.paused_statuses, support.sla_warning_ratio) == (
        "office",
        ["pending", "hold"],
        0.75,
    )
    defaults = load_config(None).engine.for_queue("x")
    assert (defaults.calendar, defaults.paused_statuses, defaults.sla_warning_ratio) == (
        None,
        ["pending"],
        0.8,
    )


@pytest.mark.parametrize(
    ("change", "line", "path"),
    [
        (("09:00-12:00", "9-12"), 6, "engine.calendars.office.hours.mon[0]"),
        (("13:00-17:00", "17:00-13:00"), 6, "engine.calendars.office.hours.mon[1]"),
        (("Europe/Berlin", "Europe/Atlantis"), 4, "engine.calendars.office.timezone"),
        (("2026-12-25", "2026-13-45"), 8, "engine.calendars.office.holidays[0]"),
        (("calendar: office", "calendar: shop"), 11, "engine.queues.support-*.calendar"),
        (("sla_warning_ratio: 0.75", "sla_warning_ratio: 1.5"), 13, None),
    ],
)
def test_a_bad_calendar_names_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], line: int, path: str | None
) -> None:
    config = write(tmp_path, CALENDARS.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert info.value.line == line, str(info.value)
    assert info.value.path == (path or "engine.queues.support-*.sla_warning_ratio")
    assert str(config) in str(info.value)


def test_unknown_time_zone_and_bad_window(tmp_path: Path) -> None:
    path = write(tmp_path, "engine:\n  defaults:\n    timezone: Mars/Olympus\n")
    with pytest.raises(ConfigError, match=r":3: engine.defaults.timezone: unknown time zone"):
        load_config(path)
    path = write(tmp_path, "engine:\n  windows:\n    - 5m\n    - fortnight\n")
    with pytest.raises(ConfigError, match=r":4: engine.windows\[1\]: not a window"):
        load_config(path)


def test_a_batch_wait_as_long_as_the_stall_wait_is_refused(tmp_path: Path) -> None:
    """Held that long, every batch would be read again straight from Kafka by the stall
    reader: refused with the file, the line and the field; shorter, or with the stall wait
    raised beyond it, it loads."""
    path = write(tmp_path, "worker:\n  app_id: x\n  batch_within_seconds: 5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.line, info.value.path) == (3, "worker.batch_within_seconds")
    assert "stalled_partition_seconds (5 s)" in info.value.reason
    assert str(path) in str(info.value)
    path = write(tmp_path, "worker:\n  batch_within_seconds: 4.9\n")
    assert load_config(path).worker.batch_within_seconds == 4.9
    path = write(tmp_path, "worker:\n  batch_within_seconds: 10\n  stalled_partition_seconds: 30\n")
    assert load_config(path).worker.stalled_partition_seconds == 30.0


def test_invalid_yaml_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  bootstrap: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line is not None and info.value.line >= 2
    assert "not valid YAML" in info.value.reason


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCPULSE_TEST_SECRET", "s3cret")
    path = write(tmp_path, "kafka:\n  password: ${CCPULSE_TEST_SECRET}\n")
    assert load_config(path).kafka.password == "s3cret"


def test_an_unset_variable_names_the_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCPULSE_TEST_UNSET", raising=False)
    path = write(tmp_path, "worker:\n  app_id: x\nkafka:\n  password: ${CCPULSE_TEST_UNSET}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.source, info.value.line) == (str(path), 4)
    assert info.value.path == "kafka.password"
    assert "CCPULSE_TEST_UNSET is not set" in info.value.reason


def test_an_unset_variable_in_a_list_names_its_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCPULSE_TEST_UNSET", raising=False)
    text = "alerts:\n  disable:\n    - a\n    - ${CCPULSE_TEST_UNSET}\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert (info.value.line, info.value.path) == (4, "alerts.disable[1]")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_service_level_thresholds_per_channel_are_read_and_checked(tmp_path: Path) -> None:
    assert load_config(None).engine.for_queue("q").sl_threshold("chat") == 20.0
    path = write(
        tmp_path,
        "engine:\n  queues:\n    support:\n      sl_threshold_seconds: 15\n"
        "      sl_threshold_by_channel:\n        chat: 60\n        email: 3600\n",
    )
    support = load_config(path).engine.for_queue("support")
    assert (support.sl_threshold("voice"), support.sl_threshold("sms")) == (15.0, 15.0)
    assert (support.sl_threshold("chat"), support.sl_threshold("email")) == (60.0, 3600.0)
    for body, line in (
        ("        Chat: 60\n", 6),  # a channel is lower-case: it becomes a label value
        ("        chat: 0\n", 6),  # a threshold is positive
        ("        chat: soon\n", 6),
    ):
        path = write(
            tmp_path, "engine:\n  queues:\n    support:\n\n      sl_threshold_by_channel:\n" + body
        )
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert info.value.line == line, str(info.value)
        assert info.value.path is not None and info.value.path.startswith(
            "engine.queues.support.sl_threshold_by_channel"
        ), info.value.path
        assert str(path) in str(info.value)
