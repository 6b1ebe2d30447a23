"""HTTP views served by the worker: /metrics, the JSON API, the wallboard, the alert API."""
