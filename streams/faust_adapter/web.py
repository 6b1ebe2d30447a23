"""Faust's web server, where ccpulse needs more than its settings offer."""

from __future__ import annotations

from collections.abc import Collection

import faust

__all__ = ["drop_root_blueprints"]


def drop_root_blueprints(app: faust.App, blueprints: Collection[str]) -> None:
    """Keep Faust from mounting ``blueprints`` at ``/`` (before the web server starts).

    Faust mounts a placeholder index (``{"status": "OK"}``, or its debug statistics) at ``/``
    and has no public switch for it; aiohttp refuses two GET routes on one path. So the list of
    blueprints Faust will apply is filtered (``BlueprintManager._enabled``).
    """
    manager = app.web.blueprints
    manager._enabled = [
        (prefix, blueprint)
        for prefix, blueprint in manager._enabled
        if not (prefix == "" and blueprint in blueprints)
    ]
