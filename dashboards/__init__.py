"""Grafana dashboards as code, built with grafana-foundation-sdk (``dashboards/build.py``).

One module per dashboard (:mod:`dashboards.wallboard`, :mod:`dashboards.queue_detail`,
:mod:`dashboards.tickets`, :mod:`dashboards.operations`); :mod:`dashboards.panels` holds the
panel builders they share and :mod:`dashboards.promql` the query shapes. ``ccpulse dashboards
generate`` writes the JSON committed under ``dashboards/generated/``; ``ccpulse dashboards push``
uploads it to a Grafana.
"""

__all__: list[str] = []
