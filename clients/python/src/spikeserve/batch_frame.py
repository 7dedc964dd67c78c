"""The binary ``step_batch`` of the multiplexed socket (docs/websocket.md,
"Binary step_batch"): the request frame built from numpy arrays, and the
reply frame read into numpy arrays, a whole batch at a time (no Python loop
over the sessions)."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import SpikeserveError, error_from

BINARY_VERSION = 1
KIND_REQUEST = 7
KIND_REPLY = 8
_REQUEST_HEADER = struct.Struct("<BBHI")
_REPLY_HEADER = struct.Struct("<BBHIIIII")
_SECTION = struct.Struct("<BBHIII")
_COUNTS, _POTENTIALS = 1, 2
# The status bits, as numpy scalars of the status array's type (a Python int would be converted on every use).
_OK, _PENDING = np.uint8(1), np.uint8(2)


def _pad8(n: int) -> int:
    return (n + 7) & ~7


class BatchRequest:
    """The parts of a binary ``step_batch`` that stay the same from call to
    call (the sessions, the populations with input and their sizes, what the
    reply carries), encoded once: :meth:`frame` then adds the id and the
    arrays of one call. ``copy_rows`` B > 1: each session's entry in every
    array is one row per copy of a batch session of ``batch_size`` B (the
    header's ``copyRows``), rather than one row for all its copies."""

    def __init__(
        self,
        sessions: Sequence[str],
        inputs: Sequence[tuple[str, int]] = (),
        *,
        rewards: bool = False,
        steps: int = 1,
        defer_reward: bool = False,
        counts: Sequence[str] = (),
        potentials: Sequence[str] = (),
        copy_rows: int = 1,
    ):
        self.n = len(sessions)
        self.copy_rows = int(copy_rows)
        self.sessions = list(sessions)
        self.steps = int(steps)
        self.defer_reward = bool(defer_reward)
        self.inputs = [(p, int(w)) for p, w in inputs]
        self.rewards = rewards
        self.counts = list(counts)
        self.potentials = list(potentials)
        rest: dict[str, Any] = {"sessions": list(sessions)}
        if self.inputs:
            rest["inputs"] = [{"population": p, "n": w} for p, w in self.inputs]
        if self.copy_rows != 1:
            rest["copyRows"] = [self.copy_rows] * self.n
        if rewards:
            rest["rewards"] = True
        if steps != 1:
            rest["steps"] = int(steps)
        if defer_reward:
            rest["deferReward"] = True
        if self.counts:
            rest["counts"] = self.counts
        if self.potentials:
            rest["potentials"] = self.potentials
        # The header is {"type":"step_batch","id":<id>,…}: everything after the id, once.
        self._rest = ("," + json.dumps(rest, separators=(",", ":"))[1:]).encode()

    def frame(self, rid: int, arrays: Sequence[np.ndarray]) -> bytes:
        """The frame of request ``rid``: ``arrays`` are float64 and C-ordered,
        each population's ``[N, n]`` input in the order given, then the ``[N]``
        rewards if any (``[N, B, n]`` and ``[N, B]`` with ``copy_rows`` B)."""
        header = b'{"type":"step_batch","id":' + str(rid).encode() + self._rest
        pad = b"\0" * (_pad8(8 + len(header)) - 8 - len(header))
        return b"".join([_REQUEST_HEADER.pack(BINARY_VERSION, KIND_REQUEST, 0, len(header)), header, pad, *arrays])


@dataclass
class BatchResult:
    """The reply to a binary ``step_batch``, one row per session: ``step`` (the
    session's step count after it), ``steps`` (how many ran), ``ok`` (it
    succeeded) and ``pending`` (its update waits for a reward), each an ``[N]``
    array; per population asked for, ``spike_counts`` (spikes per neuron over
    the call) and ``potentials`` (float64, after the call), each an ``[N, n]``
    array (a failed session's row zero; a session of ``batch_size`` B has
    B x n values, copy 0's first: ``reshape(N, B, n)``, as
    :class:`~spikeserve.VectorSession` does); ``errors``, per failed row,
    the exception it alone got."""

    id: Any
    step: np.ndarray
    steps: np.ndarray
    ok: np.ndarray
    pending: np.ndarray
    spike_counts: dict[str, np.ndarray] = field(default_factory=dict)
    potentials: dict[str, np.ndarray] = field(default_factory=dict)
    errors: dict[int, SpikeserveError] = field(default_factory=dict)

    def raise_first(self) -> None:
        """Raise the first failed row's error, with ``details["index"]`` its row."""
        if self.errors:
            i = min(self.errors)
            e = self.errors[i]
            e.details["index"] = i
            raise e


def _rows(sizes: np.ndarray, values: np.ndarray, ok: np.ndarray, all_ok: bool, dtype: Any) -> np.ndarray:
    """A section's values as ``[N, n]`` (failed rows zero); sessions of
    different sizes can only be given as an array of per-row arrays."""
    n = len(sizes)
    # Every row of one size (one network): the values are the array. (Bytes
    # compared rather than a numpy comparison, which costs several times more.)
    if all_ok and n and sizes.tobytes() == sizes[:1].tobytes() * n:
        return values.astype(dtype).reshape(n, int(sizes[0]))
    widths = sizes[ok]
    w = int(widths[0]) if len(widths) else 0
    if (widths == w).all():
        out = np.zeros((n, w), dtype=dtype)
        out[ok] = values.reshape(-1, w) if w else values.reshape(len(widths), 0)
        return out
    rows = np.empty(n, dtype=object)
    rows[:] = np.split(values.astype(dtype), np.cumsum(sizes[:-1], dtype=np.int64))
    return rows


def _id(text: bytes) -> Any:
    """A request id from its JSON text: this client's are integers."""
    return int(text) if text.isdigit() else json.loads(text)


def decode_batch_reply(buf: bytes, counts: Sequence[str], potentials: Sequence[str]) -> BatchResult:
    """Read a binary ``step_batch`` reply; ``counts`` and ``potentials`` are the
    populations the request asked for (sections name them by position)."""
    mv = memoryview(buf)
    version, kind, _flags, id_len, n, nsec, err_len, _zero = _REPLY_HEADER.unpack_from(mv, 0)
    if version != BINARY_VERSION or kind != KIND_REPLY:
        raise ValueError(f"expected a step_batch reply frame (version {BINARY_VERSION}, kind {KIND_REPLY}), got version {version}, kind {kind}")
    rid = _id(bytes(mv[24 : 24 + id_len])) if id_len else None
    o = _pad8(24 + id_len)
    step = np.frombuffer(mv, "<f8", n, o).astype(np.int64)
    o += 8 * n
    steps = np.frombuffer(mv, "<u4", n, o).astype(np.int64)
    o += 4 * n
    status = np.frombuffer(mv, np.uint8, n, o)
    o += _pad8(5 * n) - 4 * n
    ok = (status & _OK).astype(bool)
    all_ok = err_len == 0
    out = BatchResult(rid, step, steps, ok, (status & _PENDING).astype(bool))
    for _ in range(nsec):
        typ, _z, index, _n, k, _z2 = _SECTION.unpack_from(mv, o)
        o += 16
        sizes = np.frombuffer(mv, "<u4", n, o)
        o += _pad8(4 * n)
        if typ == _COUNTS:
            out.spike_counts[counts[index]] = _rows(sizes, np.frombuffer(mv, "<u4", k, o), ok, all_ok, np.int64)
            o += _pad8(4 * k)
        elif typ == _POTENTIALS:
            out.potentials[potentials[index]] = _rows(sizes, np.frombuffer(mv, "<f8", k, o), ok, all_ok, np.float64)
            o += 8 * k
        else:
            raise ValueError(f"unknown section type {typ} in a step_batch reply")
    if err_len:
        for e in json.loads(bytes(mv[o : o + err_len])):
            err = e["error"]
            out.errors[int(e["index"])] = error_from(err["code"], err["message"], err.get("details"))
    return out


def batch_arrays(inputs: Mapping[str, Any] | None, reward: Any, n: int) -> tuple[list[tuple[str, int]], list[np.ndarray], bool, int] | None:
    """The inputs and rewards of ``n`` sessions as the binary frame carries
    them, and the rows each session has in them: 1 (per population an
    ``[N, n]`` float64 array, a row per session or one vector for all, then
    ``[N]`` rewards, one per session or one number for all), or the copies
    ``B`` of batch sessions when any input is ``[N, B, n]`` (a vector per
    copy) or the rewards ``[N, B]``: then every array is per copy,
    ``[N, B, n]`` and ``[N, B]``, a session's row or reward repeated for each
    of its copies. None when they do not fit the frame (a number for every
    neuron, per-step inputs or rewards, per-copy arrays of different B, or
    of one copy): those go as JSON."""
    given: list[tuple[str, np.ndarray]] = []
    copies: set[int] = set()
    for k, v in (inputs or {}).items():
        a = np.asarray(v, dtype="<f8")
        if a.ndim not in (1, 2, 3) or (a.ndim > 1 and a.shape[0] != n):
            return None
        if a.ndim == 3:
            copies.add(a.shape[1])
        given.append((k, a))
    r = None if reward is None else np.asarray(reward, dtype="<f8")
    if r is not None:
        if r.ndim > 2 or (r.ndim >= 1 and r.shape[0] != n):
            return None
        if r.ndim == 2:
            copies.add(r.shape[1])
    if len(copies) > 1 or copies == {1}:
        return None
    b = copies.pop() if copies else 1
    shapes: list[tuple[str, int]] = []
    arrays: list[np.ndarray] = []
    for k, a in given:
        w = a.shape[-1]
        if b > 1 and a.ndim == 2:
            a = a[:, None, :]
        shapes.append((k, w))
        arrays.append(np.ascontiguousarray(np.broadcast_to(a, (n, b, w) if b > 1 else (n, w))))
    if r is not None:
        if b > 1 and r.ndim == 1:
            r = r[:, None]
        arrays.append(np.ascontiguousarray(np.broadcast_to(r, (n, b) if b > 1 else (n,))))
    return shapes, arrays, r is not None, b
