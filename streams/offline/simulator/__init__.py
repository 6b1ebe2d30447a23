"""``ccpulse simulate``: realistic contact-centre traffic (see
:mod:`streams.offline.simulator.model`)."""

from streams.offline.simulator.model import Simulation
from streams.offline.simulator.traffic import QueueModel, Scenario, default_queues

__all__ = ["QueueModel", "Scenario", "Simulation", "default_queues"]
