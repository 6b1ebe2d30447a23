"""The worker's exactness machinery: decode, screen, order, apply, persist, deliver.

The checkpoint (consume -> apply -> changelog -> commit) and what it calls live here; see
docs/architecture.md for one record's walk from a topic to a gauge.
"""
