"""The multiplexed WebSocket (``/v1/ws``, docs/websocket.md "One socket, many
sessions"), for asyncio: one socket driving many sessions, each command naming
its session, and ``step_batch`` stepping many in one message.

Replies come in the order the requests were sent, one each, so requests are
matched to replies first in, first out; every request also carries an id,
checked against its reply's. A socket that drops is opened again, and the
sessions' states tell which unanswered commands ran (see
:class:`AsyncMultiplexSocket`).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Sequence

import numpy as np

from .batch_frame import BatchRequest, BatchResult, batch_arrays, decode_batch_reply
from .errors import CommandLostError, ConnectionLostError, SpikeserveError, error_from
from .results import StepResult, to_json_value
from .socket import AsyncSessionSocket, _close_error, _CommandSocket, _open_socket, _reopen, _weights_of_reply


def outcome_error(outcome: Mapping[str, Any]) -> SpikeserveError:
    """The exception of a failed batch outcome (``{"ok": false, "error": …}``)."""
    e = outcome["error"]
    return error_from(e["code"], e["message"], e.get("details"))


# What a command does to the sessions it names, for resuming after a drop:
# ("step", steps, defer), ("reward", 0, False), or ("opaque", 0, False) for
# a reset or a weight write, whose effect on (step, pending) is not replayed.
_Effect = tuple[str, str, int, bool]

#: Close codes after which opening the socket again cannot succeed.
_FINAL_CLOSE_CODES = frozenset({1002, 1007, 1009, 4400, 4401, 4403, 4422})


@dataclass
class _MuxRequest:
    id: int
    type: str
    message: str | bytes
    future: asyncio.Future[Any]
    decode: Callable[[Any], Any]
    effects: list[_Effect]
    sent: bool = False


def _effects(type_: str, fields: Mapping[str, Any]) -> list[_Effect]:
    if type_ == "step":
        return [(fields["session"], "step", int(fields.get("steps", 1)), bool(fields.get("deferReward", False)))]
    if type_ == "step_batch":
        return [(i["id"], "step", int(i.get("steps", 1)), bool(i.get("deferReward", False))) for i in fields["items"]]
    if type_ == "reward":
        return [(fields["session"], "reward", 0, False)]
    if type_ in ("reset", "set_weights"):
        return [(fields["session"], "opaque", 0, False)]
    return []


class AsyncMultiplexSocket(_CommandSocket):
    """One socket for many sessions. Open it with
    :meth:`AsyncClient.multiplex <spikeserve.AsyncClient.multiplex>`; use it as
    an ``async with`` context manager, or call :meth:`close`.

    Every command takes the session's id first, then the arguments of the
    same command on :class:`~spikeserve.AsyncSessionSocket`; several may be
    awaited together, and the server runs one session's commands in the order
    sent. :meth:`step_batch` steps many sessions in one message, and
    :meth:`step_arrays` does it with numpy arrays in a binary frame each way.
    Other replies are JSON (float64 values).

    **Reconnecting** (``reconnect=True``, the default, given a way to read a
    session, as :meth:`AsyncClient.multiplex` gives): when the socket drops
    for any reason but a refusal that would recur, it is opened again (up to
    ``max_reconnect_attempts`` times, with growing delays), and what ran is
    told as on a session's socket. The server runs the messages it read
    before the drop and no later one, so those that ran are the first ones
    sent: the client reads each session that unanswered commands change (its
    read waits for the commands already queued on it) and replays on its
    last acknowledged (step, pending) what each unanswered message would do
    to it (a step adds its steps and sets pending to its deferral, a reward
    clears pending; a ``step_batch``'s items each do so to their session).
    The numbers of messages that give every such session the state it shows
    say which ran:

    * a message that ran in every such count raises
      :class:`~spikeserve.CommandLostError` with ``applied=True`` (it ran, and
      is on disk, but its reply is lost);
    * one that ran in none is sent again, in order, on the new socket: its
      caller gets its reply as if nothing had happened;
    * otherwise, or when a ``reset`` or ``set_weights`` was unanswered, or a
      session could not be read, every unanswered message that changes a
      session raises ``CommandLostError`` with ``applied=None``;
    * unanswered reads (``weights``, ``snapshot``) are sent again unless a
      message after them ran (then ``applied=True``).

    A session the socket has not yet had a reply about has no acknowledged
    state, and tells nothing. When reconnecting fails, every waiting command
    and every later one raises :class:`~spikeserve.ConnectionLostError` (or
    the refusal's own exception)."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
        open_timeout: float = 10.0,
        reconnect: bool = True,
        max_reconnect_attempts: int = 8,
        session_state: Callable[[str], Awaitable[Mapping[str, Any]]] | None = None,
    ):
        self.url = url
        self._headers = dict(headers or {})
        self.timeout = timeout
        self.open_timeout = open_timeout
        self.reconnect = reconnect and session_state is not None
        self.max_reconnect_attempts = max_reconnect_attempts
        self._session_state = session_state
        self.hello: dict[str, Any] = {}
        self.reconnects = 0
        self._ids = itertools.count(1)
        self._pending: collections.deque[_MuxRequest] = collections.deque()
        self._unsent: collections.deque[_MuxRequest] = collections.deque()
        self._flushing = False
        self._ready = True
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._failure: BaseException | None = None
        # (step count, pending) of each session after the last acknowledged command about it.
        self._state: dict[str, tuple[int, bool]] = {}

    async def _open_once(self) -> None:
        ws, msg = await _open_socket(self.url, self._headers, self.open_timeout, lambda m: m.get("multiplex") is True, "the multiplexed hello")
        self._ws = ws
        self.hello = msg

    async def open(self) -> "AsyncMultiplexSocket":
        """Connect and read the hello (raises the server's refusal as its exception)."""
        await self._open_once()
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        return self

    @property
    def max_batch_items(self) -> int:
        """The most items one :meth:`step_batch` may carry (the server's MAX_BATCH_ITEMS)."""
        return int(self.hello["limits"]["maxBatchItems"])

    async def __aenter__(self) -> "AsyncMultiplexSocket":
        return self

    # -- reading --------------------------------------------------------------------------

    def _take(self, rid: Any) -> _MuxRequest:
        if not self._pending:
            raise ConnectionLostError("a reply came with no request waiting")
        req = self._pending.popleft()
        if rid is not None and rid != req.id:
            raise ConnectionLostError(f"reply to request {rid} came where the reply to {req.id} was due")
        return req

    def _dispatch(self, data: str | bytes) -> None:
        if isinstance(data, bytes):  # the reply to a binary step_batch
            req = self._pending[0] if self._pending else None
            if req is None:
                raise ConnectionLostError("a binary frame came with no request waiting")
            result = req.decode(data)
            self._take(result.id)
            self._acknowledge(req, result)
            if not req.future.done():
                req.future.set_result(result)
            return
        msg = json.loads(data)
        t = msg.get("type")
        if t not in ("reply", "error"):
            return  # a message type added later to protocol 1: ignored, as the protocol asks
        req = self._take(msg.get("id"))
        if t == "reply":
            result = req.decode(msg["result"])
            self._acknowledge(req, msg["result"])
            if not req.future.done():  # its caller may have given up waiting
                req.future.set_result(result)
        elif not req.future.done():
            e = msg["error"]
            req.future.set_exception(error_from(e["code"], e["message"], e.get("details")))

    def _acknowledge(self, req: _MuxRequest, result: Any) -> None:
        """Note each session's (step, pending) from a reply."""
        if not req.effects:
            return
        if isinstance(result, BatchResult):
            for i, (sid, _kind, _steps, _defer) in enumerate(req.effects):
                if result.ok[i]:
                    self._state[sid] = (int(result.step[i]), bool(result.pending[i]))
        elif req.type == "step_batch":
            for (sid, _kind, _steps, _defer), o in zip(req.effects, result["results"]):
                if o["ok"]:
                    self._state[sid] = (int(o["result"]["step"]), bool(o["result"]["pending"]))
        elif isinstance(result, Mapping) and "step" in result and "pending" in result:
            self._state[req.effects[0][0]] = (int(result["step"]), bool(result["pending"]))

    def _fail_all(self, err: BaseException) -> None:
        while self._pending:
            fut = self._pending.popleft().future
            if not fut.done():
                fut.set_exception(err)

    def _fail(self, err: BaseException) -> None:
        self._failure = err
        self._unsent.clear()
        self._fail_all(err)

    # -- reconnecting ---------------------------------------------------------------------

    _final_close_codes = _FINAL_CLOSE_CODES
    _passing_refusals = frozenset({"SHUTTING_DOWN", "OVERLOADED"})

    def _reconnect_failed(self, code: int | None, reason: str, last: BaseException | None) -> BaseException:
        return ConnectionLostError(f"the socket closed ({code} {reason}) and reconnecting failed: {last}", code, reason)

    async def _observed(self, sessions: set[str]) -> dict[str, tuple[int, bool]] | None:
        """Each session's (step, pending) now, read after the commands queued on it; None if one cannot be read."""
        out: dict[str, tuple[int, bool]] = {}
        assert self._session_state is not None
        for sid in sessions:
            for attempt in range(8):
                try:
                    info = await self._session_state(sid)
                except SpikeserveError as e:
                    if e.code in ("SESSION_UNAVAILABLE", "OVERLOADED", "SHUTTING_DOWN") and attempt < 7:
                        await asyncio.sleep(0.05 * 2**attempt)
                        continue
                    return None
                except OSError:
                    return None
                out[sid] = (int(info["step"]), bool(info["pending"]))
                break
        return out

    async def _resume(self) -> None:
        unanswered = [r for r in self._pending if r.sent]
        waiting = [r for r in self._pending if not r.sent]
        mutating = [r for r in unanswered if r.effects]
        ran = await self._ran(mutating)
        resend: list[_MuxRequest] = []
        seen = 0  # mutating messages before the one looked at
        for r in unanswered:
            lost: CommandLostError | None = None
            if r.effects:
                seen += 1
                if ran is None:
                    lost = CommandLostError(f"the socket dropped before the reply to {r.type} {r.id}; whether it ran cannot be told", r.type, None)
                elif ran[0] >= seen:
                    lost = CommandLostError(f"{r.type} {r.id} ran, but the socket dropped before its reply", r.type, True)
                elif ran[1] >= seen:
                    lost = CommandLostError(f"the socket dropped before the reply to {r.type} {r.id}; whether it ran cannot be told", r.type, None)
            elif ran is not None and ran[0] > seen:
                lost = CommandLostError(f"the socket dropped before the reply to {r.type} {r.id}", r.type, True)
            if lost is None:
                resend.append(r)
            elif not r.future.done():  # a caller may have cancelled its future
                r.future.set_exception(lost)
        self._pending = collections.deque()
        self._unsent = collections.deque()
        for r in resend + waiting:
            r.sent = False
            self._pending.append(r)
            self._unsent.append(r)

    async def _ran(self, mutating: list[_MuxRequest]) -> tuple[int, int] | None:
        """How many of the unanswered messages that change sessions ran, as the
        fewest and the most that agree with every session's state now; None
        if it cannot be told."""
        if not mutating:
            return (0, 0)
        if any(kind == "opaque" for r in mutating for _s, kind, _n, _d in r.effects):
            return None
        observed = await self._observed({sid for r in mutating for sid, _k, _n, _d in r.effects})
        if observed is None:
            return None
        state = {sid: self._state[sid] for sid in observed if sid in self._state}
        counts = []
        for k in range(len(mutating) + 1):
            if k > 0:
                for sid, kind, steps, defer in mutating[k - 1].effects:
                    if sid not in state:
                        continue
                    step, pending = state[sid]
                    state[sid] = (step + steps, defer) if kind == "step" else (step, False)
            if all(state[sid] == observed[sid] for sid in state):
                counts.append(k)
        self._state.update(observed)
        return (counts[0], counts[-1]) if counts else None

    # -- sending --------------------------------------------------------------------------

    def _send_nowait(self, type_: str, fields: dict[str, Any], decode: Callable[[Any], Any] = lambda r: r) -> asyncio.Future[Any]:
        return self._send_message(type_, lambda rid: json.dumps({"type": type_, "id": rid, **fields}, separators=(",", ":")), decode, _effects(type_, fields))

    def _send_message(self, type_: str, message: Callable[[int], str | bytes], decode: Callable[[Any], Any], effects: list[_Effect]) -> asyncio.Future[Any]:
        """Queue the message ``message(id)`` (JSON text, or a binary frame); ``decode`` makes the reply's result."""
        if self._failure is not None:
            raise self._failure
        if self._closing or self._ws is None:
            raise ConnectionLostError("the socket is closed")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        req = _MuxRequest(rid, type_, message(rid), fut, decode, effects)
        self._queue(req)
        return fut

    # -- commands -------------------------------------------------------------------------

    def step_nowait(self, session_id: str, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> asyncio.Future[StepResult]:
        """Send one session's step without waiting; the future gets its :class:`StepResult`."""
        return self._send_nowait("step", {"session": session_id, **AsyncSessionSocket.step_fields(inputs, **kwargs)}, StepResult.from_json)

    async def step(self, session_id: str, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> StepResult:
        """Run one session's network: the arguments of :meth:`AsyncSessionSocket.step <spikeserve.AsyncSessionSocket.step>`."""
        return await self._wait(self.step_nowait(session_id, inputs, **kwargs))

    def reward_nowait(self, session_id: str, reward: float | Sequence[float] | np.ndarray) -> asyncio.Future[dict[str, Any]]:
        """Send one session's reward without waiting for its reply."""
        return self._send_nowait("reward", {"session": session_id, "reward": to_json_value(reward)})

    async def reward(self, session_id: str, reward: float | Sequence[float] | np.ndarray) -> dict[str, Any]:
        """Complete one session's pending step (a batch's: one reward per copy, or one for all); ``{step, pending}``."""
        return await self._wait(self.reward_nowait(session_id, reward))

    async def reset(self, session_id: str, weights: bool = False) -> dict[str, Any]:
        """Reset one session (and its initial weights with ``weights=True``)."""
        return await self._wait(self._send_nowait("reset", {"session": session_id, "weights": bool(weights)}))

    async def weights(self, session_id: str, connection: str | None = None) -> dict[str, np.ndarray]:
        """One session's weights, every connection's (or one's), each a ``[pre.n, post.n]`` array."""
        f: dict[str, Any] = {"session": session_id}
        if connection is not None:
            f["connection"] = connection
        return await self._wait(self._send_nowait("weights", f, _weights_of_reply))

    async def set_weights(self, session_id: str, connection: str, weights: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Replace a connection's weights in one session (clamped into its bounds); the weights now held."""
        r = await self._wait(self._send_nowait("set_weights", {"session": session_id, "connection": connection, "weights": to_json_value(weights)}, _weights_of_reply))
        return r[connection]

    async def snapshot(self, session_id: str) -> dict[str, Any]:
        """One session's snapshot (as ``GET .../snapshot``)."""
        return await self._wait(self._send_nowait("snapshot", {"session": session_id}))

    def step_batch_nowait(self, items: Sequence[Mapping[str, Any]]) -> asyncio.Future[list[dict[str, Any]]]:
        """Send a ``step_batch`` without waiting: ``items`` as ``POST /v1/batch/step`` takes them (each
        ``{"id": session, …step fields}``); the future gets the raw outcomes, one per item, in order."""
        return self._send_nowait("step_batch", {"items": items}, lambda r: r["results"])

    async def step_batch(self, items: Sequence[Mapping[str, Any]]) -> list[StepResult | SpikeserveError]:
        """Step many sessions in one message; per item, its :class:`StepResult` or the error it alone got."""
        outcomes = await self._wait(self.step_batch_nowait(items))
        return [StepResult.from_json(o["result"]) if o["ok"] else outcome_error(o) for o in outcomes]

    def step_arrays_nowait(self, request: BatchRequest, arrays: Sequence[np.ndarray]) -> asyncio.Future[BatchResult]:
        """Send a binary ``step_batch`` without waiting: ``request`` says what every
        call of its shape shares, ``arrays`` are this call's (see
        :class:`~spikeserve.batch_frame.BatchRequest`); the future gets its
        :class:`~spikeserve.batch_frame.BatchResult`."""
        return self._send_message(
            "step_batch",
            lambda rid: request.frame(rid, arrays),
            lambda b: decode_batch_reply(b, request.counts, request.potentials),
            [(sid, "step", request.steps, request.defer_reward) for sid in request.sessions],
        )

    async def step_arrays(
        self,
        session_ids: Sequence[str],
        inputs: Mapping[str, Any] | None = None,
        *,
        reward: float | Sequence[float] | np.ndarray | None = None,
        steps: int = 1,
        defer_reward: bool = False,
        counts: Sequence[str] = (),
        potentials: Sequence[str] = (),
    ) -> BatchResult:
        """Step many sessions in one binary ``step_batch``, arrays in and out:
        ``inputs[pop]`` is an ``[N, n]`` array (row ``i`` is ``session_ids[i]``'s)
        or one vector for all, held for every step; ``reward`` one number per
        session or one for all. Sessions of a batch network (``batch_size`` B)
        also take ``[N, B, n]`` inputs and ``[N, B]`` rewards, one per copy
        (then every array goes per copy, an ``[N, n]`` row or a session's one
        reward repeated for its copies). The result has, per population of ``counts``,
        the ``[N, n]`` spike counts over the call, per population of
        ``potentials`` the ``[N, n]`` potentials after it (float64), each
        session's step count and flags, and the errors of the sessions that
        failed (the others ran)."""
        packed = batch_arrays(inputs, reward, len(session_ids))
        if packed is None:
            raise ValueError(
                "step_arrays takes per population an [N, n] array, one vector, or [N, B, n] (one vector per copy, B > 1),"
                " and rewards as one number, one per session, or [N, B]"
            )
        shapes, arrays, has_reward, rows = packed
        request = BatchRequest(
            session_ids, shapes, rewards=has_reward, steps=steps, defer_reward=defer_reward, counts=counts, potentials=potentials, copy_rows=rows
        )
        return await self._wait(self.step_arrays_nowait(request, arrays))
