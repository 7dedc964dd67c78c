"""Many sessions stepped together: :class:`VectorSession`, in the shape of a
Gymnasium vector env (arrays in, arrays out), one message per call: a
``step_batch`` on the multiplexed WebSocket, or a ``POST /v1/batch/step``."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .batch_frame import BatchRequest, BatchResult, batch_arrays
from .client import Client, MultiplexSocket, Session, _Call
from .errors import SpikeserveError
from .multiplex import outcome_error as _error
from .results import StepResult
from .socket import AsyncSessionSocket

TRANSPORTS = ("websocket", "http")
# The keyword arguments of a call that a binary step_batch can carry.
_ARRAY_KWARGS = frozenset({"populations", "spikes", "potentials", "weights", "steps", "defer_reward"})


class VectorSession:
    """N sessions of one network, stepped with one message per call. Row ``i``
    of every array in and out belongs to ``sessions[i]``.

    ``transport="websocket"`` (the default) sends each call as one
    ``step_batch`` on a multiplexed WebSocket, opened at the first call and
    kept (a binary frame of arrays each way when the call's inputs are
    arrays held over it, per session or per copy of batch sessions, and it
    asks for spike counts or potentials of named populations; JSON otherwise); ``"http"`` as one ``POST /v1/batch/step``. Both run the same steps
    and give the same results; the socket spares each call an HTTP request
    (figures: docs/benchmarks.md, "Many sessions per call"). Use it as a
    context manager, or call :meth:`close`, to close the socket."""

    def __init__(self, client: Client, sessions: Sequence[Session], *, transport: str = "websocket"):
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
        self.client = client
        self.sessions = list(sessions)
        self.transport = transport
        self._socket: MultiplexSocket | None = None
        self._requests: dict[tuple[Any, ...], BatchRequest] = {}
        self._batch_size: int | None = None

    @classmethod
    def create(cls, client: Client, network: Mapping[str, Any], n: int, *, seed: int = 0, name: str | None = None, transport: str = "websocket") -> "VectorSession":
        """``n`` new sessions of ``network``, seeded ``seed``, ``seed + 1``, …"""
        return cls(client, [client.create_session(network, seed=seed + i, name=name) for i in range(n)], transport=transport)

    def __len__(self) -> int:
        return len(self.sessions)

    def __enter__(self) -> "VectorSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the multiplexed socket, if one is open (the sessions stay)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _items(self, inputs: Mapping[str, Any] | None, reward: Any, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
        """The batch's items. Arrays become lists once for all rows (not a row
        at a time), and the fields every session shares are built once."""
        n = len(self.sessions)
        columns: dict[str, list[Any]] = {}
        for k, v in (inputs or {}).items():
            a = np.asarray(v, dtype=np.float64)
            # A leading axis of N is the sessions' (rows [N, n], or a batch's [N, B, n]).
            columns[k] = a.tolist() if a.ndim >= 2 and a.shape[0] == n else [a.tolist()] * n
        rewards = None
        if reward is not None:
            r = np.asarray(reward, dtype=np.float64)
            rewards = r.tolist() if r.ndim >= 1 and r.shape[0] == n else [r.tolist()] * n
        shared = AsyncSessionSocket.step_fields(None, **kwargs)
        items = []
        for i, s in enumerate(self.sessions):
            item: dict[str, Any] = {"id": s.id, **shared}
            if columns:
                item["inputs"] = {k: c[i] for k, c in columns.items()}
            if rewards is not None:
                item["reward"] = rewards[i]
            items.append(item)
        return items

    def _arrays(self, inputs: Mapping[str, Any] | None, reward: Any, kwargs: dict[str, Any]) -> BatchResult | None:
        """The call as one binary ``step_batch`` on the socket, when it fits one
        (arrays of inputs held over the call, a row per session or, for batch
        sessions, per copy; spike counts and potentials of named populations
        back); None when it goes as JSON."""
        if self.transport != "websocket":
            return None
        populations = kwargs.get("populations")
        spikes = kwargs.get("spikes", "steps")
        if populations is None or spikes not in ("counts", "none") or kwargs.get("weights") or set(kwargs) - _ARRAY_KWARGS:
            return None
        packed = batch_arrays(inputs, reward, len(self.sessions))
        if packed is None:
            return None
        shapes, arrays, has_reward, rows = packed
        steps, defer = int(kwargs.get("steps", 1)), bool(kwargs.get("defer_reward", False))
        counts = tuple(populations) if spikes == "counts" else ()
        potentials = tuple(populations) if kwargs.get("potentials") else ()
        ids = tuple(s.id for s in self.sessions)
        key = (ids, tuple(shapes), has_reward, rows, steps, defer, counts, potentials)
        request = self._requests.get(key)
        if request is None:
            if len(self._requests) >= 16:
                self._requests.clear()
            request = self._requests[key] = BatchRequest(
                ids, shapes, rewards=has_reward, steps=steps, defer_reward=defer, counts=counts, potentials=potentials, copy_rows=rows
            )
        if self._socket is None:
            self._socket = self.client.multiplex()
        b = self._socket.step_request(request, arrays)
        copies = self.batch_size
        if copies > 1:
            # A batch session's row is its copies' values one after the other: [N, B, n], as in JSON.
            for values in (b.spike_counts, b.potentials):
                for p, v in values.items():
                    if v.dtype != object:
                        values[p] = v.reshape(len(v), copies, -1)
        return b

    @property
    def batch_size(self) -> int:
        """The sessions' copies (their network's ``batch_size``), read once from
        the first session's creation reply, or from the server."""
        if self._batch_size is None:
            first = self.sessions[0]
            network = first.info.get("network") or first.get()["network"]
            self._batch_size = int(network.get("batch_size", 1))
        return self._batch_size

    def _outcomes(self, inputs: Mapping[str, Any] | None, reward: Any, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
        items = self._items(inputs, reward, kwargs)
        if self.transport == "http":
            return self.client._do(_Call("POST", "/v1/batch/step", {"items": items}))["results"]
        if self._socket is None:
            self._socket = self.client.multiplex()
        return self._socket.step_batch_outcomes(items)

    def step_results(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        reward: float | Sequence[float] | np.ndarray | None = None,
        **kwargs: Any,
    ) -> list[StepResult | SpikeserveError]:
        """One step request per session in one call: ``inputs[pop]`` is an
        ``[N, n]`` array (a row per session) or one vector for all; ``reward``
        a number or one per session; other keyword arguments as
        :meth:`Session.step`, for every session. Per session, its
        :class:`StepResult` or the error it alone got.

        Sessions of a batch network (``batch_size`` B) also take an input
        ``[N, B, n]`` (a vector per copy of each session) and rewards
        ``[N, B]``; an ``[N, n]`` row or a session's one reward goes to
        every copy of that session."""
        b = self._arrays(inputs, reward, kwargs)
        if b is None:
            return [StepResult.from_json(o["result"]) if o["ok"] else _error(o) for o in self._outcomes(inputs, reward, kwargs)]
        copies = list(range(self.batch_size)) if self.batch_size > 1 else None
        return [
            StepResult(
                step=int(b.step[i]),
                steps=int(b.steps[i]),
                pending=bool(b.pending[i]),
                spike_counts={p: c[i] for p, c in b.spike_counts.items()} if kwargs.get("spikes") == "counts" else None,
                potentials={p: v[i] for p, v in b.potentials.items()} if b.potentials else None,
                copies=copies,
            )
            if b.ok[i]
            else b.errors[i]
            for i in range(len(self.sessions))
        ]

    def step(self, inputs: Mapping[str, Any] | None = None, *, reward: float | Sequence[float] | np.ndarray | None = None, populations: Sequence[str], **kwargs: Any) -> dict[str, np.ndarray]:
        """Step every session and return, per population asked for, an ``[N, n]``
        array of spike counts over the call (``[N, B, n]`` for sessions of a
        batch network; inputs and rewards as :meth:`step_results`). Raises the
        first session's error, with ``details["index"]`` its position."""
        call = {**kwargs, "populations": populations, "spikes": "counts"}
        b = self._arrays(inputs, reward, call)
        if b is not None:
            b.raise_first()
            return b.spike_counts
        outcomes = self._outcomes(inputs, reward, call)
        for i, o in enumerate(outcomes):
            if not o["ok"]:
                e = _error(o)
                e.details["index"] = i
                raise e
        # Straight from the reply into one array per population: no result object per session.
        return {p: np.array([o["result"]["spikeCounts"][p] for o in outcomes], dtype=np.int64) for p in populations}

    def delete(self) -> None:
        """Delete every session (and close the socket)."""
        self.close()
        for s in self.sessions:
            s.delete()
