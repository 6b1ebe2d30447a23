"""processors/ compiled with mypyc (mk/native_build.py) and pure: the same KPIs either way.

This process runs the compiled modules when ``make install`` built them (the KPI tests here
exercise them); the pure ones are run by the KPI tests again in a subprocess with
``CCPULSE_PURE=1``. A build of other sources than those beside it is never used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import processors
import processors.engine

ROOT = Path(__file__).resolve().parent.parent
NATIVE_DIR = ROOT / "processors" / "_native"
KPI_TESTS = ["tests/test_kpi_golden.py", "tests/test_kpi_properties.py"]
_built = pytest.mark.skipif(
    not (NATIVE_DIR / "SOURCES").is_file() or "failed" in (NATIVE_DIR / "SOURCES").read_text(),
    reason="processors/ is not compiled here (make install builds it)",
)


def _flavour(env: dict[str, str], package_root: Path = ROOT) -> str:
    """Which engine a fresh interpreter imports: the module's file name."""
    code = "import processors, processors.engine as e; print(processors.NATIVE, e.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=package_root,
        env={**env, "PYTHONPATH": str(package_root)},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@_built
def test_the_compiled_engine_is_used_when_built() -> None:
    assert processors.NATIVE
    assert processors.engine.__file__.endswith(".so")


@_built
def test_a_build_of_other_sources_is_not_used(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "CCPULSE_PURE"}
    shutil.copytree(ROOT / "processors", tmp_path / "processors")
    assert _flavour(env, tmp_path).startswith("True ")
    engine = tmp_path / "processors" / "engine.py"
    engine.write_text(engine.read_text() + "\n# edited since the build\n")
    assert _flavour(env, tmp_path) == f"False {engine}"


def test_kpi_tests_pass_on_pure_python() -> None:
    env = {**os.environ, "CCPULSE_PURE": "1"}
    assert _flavour(env) == f"False {ROOT / 'processors' / 'engine.py'}"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *KPI_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
