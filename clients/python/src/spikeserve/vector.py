"""Many sessions stepped together: :class:`VectorSession`, in the shape of a
Gymnasium vector env (arrays in, arrays out), one ``POST /v1/batch/step`` per
call."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .client import Client, Session, _Call
from .errors import SpikeserveError, error_from
from .results import StepResult
from .socket import AsyncSessionSocket


class VectorSession:
    """N sessions of one network, stepped with one request per call. Row ``i``
    of every array in and out belongs to ``sessions[i]``."""

    def __init__(self, client: Client, sessions: Sequence[Session]):
        self.client = client
        self.sessions = list(sessions)

    @classmethod
    def create(cls, client: Client, network: Mapping[str, Any], n: int, *, seed: int = 0, name: str | None = None) -> "VectorSession":
        """``n`` new sessions of ``network``, seeded ``seed``, ``seed + 1``, …"""
        return cls(client, [client.create_session(network, seed=seed + i, name=name) for i in range(n)])

    def __len__(self) -> int:
        return len(self.sessions)

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
        :class:`StepResult` or the error it alone got."""
        n = len(self.sessions)
        rewards = np.broadcast_to(np.asarray(reward, dtype=np.float64), (n,)) if reward is not None else None
        per_pop = {k: np.asarray(v, dtype=np.float64) for k, v in (inputs or {}).items()}
        items = []
        for i, s in enumerate(self.sessions):
            x = {k: (v[i] if v.ndim == 2 and v.shape[0] == n else v) for k, v in per_pop.items()}
            fields = AsyncSessionSocket.step_fields(x or None, reward=None if rewards is None else float(rewards[i]), **kwargs)
            items.append({"id": s.id, **fields})
        reply = self.client._do(_Call("POST", "/v1/batch/step", {"items": items}))
        out: list[StepResult | SpikeserveError] = []
        for o in reply["results"]:
            if o["ok"]:
                out.append(StepResult.from_json(o["result"]))
            else:
                e = o["error"]
                out.append(error_from(e["code"], e["message"], e.get("details")))
        return out

    def step(self, inputs: Mapping[str, Any] | None = None, *, reward: float | Sequence[float] | np.ndarray | None = None, populations: Sequence[str], **kwargs: Any) -> dict[str, np.ndarray]:
        """Step every session and return, per population asked for, an ``[N, n]``
        array of spike counts over the call. Raises the first session's error,
        with ``details["index"]`` its position."""
        results = self.step_results(inputs, reward=reward, populations=populations, spikes="counts", **kwargs)
        for i, r in enumerate(results):
            if isinstance(r, SpikeserveError):
                r.details["index"] = i
                raise r
        return {p: np.stack([r.spike_counts[p] for r in results if isinstance(r, StepResult) and r.spike_counts]) for p in populations}

    def delete(self) -> None:
        """Delete every session."""
        for s in self.sessions:
            s.delete()
