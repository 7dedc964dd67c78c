"""spikeserve: a Python client for spikeserve's spiking-neural-network sessions.

    from spikeserve import Client
    with Client("http://127.0.0.1:3000") as client:
        session = client.create_session(network, seed=1)
        with session.connect() as ws:
            r = ws.step({"pre": [100, 0]}, defer_reward=True)
            ws.reward(1.0 if r.fired("post") else -1.0)

See docs/python.md in the repository.
"""

from .batch_frame import BatchResult
from .client import AsyncClient, AsyncSession, Client, MultiplexSocket, Session, SessionSocket
from .errors import *  # noqa: F401,F403  (one class per catalogue code)
from .errors import ERROR_CLASSES, CommandLostError, ConnectionLostError, SpikeserveError
from .results import Event, StepResult
from .multiplex import AsyncMultiplexSocket
from .socket import AsyncSessionSocket
from .vector import VectorSession

__version__ = "0.1.0"
__all__ = [
    "AsyncClient",
    "AsyncMultiplexSocket",
    "AsyncSession",
    "AsyncSessionSocket",
    "BatchResult",
    "Client",
    "CommandLostError",
    "ConnectionLostError",
    "ERROR_CLASSES",
    "Event",
    "MultiplexSocket",
    "Session",
    "SessionSocket",
    "SpikeserveError",
    "StepResult",
    "VectorSession",
    *(cls.__name__ for cls in ERROR_CLASSES.values()),
]
