"""Compile processors/' hot modules with mypyc into processors/_native/ (``make install``).

processors/__init__.py loads them from there when the ``SOURCES`` stamp written here matches the
sources, and the pure ``.py`` files otherwise, so a failed build costs speed, never correctness:
this script reports the failure and exits 0 unless ``--strict``. ``CCPULSE_PURE=1`` skips it.

Not compiled: the modules that define msgspec Structs (events, state, settings, snapshot, kpis,
thresholds, wallboard, alerts, alert_rules): mypyc type-checks a class attribute's default, and
a Struct field's ``msgspec.field(...)`` default is not of the field's type. They are not where
the per-event time goes; the engine and the handlers it calls per event are. ``drilldown`` (the
waiting, abandoned and blocked calls and the agents' day, on every call and agent event, and
evicted with each queue) was left pure until it showed as a tenth of the compiled engine's
samples: compiled, the engine alone did 292k, 317k and 313k events/s against 265k, 305k and
287k (medians of 7, alternating, in process, ``make bench``'s 300,000 first events).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "processors"
TARGET = PACKAGE / "_native"
COMPILED = [
    "admission",
    "agents",
    "backtest_scoring",
    "batch",
    "calendars",
    "callbacks",
    "calls",
    "channels",
    "contacts",
    "drilldown",
    "counters",
    "engine",
    "erlang_a",
    "erlang_c",
    "event_handlers",
    "eviction",
    "formulas",
    "intervals",
    "ivr",
    "log_space",
    "open_visits",
    "panes",
    "queue_report",
    "queue_runtime",
    "snapshot_cache",
    "staffing",
    "ticket_sla",
    "tickets",
]
GROUP = "processors.native"
"""mypyc's shared library is ``processors.native__mypyc``: inside the package, found on its
path like the compiled modules (processors/__init__.py imports it to check the build)."""


def build(work: Path) -> None:
    """Build into ``work`` (setuptools is run there: the project's pyproject.toml is not read)
    and install the extensions and the stamp into processors/_native/."""
    from mypyc.build import mypycify
    from setuptools import setup

    sys.path.insert(0, str(ROOT))
    from processors import sources_digest

    paths = [str(PACKAGE / f"{name}.py") for name in COMPILED]
    os.chdir(work)
    setup(
        name="ccpulse-native",
        ext_modules=mypycify(paths, group_name=GROUP, target_dir=str(work / "c")),
        script_args=["build_ext", "--build-lib", str(work / "lib"), "--build-temp", str(work)],
    )
    built = sorted((work / "lib" / "processors").glob("*.so"))
    expected = {*COMPILED, GROUP.rsplit(".", 1)[1] + "__mypyc"}
    if {path.name.split(".")[0] for path in built} != expected:
        raise RuntimeError(f"mypyc built {[path.name for path in built]}, expected {expected}")
    shutil.rmtree(TARGET, ignore_errors=True)
    TARGET.mkdir()
    for path in built:
        shutil.copy2(path, TARGET / path.name)
    (TARGET / "SOURCES").write_text(sources_digest() + "\n")
    _check_imports()


def _check_imports() -> None:
    """Import every compiled module in a fresh interpreter: mypyc checks some things only when
    a module runs (a class attribute's type), and a module that cannot be imported must not be
    used."""
    code = (
        "import importlib, processors\n"
        "assert processors.NATIVE, 'the build is not used'\n"
        f"for name in {COMPILED!r}:\n"
        "    module = importlib.import_module('processors.' + name)\n"
        "    assert module.__file__.endswith('.so'), module.__file__\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "CCPULSE_PURE"}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if run.returncode != 0:
        raise RuntimeError(f"a compiled module does not import: {run.stderr.strip()[-800:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 if the build fails")
    args = parser.parse_args()
    if os.environ.get("CCPULSE_PURE") == "1":
        shutil.rmtree(TARGET, ignore_errors=True)
        print("native build: skipped (CCPULSE_PURE=1); processors/ runs as pure Python")
        return 0
    with tempfile.TemporaryDirectory(prefix="ccpulse-mypyc-") as work:
        try:
            build(Path(work))
        except (Exception, SystemExit) as error:  # setuptools exits on a compiler error
            shutil.rmtree(TARGET, ignore_errors=True)
            TARGET.mkdir()  # a stamp that matches no sources: make retries once they change
            (TARGET / "SOURCES").write_text("build failed\n")
            print(
                f"native build FAILED ({type(error).__name__}: {error}); processors/ runs as"
                " pure Python",
                file=sys.stderr,
            )
            return 1 if args.strict else 0
    print(f"native build: {len(COMPILED)} modules of processors/ compiled into {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
