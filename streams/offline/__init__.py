"""Tools that read events without running the worker: replay, backtest, audit, simulator,
and the Grafana upload.
"""
