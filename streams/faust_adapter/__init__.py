"""The only package that touches private names of faust, mode or aiokafka.

Everything else talks to Kafka through Faust's public API or through this package's small
typed interface; see docs/architecture.md.
"""
