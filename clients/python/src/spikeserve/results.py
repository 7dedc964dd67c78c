"""What the server sends back, as numpy arrays: step results and stream events,
read from JSON replies or from binary frames (README "Binary frames") alike."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

BINARY_VERSION = 1
_HEADER = struct.Struct("<BBHIdII")
_SECTION = struct.Struct("<BBHII")
_KINDS = {1: "step", 2: "weights", 3: "spikes", 4: "potentials", 5: "weights", 6: "reward"}
_REWARD_SOURCES = {1: "step", 2: "deferred", 3: "implicit"}


@dataclass
class StepResult:
    """The reply to a step: ``step`` (the session's step count after it), ``steps``
    (how many ran), ``pending`` (the last step's update waits for a reward), and
    what ``return`` asked for: ``spikes`` (per population, one array of fired
    neuron indices per step), ``spike_counts`` (per population, spikes per
    neuron over the call), ``potentials`` (per population, ``v`` after the last
    step), ``weights`` (per connection, a ``[pre.n, post.n]`` array)."""

    step: int
    steps: int
    pending: bool
    spikes: dict[str, list[np.ndarray]] | None = None
    spike_counts: dict[str, np.ndarray] | None = None
    potentials: dict[str, np.ndarray] | None = None
    weights: dict[str, np.ndarray] | None = None

    def fired(self, population: str) -> bool:
        """Whether any neuron of ``population`` fired during the call."""
        if self.spike_counts is not None and population in self.spike_counts:
            return bool(self.spike_counts[population].any())
        if self.spikes is not None and population in self.spikes:
            return any(len(s) for s in self.spikes[population])
        raise KeyError(f"the reply has no spikes of population {population!r}")

    def counts(self, population: str, n: int) -> np.ndarray:
        """Spikes per neuron of ``population`` (``n`` neurons) over the call, from
        either ``spike_counts`` or the per-step ``spikes``."""
        if self.spike_counts is not None and population in self.spike_counts:
            return self.spike_counts[population]
        if self.spikes is not None and population in self.spikes:
            out = np.zeros(n, dtype=np.int64)
            for s in self.spikes[population]:
                np.add.at(out, s, 1)
            return out
        raise KeyError(f"the reply has no spikes of population {population!r}")

    @classmethod
    def from_json(cls, r: Mapping[str, Any]) -> "StepResult":
        return cls(
            step=int(r["step"]),
            steps=int(r["steps"]),
            pending=bool(r["pending"]),
            spikes={k: [np.asarray(s, dtype=np.int64) for s in v] for k, v in r["spikes"].items()} if "spikes" in r else None,
            spike_counts={k: np.asarray(v, dtype=np.int64) for k, v in r["spikeCounts"].items()} if "spikeCounts" in r else None,
            potentials={k: np.asarray(v, dtype=np.float64) for k, v in r["potentials"].items()} if "potentials" in r else None,
            weights=weights_from_json(r["weights"]) if "weights" in r else None,
        )


@dataclass
class Event:
    """A stream event: ``type`` is ``spikes``, ``potentials``, ``weights``,
    ``reward`` or ``dropped``. ``data`` holds the arrays per population or
    connection (spikes: the fired indices of that one step); a reward event has
    ``reward`` and ``source`` (``step``, ``deferred``, ``implicit``); a
    ``dropped`` notice has ``count`` (since the last notice), ``total`` and
    ``step``, the session's step count as the notice left."""

    type: str
    step: int = 0
    pending: bool = False
    data: dict[str, np.ndarray] = field(default_factory=dict)
    reward: float | None = None
    source: str | None = None
    count: int = 0
    total: int = 0

    @classmethod
    def from_json(cls, m: Mapping[str, Any]) -> "Event":
        t = m["type"]
        if t == "dropped":
            return cls("dropped", step=int(m.get("step", 0)), count=int(m.get("count", 0)), total=int(m.get("total", 0)))
        if t == "reward":
            return cls("reward", step=int(m["step"]), reward=float(m["reward"]), source=m.get("source"))
        raw = m.get(t, {})
        if t == "weights":
            data = weights_from_json(raw)
        elif t == "spikes":
            data = {k: np.asarray(v, dtype=np.int64) for k, v in raw.items()}
        else:
            data = {k: np.asarray(v, dtype=np.float64) for k, v in raw.items()}
        return cls(t, step=int(m["step"]), pending=bool(m.get("pending", False)), data=data)


def weights_from_json(w: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64).reshape(len(v), -1) for k, v in w.items()}


@dataclass
class Frame:
    """A binary frame, decoded: its kind (``step``, ``weights``, ``spikes``,
    ``potentials``, ``reward``), header fields and sections by name."""

    kind: str
    id: Any
    pending: bool
    step: int
    steps: int
    spikes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    spike_counts: dict[str, np.ndarray] = field(default_factory=dict)
    potentials: dict[str, np.ndarray] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    reward: float | None = None
    source: str | None = None

    def step_result(self) -> StepResult:
        return StepResult(
            step=self.step,
            steps=self.steps,
            pending=self.pending,
            spikes=self.spikes or None,
            spike_counts=self.spike_counts or None,
            potentials=self.potentials or None,
            weights=self.weights or None,
        )

    def event(self) -> Event:
        if self.kind == "reward":
            return Event("reward", step=self.step, reward=self.reward, source=self.source)
        if self.kind == "spikes":
            return Event("spikes", step=self.step, pending=self.pending, data={k: v[0] for k, v in self.spikes.items()})
        data = self.potentials if self.kind == "potentials" else self.weights
        return Event(self.kind, step=self.step, pending=self.pending, data=data)


def decode_frame(buf: bytes, populations: Sequence[str], connections: Sequence[str]) -> Frame:
    """Decode a binary frame; ``populations`` and ``connections`` are the
    hello's names in order (the frame refers to them by index)."""
    mv = memoryview(buf)
    version, kind, flags, id_len, step, steps, count = _HEADER.unpack_from(mv, 0)
    if version != BINARY_VERSION:
        raise ValueError(f"binary frame version {version}; this client reads {BINARY_VERSION}")

    rid = json.loads(bytes(mv[24 : 24 + id_len])) if id_len else None
    frame = Frame(kind=_KINDS.get(kind, f"kind{kind}"), id=rid, pending=bool(flags & 1), step=int(step), steps=steps)
    off = 24 + ((id_len + 3) & ~3)
    for _ in range(count):
        typ, _zero, index, a, b = _SECTION.unpack_from(mv, off)
        off += 12
        if typ == 1:
            counts = np.frombuffer(mv, dtype="<u4", count=a, offset=off)
            idx = np.frombuffer(mv, dtype="<u4", count=b, offset=off + 4 * a).astype(np.int64)
            frame.spikes[populations[index]] = np.split(idx, np.cumsum(counts[:-1], dtype=np.int64)) if a else []
            off += 4 * (a + b)
        elif typ == 2:
            frame.spike_counts[populations[index]] = np.frombuffer(mv, dtype="<u4", count=a, offset=off).astype(np.int64)
            off += 4 * a
        elif typ == 3:
            frame.potentials[populations[index]] = np.frombuffer(mv, dtype="<f4", count=a, offset=off).astype(np.float64)
            off += 4 * a
        elif typ == 4:
            frame.weights[connections[index]] = np.frombuffer(mv, dtype="<f4", count=a * b, offset=off).astype(np.float64).reshape(a, b)
            off += 4 * a * b
        elif typ == 5:
            frame.source = _REWARD_SOURCES.get(a, str(a))
            (frame.reward,) = struct.unpack_from("<d", mv, off)
            off += 8
        else:
            raise ValueError(f"unknown section type {typ} in a binary frame")
    return frame


def to_json_value(x: Any) -> Any:
    """numpy arrays and scalars as plain lists and numbers, for a JSON request."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Mapping):
        return {k: to_json_value(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_json_value(v) for v in x]
    return x
