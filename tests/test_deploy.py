"""What can be validated offline about the deployment files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.servers import require_binary

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_prometheus_config_passes_promtool() -> None:
    promtool = require_binary("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
