"""``ccpulse simulate``: realistic contact-centre traffic (see :mod:`streams.simulator.model`)."""

from streams.simulator.model import QueueModel, Scenario, Simulation, default_queues

__all__ = ["QueueModel", "Scenario", "Simulation", "default_queues"]
