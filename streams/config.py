"""The one ccpulse configuration file: YAML, validated, with defaults that work out of the box.

``load_config(path)`` returns a :class:`Config`; any mistake raises :class:`ConfigError` naming the
file, the line and the field (``ccpulse.yaml:12: engine.defaults.sl_variant: Invalid enum value
'fast'``), so a bad file fails at start, never half-way through a shift. ``${NAME}`` in a string
value is replaced by the environment variable NAME, so secrets stay out of the file.

Sections: ``kafka`` (connection), ``topics``, ``worker`` and ``engine`` (windows, lateness,
per-queue KPI settings: processors.settings). A module that needs a section of its own adds its
typed struct as a field of :class:`Config`.

Here: the :class:`Config` and the loading; the sections' structs are in
streams/config_sections.py (re-exported here, as the types of Config's fields), the YAML reading
that finds a mistake's line in streams/config_yaml.py, the checks the types cannot express in
streams/config_checks.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import yaml
from msgspec import Struct, field

from processors.settings import EngineSettings
from streams.alerting.config import NotifyConfig
from streams.config_checks import validate_semantics
from streams.config_sections import (
    EMBEDDED_FETCH_WAIT_MS,
    KAFKA_FETCH_WAIT_MS,
    AccessConfig,
    AccessToken,
    AlertsConfig,
    KafkaConfig,
    MetricsConfig,
    PrivacyConfig,
    TopicsConfig,
    WorkerConfig,
)
from streams.config_yaml import (
    EntryError,
    check_mapping_entries,
    check_rule_entries,
    error_path,
    expand_env,
    join_path,
    line_of,
    split_path,
)
from streams.sources.settings import SourcesConfig

__all__ = [
    "EMBEDDED_FETCH_WAIT_MS",
    "KAFKA_FETCH_WAIT_MS",
    "AccessConfig",
    "AccessToken",
    "AlertsConfig",
    "Config",
    "ConfigError",
    "KafkaConfig",
    "MetricsConfig",
    "PrivacyConfig",
    "TopicsConfig",
    "WorkerConfig",
    "config_from_env",
    "load_config",
]


class Config(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    engine: EngineSettings = field(default_factory=EngineSettings)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    access: AccessConfig = field(default_factory=AccessConfig)


class ConfigError(ValueError):
    """A configuration mistake, with the file, line and field that caused it."""

    def __init__(self, source: str, line: int | None, path: str, reason: str) -> None:
        self.source, self.line, self.path, self.reason = source, line, path, reason
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {path or '(top level)'}: {reason}")


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the configuration; ``None`` gives the built-in defaults."""
    if path is None:
        return Config()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, None, "", f"cannot read: {exc.strerror}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            source, line, "", f"not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, 1, "", "the file must hold a mapping of sections")
    try:
        data = expand_env(data)
        check_mapping_entries(data)
        check_rule_entries(data)
        config = msgspec.convert(data, Config)
    except EntryError as exc:
        raise ConfigError(
            source, line_of(root, exc.parts), join_path(exc.parts), exc.reason
        ) from None
    except msgspec.ValidationError as exc:
        parts, reason = error_path(exc)
        raise ConfigError(source, line_of(root, parts), join_path(parts), reason) from None
    problem = validate_semantics(config) or config.notify.problem()
    if problem:
        dotted_path, reason = problem
        raise ConfigError(source, line_of(root, split_path("." + dotted_path)), dotted_path, reason)
    return config


def config_from_env(path: str | None = None) -> Config:
    """``path``, else ``$CCPULSE_CONFIG``, else the defaults."""
    return load_config(path or os.environ.get("CCPULSE_CONFIG") or None)
