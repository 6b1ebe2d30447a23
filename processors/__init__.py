"""ccpulse's KPI logic, pure Python, optionally compiled with mypyc.

``make install`` compiles the hot modules (mk/native_build.py: the engine, the pane
store, the call, agent, contact and ticket handlers, ...) into ``processors/_native/``. When
that directory holds a build of exactly the sources beside it, it is searched before this one,
so ``import processors.engine`` loads the compiled module; otherwise (no build, a failed build,
sources edited since, ``CCPULSE_PURE=1``) the ``.py`` files are used as they are. Both run the
same code: the KPI tests run on both (tests/test_native_build.py).
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path

__all__ = ["NATIVE"]

_HERE = Path(__file__).resolve().parent
_NATIVE_DIR = _HERE / "_native"


def sources_digest() -> str:
    """SHA-256 over every source of the package: a build is used only with the sources it was
    compiled from (the compiled modules rely on the types of the pure ones too)."""
    digest = hashlib.sha256()
    for path in sorted(_HERE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _use_native() -> bool:
    """Put the compiled modules first on this package's path if they match the sources."""
    if os.environ.get("CCPULSE_PURE") == "1":
        return False
    try:
        if (_NATIVE_DIR / "SOURCES").read_text().strip() != sources_digest():
            return False
    except OSError:
        return False
    __path__.insert(0, str(_NATIVE_DIR))
    try:  # the shared library every compiled module needs (and mypyc's runtime)
        importlib.import_module("processors.native__mypyc")
    except ImportError:
        __path__.remove(str(_NATIVE_DIR))
        return False
    return True


NATIVE = _use_native()
"""True when the compiled modules are in use."""
