"""The multiplexed WebSocket (``/v1/ws``, docs/websocket.md "One socket, many
sessions"), for asyncio: one socket driving many sessions, each command naming
its session, and ``step_batch`` stepping many in one message.

Replies come in the order the requests were sent, one each, so requests are
matched to replies first in, first out; every request also carries an id,
checked against its reply's. The socket does not reconnect: when it drops,
every waiting command raises :class:`~spikeserve.ConnectionLostError` (open a
new one; the sessions' step counts say what ran).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .batch_frame import BatchRequest, BatchResult, batch_arrays, decode_batch_reply
from .errors import ConnectionLostError, SpikeserveError, error_from
from .results import StepResult, to_json_value
from .socket import _HEADERS_KW, PROTOCOL, AsyncSessionSocket, _close_info, _weights_of_reply, _ws_connect
from websockets.exceptions import ConnectionClosed


def outcome_error(outcome: Mapping[str, Any]) -> SpikeserveError:
    """The exception of a failed batch outcome (``{"ok": false, "error": …}``)."""
    e = outcome["error"]
    return error_from(e["code"], e["message"], e.get("details"))


class AsyncMultiplexSocket:
    """One socket for many sessions. Open it with
    :meth:`AsyncClient.multiplex <spikeserve.AsyncClient.multiplex>`; use it as
    an ``async with`` context manager, or call :meth:`close`.

    Every command takes the session's id first, then the arguments of the
    same command on :class:`~spikeserve.AsyncSessionSocket`; several may be
    awaited together, and the server runs one session's commands in the order
    sent. :meth:`step_batch` steps many sessions in one message, and
    :meth:`step_arrays` does it with numpy arrays in a binary frame each way.
    Other replies are JSON (float64 values)."""

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, timeout: float | None = 30.0, open_timeout: float = 10.0):
        self.url = url
        self._headers = dict(headers or {})
        self.timeout = timeout
        self.open_timeout = open_timeout
        self.hello: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._pending: collections.deque[tuple[int, str, asyncio.Future[Any], Callable[[Any], Any]]] = collections.deque()
        self._unsent: collections.deque[str | bytes] = collections.deque()
        self._flushing = False
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._failure: BaseException | None = None

    async def open(self) -> "AsyncMultiplexSocket":
        """Connect and read the hello (raises the server's refusal as its exception)."""
        kwargs: dict[str, Any] = {"max_size": 2**26, "compression": None, "open_timeout": self.open_timeout}
        if self._headers:
            kwargs[_HEADERS_KW] = self._headers
        ws = await _ws_connect(self.url, **kwargs)
        try:
            first = await asyncio.wait_for(ws.recv(), self.open_timeout)
            msg = json.loads(first)
            if msg.get("type") == "error":
                e = msg["error"]
                raise error_from(e["code"], e["message"], e.get("details"))
            if msg.get("type") != "hello" or msg.get("protocol") != PROTOCOL or msg.get("multiplex") is not True:
                raise ConnectionLostError(f"expected the multiplexed hello of protocol {PROTOCOL}, got {first[:200]!r}")
        except BaseException:
            await ws.close()
            raise
        self._ws = ws
        self.hello = msg
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        return self

    @property
    def max_batch_items(self) -> int:
        """The most items one :meth:`step_batch` may carry (the server's MAX_BATCH_ITEMS)."""
        return int(self.hello["limits"]["maxBatchItems"])

    async def __aenter__(self) -> "AsyncMultiplexSocket":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the socket (after the replies to what was sent)."""
        if self._closing:
            return
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            try:
                await self._reader
            except BaseException:
                pass
        self._fail_all(ConnectionLostError("the socket was closed"))

    # -- reading --------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await self._ws.recv()
            except ConnectionClosed as e:
                code, reason = _close_info(e)
                name = reason.split(":", 1)[0] if reason else ""
                if code is not None and code >= 4000 and name.isupper():
                    err: BaseException = error_from(name, reason.split(":", 1)[1].strip() if ":" in reason else reason)
                else:
                    err = ConnectionLostError(f"the socket closed ({code} {reason})", code, reason)
                self._failure = err
                self._fail_all(err)
                return
            try:
                self._dispatch(data)
            except Exception as e:  # a message this client cannot read: fail loudly, not silently
                self._failure = e
                self._fail_all(e)
                await self._ws.close()
                return

    def _dispatch(self, data: str | bytes) -> None:
        if isinstance(data, bytes):  # the reply to a binary step_batch
            if not self._pending:
                raise ConnectionLostError("a binary frame came with no request waiting")
            rid, _type, fut, decode = self._pending.popleft()
            result = decode(data)
            if result.id is not None and result.id != rid:
                raise ConnectionLostError(f"reply to request {result.id} came where the reply to {rid} was due")
            if not fut.done():
                fut.set_result(result)
            return
        msg = json.loads(data)
        t = msg.get("type")
        if t not in ("reply", "error"):
            return  # a message type added later to protocol 1: ignored, as the protocol asks
        if not self._pending:
            raise ConnectionLostError(f"a {t} came with no request waiting")
        rid, _type, fut, decode = self._pending.popleft()
        if msg.get("id") is not None and msg["id"] != rid:
            raise ConnectionLostError(f"reply to request {msg['id']} came where the reply to {rid} was due")
        if fut.done():  # its caller gave up waiting (timeout, cancelled)
            return
        if t == "reply":
            fut.set_result(decode(msg["result"]))
        else:
            e = msg["error"]
            fut.set_exception(error_from(e["code"], e["message"], e.get("details")))

    def _fail_all(self, err: BaseException) -> None:
        while self._pending:
            fut = self._pending.popleft()[2]
            if not fut.done():
                fut.set_exception(err)

    # -- sending --------------------------------------------------------------------------

    def _send_nowait(self, type_: str, fields: dict[str, Any], decode: Callable[[Any], Any] = lambda r: r) -> asyncio.Future[Any]:
        return self._send_message(type_, lambda rid: json.dumps({"type": type_, "id": rid, **fields}, separators=(",", ":")), decode)

    def _send_message(self, type_: str, message: Callable[[int], str | bytes], decode: Callable[[Any], Any]) -> asyncio.Future[Any]:
        """Queue the message ``message(id)`` (JSON text, or a binary frame); ``decode`` makes the reply's result."""
        if self._failure is not None:
            raise self._failure
        if self._closing or self._ws is None:
            raise ConnectionLostError("the socket is closed")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((rid, type_, fut, decode))
        self._unsent.append(message(rid))
        if not self._flushing:
            self._flushing = True
            asyncio.ensure_future(self._flush())
        return fut

    async def _flush(self) -> None:
        """Send what waits, in order, one writer at a time (so sends never interleave)."""
        try:
            while self._unsent:
                await self._ws.send(self._unsent.popleft())
        except ConnectionClosed:
            self._unsent.clear()  # the read loop fails what waits
        finally:
            self._flushing = False

    async def _wait(self, fut: asyncio.Future[Any]) -> Any:
        if self.timeout is None:
            return await fut
        return await asyncio.wait_for(asyncio.shield(fut), self.timeout)

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
        return self._send_message("step_batch", lambda rid: request.frame(rid, arrays), lambda b: decode_batch_reply(b, request.counts, request.potentials))

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
        session or one for all. The result has, per population of ``counts``,
        the ``[N, n]`` spike counts over the call, per population of
        ``potentials`` the ``[N, n]`` potentials after it (float64), each
        session's step count and flags, and the errors of the sessions that
        failed (the others ran)."""
        packed = batch_arrays(inputs, reward, len(session_ids))
        if packed is None:
            raise ValueError("step_arrays takes per population an [N, n] array or one vector, and rewards as one number or one per session")
        shapes, arrays, has_reward = packed
        request = BatchRequest(session_ids, shapes, rewards=has_reward, steps=steps, defer_reward=defer_reward, counts=counts, potentials=potentials)
        return await self._wait(self.step_arrays_nowait(request, arrays))
