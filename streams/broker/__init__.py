"""Talking to a broker: connection settings, credentials checks, topics, the embedded broker."""
