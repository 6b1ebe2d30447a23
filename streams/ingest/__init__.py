"""Live adapters that bring vendors' records into ccpulse's topics (``ccpulse ingest ...``).

The mappings themselves (vendor record -> canonical events) live in :mod:`streams.sources`, so
``ccpulse replay`` uses exactly the same translation offline. This package is the live glue:
following a file (:mod:`.follower`, :mod:`.position`), producing with acknowledgement
(:mod:`.producer`), the HTTP receivers (:mod:`.webhooks`, :mod:`.signatures`) and their metrics
(:mod:`.metrics`).
"""
