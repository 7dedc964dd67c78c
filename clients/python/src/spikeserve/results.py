"""What the server sends back, as numpy arrays: step results and stream events,
read from JSON replies or from binary frames (README "Binary frames") alike.

A batch's (a network of ``batch_size`` B > 1, docs/model.md "Batches")
replies and events are per copy, as the TypeScript client reads them: they
list in ``copies`` the copies they are of, in their order, and each value
has the copy (its position in ``copies``) as its first axis: spike counts
and potentials ``[copies, n]`` arrays, a step's spikes one index array per
copy, a reward event's reward one number per copy (every copy, copy 0
first). A network of one copy reads as it always has (``copies`` None).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

import numpy as np

#: A population's spikes in a step result: per step, the fired neuron
#: indices (an array), or in a batch per step one such array per copy.
Spikes = Union[list[np.ndarray], list[list[np.ndarray]]]

BINARY_VERSION = 1
_HEADER = struct.Struct("<BBHIdII")
_SECTION = struct.Struct("<BBHII")
_KINDS = {1: "step", 2: "weights", 3: "spikes", 4: "potentials", 5: "weights", 6: "reward"}
_COPY_SECTION = 7
_REWARD_SOURCES = {1: "step", 2: "deferred", 3: "implicit"}


@dataclass
class StepResult:
    """The reply to a step: ``step`` (the session's step count after it), ``steps``
    (how many ran), ``pending`` (the last step's update waits for a reward), and
    what ``return`` asked for: ``spikes`` (per population, one array of fired
    neuron indices per step), ``spike_counts`` (per population, spikes per
    neuron over the call), ``potentials`` (per population, ``v`` after the last
    step), ``weights`` (per connection, a ``[pre.n, post.n]`` array).

    Of a batch, ``copies`` lists the copies returned (``return.copies``,
    default every copy), and the values are per copy, in that order:
    ``spikes[pop][t][q]`` the indices copy ``copies[q]`` fired at step ``t``,
    ``spike_counts[pop]`` and ``potentials[pop]`` ``[len(copies), n]``
    arrays; the weights are shared. :meth:`copy` gives one copy's result."""

    step: int
    steps: int
    pending: bool
    spikes: dict[str, Spikes] | None = None
    spike_counts: dict[str, np.ndarray] | None = None
    potentials: dict[str, np.ndarray] | None = None
    weights: dict[str, np.ndarray] | None = None
    copies: list[int] | None = None

    def copy(self, copy: int) -> "StepResult":
        """The result of copy ``copy`` (its number, not its position) of a batch,
        shaped as a network of one copy's (weights shared); raises ``KeyError``
        if the reply has no values of it."""
        if self.copies is None:
            raise KeyError(f"the reply is not a batch's: it has no copy {copy}")
        if copy not in self.copies:
            raise KeyError(f"the reply has copies {self.copies}, not {copy} (ask for it with copies=)")
        q = self.copies.index(copy)
        return StepResult(
            step=self.step,
            steps=self.steps,
            pending=self.pending,
            spikes={k: [per_copy[q] for per_copy in v] for k, v in self.spikes.items()} if self.spikes is not None else None,
            spike_counts={k: v[q] for k, v in self.spike_counts.items()} if self.spike_counts is not None else None,
            potentials={k: v[q] for k, v in self.potentials.items()} if self.potentials is not None else None,
            weights=self.weights,
        )

    def fired(self, population: str) -> bool:
        """Whether any neuron of ``population`` (of any copy returned) fired during the call."""
        if self.spike_counts is not None and population in self.spike_counts:
            return bool(self.spike_counts[population].any())
        if self.spikes is not None and population in self.spikes:
            return _any_spike(self.spikes[population])
        raise KeyError(f"the reply has no spikes of population {population!r}")

    def counts(self, population: str, n: int) -> np.ndarray:
        """Spikes per neuron of ``population`` (``n`` neurons) over the call, from
        either ``spike_counts`` or the per-step ``spikes``: ``[n]``, or of a batch
        ``[len(copies), n]``."""
        if self.spike_counts is not None and population in self.spike_counts:
            return self.spike_counts[population]
        if self.spikes is not None and population in self.spikes:
            if self.copies is None:
                out = np.zeros(n, dtype=np.int64)
                for s in self.spikes[population]:
                    np.add.at(out, s, 1)
                return out
            out = np.zeros((len(self.copies), n), dtype=np.int64)
            for per_copy in self.spikes[population]:
                for q, s in enumerate(per_copy):
                    np.add.at(out[q], s, 1)
            return out
        raise KeyError(f"the reply has no spikes of population {population!r}")

    @classmethod
    def from_json(cls, r: Mapping[str, Any]) -> "StepResult":
        copies = [int(b) for b in r["copies"]] if "copies" in r else None
        spikes: dict[str, Spikes] | None = None
        if "spikes" in r:
            if copies is None:
                spikes = {k: [np.asarray(s, dtype=np.int64) for s in v] for k, v in r["spikes"].items()}
            else:
                spikes = {k: [[np.asarray(c, dtype=np.int64) for c in per_copy] for per_copy in v] for k, v in r["spikes"].items()}
        return cls(
            step=int(r["step"]),
            steps=int(r["steps"]),
            pending=bool(r["pending"]),
            spikes=spikes,
            spike_counts={k: np.asarray(v, dtype=np.int64) for k, v in r["spikeCounts"].items()} if "spikeCounts" in r else None,
            potentials={k: np.asarray(v, dtype=np.float64) for k, v in r["potentials"].items()} if "potentials" in r else None,
            weights=weights_from_json(r["weights"]) if "weights" in r else None,
            copies=copies,
        )


def _any_spike(spikes: Spikes) -> bool:
    """Whether any step (and copy) of a population's spikes has an index."""
    return any(len(s) if isinstance(s, np.ndarray) else any(len(c) for c in s) for s in spikes)


@dataclass
class Event:
    """A stream event: ``type`` is ``spikes``, ``potentials``, ``weights``,
    ``reward`` or ``dropped``. ``data`` holds the arrays per population or
    connection (spikes: the fired indices of that one step); a reward event has
    ``reward`` and ``source`` (``step``, ``deferred``, ``implicit``); a
    ``dropped`` notice has ``count`` (since the last notice), ``total`` and
    ``step``, the session's step count as the notice left.

    Of a batch, a spikes or potentials event lists in ``copies`` the copies it
    is of (the subscription's ``copies``, default every copy), and ``data``
    holds per population one index array per copy (spikes) or a
    ``[len(copies), n]`` array (potentials); a reward event's ``reward`` is an
    array of every copy's reward, copy 0 first."""

    type: str
    step: int = 0
    pending: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    reward: float | np.ndarray | None = None
    source: str | None = None
    count: int = 0
    total: int = 0
    copies: list[int] | None = None

    @classmethod
    def from_json(cls, m: Mapping[str, Any]) -> "Event":
        t = m["type"]
        if t == "dropped":
            return cls("dropped", step=int(m.get("step", 0)), count=int(m.get("count", 0)), total=int(m.get("total", 0)))
        if t == "reward":
            r = m["reward"]
            return cls("reward", step=int(m["step"]), reward=np.asarray(r, dtype=np.float64) if isinstance(r, list) else float(r), source=m.get("source"))
        raw = m.get(t, {})
        copies = [int(b) for b in m["copies"]] if "copies" in m else None
        data: dict[str, Any]
        if t == "weights":
            data = weights_from_json(raw)
        elif t == "spikes":
            data = {k: np.asarray(v, dtype=np.int64) if copies is None else [np.asarray(c, dtype=np.int64) for c in v] for k, v in raw.items()}
        else:
            data = {k: np.asarray(v, dtype=np.float64) for k, v in raw.items()}
        return cls(t, step=int(m["step"]), pending=bool(m.get("pending", False)), data=data, copies=copies)


def weights_from_json(w: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64).reshape(len(v), -1) for k, v in w.items()}


@dataclass
class Frame:
    """A binary frame, decoded: its kind (``step``, ``weights``, ``spikes``,
    ``potentials``, ``reward``), header fields and sections by name. A batch's
    frame has a copy section before each copy's sections: ``copies`` lists
    them, and the values read as :class:`StepResult` and :class:`Event`
    describe (per step then per copy for spikes, ``[copies, n]`` arrays,
    a reward per copy)."""

    kind: str
    id: Any
    pending: bool
    step: int
    steps: int
    spikes: dict[str, Spikes] = field(default_factory=dict)
    spike_counts: dict[str, np.ndarray] = field(default_factory=dict)
    potentials: dict[str, np.ndarray] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    reward: float | np.ndarray | None = None
    source: str | None = None
    copies: list[int] = field(default_factory=list)

    def step_result(self) -> StepResult:
        return StepResult(
            step=self.step,
            steps=self.steps,
            pending=self.pending,
            spikes=self.spikes or None,
            spike_counts=self.spike_counts or None,
            potentials=self.potentials or None,
            weights=self.weights or None,
            copies=self.copies or None,
        )

    def event(self) -> Event:
        if self.kind == "reward":
            return Event("reward", step=self.step, reward=self.reward, source=self.source)
        copies = self.copies or None
        if self.kind == "spikes":
            return Event("spikes", step=self.step, pending=self.pending, data={k: v[0] for k, v in self.spikes.items()}, copies=copies)
        data = self.potentials if self.kind == "potentials" else self.weights
        return Event(self.kind, step=self.step, pending=self.pending, data=data, copies=copies)


def decode_frame(buf: bytes, populations: Sequence[str], connections: Sequence[str]) -> Frame:
    """Decode a binary frame; ``populations`` and ``connections`` are the
    hello's names in order (the frame refers to them by index)."""
    mv = memoryview(buf)
    version, kind, flags, id_len, step, steps, count = _HEADER.unpack_from(mv, 0)
    if version != BINARY_VERSION:
        raise ValueError(f"binary frame version {version}; this client reads {BINARY_VERSION}")

    rid = json.loads(bytes(mv[24 : 24 + id_len])) if id_len else None
    frame = Frame(kind=_KINDS.get(kind, f"kind{kind}"), id=rid, pending=bool(flags & 1), step=int(step), steps=steps)
    # A batch's per-copy values, gathered copy by copy (spikes [steps][copies]), made arrays at the end.
    spikes: dict[str, list[list[np.ndarray]]] = {}
    counts: dict[str, list[np.ndarray]] = {}
    potentials: dict[str, list[np.ndarray]] = {}
    rewards: list[float] = []
    off = 24 + ((id_len + 3) & ~3)
    for _ in range(count):
        typ, _zero, index, a, b = _SECTION.unpack_from(mv, off)
        off += 12
        per_copy = len(frame.copies) > 0
        if typ == 1:
            cnt = np.frombuffer(mv, dtype="<u4", count=a, offset=off)
            idx = np.frombuffer(mv, dtype="<u4", count=b, offset=off + 4 * a).astype(np.int64)
            lists = np.split(idx, np.cumsum(cnt[:-1], dtype=np.int64)) if a else []
            name = populations[index]
            if not per_copy:
                frame.spikes[name] = lists
            else:
                per_step = spikes.setdefault(name, [[] for _ in lists])
                for t, s in enumerate(lists):
                    per_step[t].append(s)
            off += 4 * (a + b)
        elif typ == 2:
            v = np.frombuffer(mv, dtype="<u4", count=a, offset=off).astype(np.int64)
            if per_copy:
                counts.setdefault(populations[index], []).append(v)
            else:
                frame.spike_counts[populations[index]] = v
            off += 4 * a
        elif typ == 3:
            v = np.frombuffer(mv, dtype="<f4", count=a, offset=off).astype(np.float64)
            if per_copy:
                potentials.setdefault(populations[index], []).append(v)
            else:
                frame.potentials[populations[index]] = v
            off += 4 * a
        elif typ == 4:
            frame.weights[connections[index]] = np.frombuffer(mv, dtype="<f4", count=a * b, offset=off).astype(np.float64).reshape(a, b)
            off += 4 * a * b
        elif typ == 5:
            frame.source = _REWARD_SOURCES.get(a, str(a))
            (reward,) = struct.unpack_from("<d", mv, off)
            if per_copy:
                rewards.append(reward)
            else:
                frame.reward = reward
            off += 8
        elif typ == _COPY_SECTION:
            frame.copies.append(int(a))
        else:
            raise ValueError(f"unknown section type {typ} in a binary frame")
    frame.spikes.update(spikes)
    for k, vs in counts.items():
        frame.spike_counts[k] = np.stack(vs)
    for k, vs in potentials.items():
        frame.potentials[k] = np.stack(vs)
    if frame.kind == "reward" and frame.copies:
        # Every copy's reward, indexed by copy, as the JSON event's list.
        if frame.copies != list(range(len(frame.copies))) or len(rewards) != len(frame.copies):
            raise ValueError(f"a binary reward event with copies {frame.copies} and {len(rewards)} rewards, not one per copy in order")
        frame.reward = np.asarray(rewards, dtype=np.float64)
        frame.copies = []
    return frame


def reward_value(reward: float | Sequence[Any] | np.ndarray) -> float | list[Any]:
    """A reward for a JSON request: a number, or a list (a batch's one per copy,
    or one per step), numpy's included."""
    if isinstance(reward, (int, float, np.number)):
        return float(reward)
    return to_json_value(np.asarray(reward, dtype=np.float64))


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
