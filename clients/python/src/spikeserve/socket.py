"""A session's WebSocket (README "WebSocket API"), for asyncio: commands with
pipelining, stream events, and reconnecting after a drop.

Replies come in the order the requests were sent, one each, so requests are
matched to replies first in, first out; every request also carries an id,
checked against its reply's.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence

import numpy as np

from .errors import CommandLostError, ConnectionLostError, SpikeserveError, error_from
from .results import Event, StepResult, decode_frame, reward_value, to_json_value, weights_from_json

try:  # websockets >= 13
    from websockets.asyncio.client import connect as _ws_connect

    _HEADERS_KW = "additional_headers"
except ImportError:  # websockets 10 to 12 (Debian 12 ships 10.4)
    from websockets import connect as _ws_connect  # type: ignore[no-redef,attr-defined]

    _HEADERS_KW = "extra_headers"
from websockets.exceptions import ConnectionClosed, InvalidHandshake

PROTOCOL = 1
#: Commands that change the session; the others only read it.
MUTATING = frozenset({"step", "reward", "reset", "set_weights"})
# Close codes after which opening the socket again cannot succeed.
_FINAL_CLOSE_CODES = frozenset({1002, 1007, 1009, 4400, 4401, 4403, 4404, 4422})
# Refusals of a new socket that pass: the server has not seen the old socket go
# yet, is restarting, or (a cluster) the session's node is.
_PASSING_REFUSALS = frozenset({"WS_CONTROLLER_TAKEN", "SHUTTING_DOWN", "OVERLOADED", "SESSION_UNAVAILABLE"})


@dataclass
class _Request:
    id: int
    type: str
    message: str
    future: asyncio.Future[Any]
    steps: int = 0
    defer: bool = False
    decode: Callable[[Any], Any] = field(default=lambda r: r)
    sent: bool = False


def _close_info(e: BaseException) -> tuple[int | None, str]:
    if hasattr(e, "rcvd"):  # websockets >= 10
        rcvd = e.rcvd
        return (rcvd.code, rcvd.reason) if rcvd is not None else (1006, "")
    return getattr(e, "code", None), getattr(e, "reason", "") or ""


def _close_error(code: int | None, reason: str) -> BaseException:
    """What waiting commands raise once the socket has closed: the server's error when the reason names one."""
    name = reason.split(":", 1)[0] if reason else ""
    if code is not None and code >= 4000 and name.isupper():
        return error_from(name, reason.split(":", 1)[1].strip() if ":" in reason else reason)
    return ConnectionLostError(f"the socket closed ({code} {reason})", code, reason)


async def _open_socket(url: str, headers: Mapping[str, str], open_timeout: float, is_hello: Callable[[dict[str, Any]], bool], expected: str) -> tuple[Any, dict[str, Any]]:
    """Connects and reads the first message: the socket and its hello (``is_hello``
    tells it apart), or the server's refusal raised as its exception."""
    kwargs: dict[str, Any] = {"max_size": 2**26, "compression": None, "open_timeout": open_timeout}
    if headers:
        kwargs[_HEADERS_KW] = headers
    ws = await _ws_connect(url, **kwargs)
    try:
        first = await asyncio.wait_for(ws.recv(), open_timeout)
        msg = json.loads(first)
        if msg.get("type") == "error":
            e = msg["error"]
            raise error_from(e["code"], e["message"], e.get("details"))
        if msg.get("type") != "hello" or msg.get("protocol") != PROTOCOL or not is_hello(msg):
            raise ConnectionLostError(f"expected {expected} of protocol {PROTOCOL}, got {first[:200]!r}")
    except BaseException:
        await ws.close()
        raise
    return ws, msg


async def _reopen(open_once: Callable[[], Awaitable[None]], attempts: int, passing: frozenset[str]) -> tuple[bool, BaseException | None]:
    """Opens the socket again, up to ``attempts`` times with growing waits: whether
    it is open, and the last failure (a refusal whose code is not in ``passing``
    ends the tries)."""
    delay = 0.05
    last: BaseException | None = None
    for _ in range(attempts):
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
        try:
            await open_once()
        except (OSError, InvalidHandshake, ConnectionClosed, asyncio.TimeoutError, ConnectionLostError) as e:
            last = e
            continue
        except SpikeserveError as e:
            last = e
            if e.code in passing:
                continue
            break
        return True, last
    return False, last


class _CommandSocket:
    """What both sockets (a session's, the multiplexed one) do alike: read
    messages until the socket closes (then opening it again, _recover), wait
    for a reply, close."""

    timeout: float | None
    _ws: Any
    _reader: asyncio.Task[None] | None
    _closing: bool
    _failure: BaseException | None
    # Commands waiting for their replies, and those waiting to be sent (each with
    # .message and .sent); whether a socket is open to send them on.
    _pending: collections.deque[Any]
    _unsent: collections.deque[Any]
    _ready: bool
    _flushing: bool

    def _dispatch(self, data: str | bytes) -> None:
        raise NotImplementedError

    def _fail(self, err: BaseException) -> None:
        """Nobody would ever answer: every waiting command and every later one raises ``err``."""
        raise NotImplementedError

    def _fail_all(self, err: BaseException) -> None:
        raise NotImplementedError

    reconnect: bool
    max_reconnect_attempts: int
    reconnects: int
    # Close codes after which opening the socket again cannot succeed, and the refusals of a new socket that pass.
    _final_close_codes: frozenset[int]
    _passing_refusals: frozenset[str]

    async def _open_once(self) -> None:
        """Opens a socket and reads its hello."""
        raise NotImplementedError

    async def _resume(self) -> None:
        """After opening the socket again: settles the commands left without a reply."""
        raise NotImplementedError

    def _reconnect_failed(self, code: int | None, reason: str, last: BaseException | None) -> BaseException:
        """What waiting commands raise when the socket could not be opened again."""
        raise NotImplementedError

    async def _recover(self, code: int | None, reason: str) -> None:
        """After a drop: opens the socket again and resumes, or fails every waiting command."""
        self._ready = False
        if not self.reconnect or code in self._final_close_codes:
            self._fail(_close_error(code, reason))
            return
        opened, last = await _reopen(self._open_once, self.max_reconnect_attempts, self._passing_refusals)
        if opened:
            self.reconnects += 1
            await self._resume()
            self._ready = True
            self._send_waiting()
            return
        self._fail(self._reconnect_failed(code, reason, last))

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await self._ws.recv()
            except ConnectionClosed as e:
                if self._closing:
                    return
                code, reason = _close_info(e)
                try:
                    await self._recover(code, reason)
                except Exception as err:  # nobody would ever answer the waiting callers
                    self._fail(err)
                    return
                if self._failure is not None:
                    return
                continue
            try:
                self._dispatch(data)
            except Exception as e:  # a message this client cannot read: fail loudly, not silently
                self._fail(e)
                await self._ws.close()
                return

    def _queue(self, req: Any) -> None:
        """A command waits for its reply, and to be sent, in order, once a socket is open."""
        self._pending.append(req)
        self._unsent.append(req)
        self._send_waiting()

    def _send_waiting(self) -> None:
        """Starts the writer, unless it runs or no socket is open."""
        if self._ready and self._unsent and not self._flushing:
            self._flushing = True
            asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        """Send what waits, in order, one writer at a time (so sends never interleave)."""
        try:
            while self._unsent and self._ready:
                ws = self._ws
                req = self._unsent.popleft()
                req.sent = True
                try:
                    await ws.send(req.message)
                except ConnectionClosed:
                    if ws is self._ws:
                        # The read loop sees the drop, resumes (sending this again if it
                        # did not run) and then flushes again.
                        return
                    # The socket was replaced while this send waited, and the resume saw
                    # this writer still busy: go on, on the new socket.
        finally:
            self._flushing = False

    async def _wait(self, fut: asyncio.Future[Any]) -> Any:
        if self.timeout is None:
            return await fut
        return await asyncio.wait_for(asyncio.shield(fut), self.timeout)

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the socket (after the replies to what was sent, which the
        server sends before it handles the close)."""
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


class AsyncSessionSocket(_CommandSocket):
    """A controller (or observer) socket on one session. Open it with
    :meth:`AsyncSession.connect <spikeserve.AsyncSession.connect>` or
    :meth:`AsyncClient.connect <spikeserve.AsyncClient.connect>`; use it as an
    ``async with`` context manager, or call :meth:`close`.

    Every command method sends at once and returns the reply; several may be
    awaited together (``asyncio.gather``) or through :meth:`step_many`, and the
    server runs them in the order sent. ``format="binary"`` (the default) has
    the server send spikes, potentials and weights as binary frames, decoded
    into the same numpy results (potentials and weights are then float32
    values; ``format="json"`` gives the engine's float64).

    **Reconnecting** (``reconnect=True``, the default): when the socket drops
    for any reason but a refusal that would recur (unknown session, bad key,
    bad parameters), it is opened again, up to ``max_reconnect_attempts``
    times with growing delays, and the session's step count and pending flag
    in the new hello say which of the unanswered commands ran:

    * a command whose reply arrived ran, and is on disk;
    * unanswered ``step`` and ``reward`` commands: the client replays on the
      last acknowledged state what each would do to (step count, pending), and
      finds the one prefix that gives the state the server reports. Those in
      the prefix ran, but their replies are lost: each raises
      :class:`~spikeserve.CommandLostError` with ``applied=True``. The rest
      did not run, and are sent again, in order, on the new socket: their
      callers get their replies as if nothing happened;
    * if a ``reset`` or ``set_weights`` was unanswered, or no single prefix
      matches, every unanswered command that changes the session raises
      ``CommandLostError`` with ``applied=None`` (read the session to know);
    * unanswered reads (``weights``, ``snapshot``) after the prefix are sent
      again; subscriptions are renewed; events of the steps in between are
      lost.

    When reconnecting fails, every waiting command and every later one raises
    :class:`~spikeserve.ConnectionLostError`.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        ticket: Callable[[], Awaitable[str]] | None = None,
        timeout: float | None = 30.0,
        open_timeout: float = 10.0,
        reconnect: bool = True,
        max_reconnect_attempts: int = 8,
    ):
        self.url = url
        self._headers = dict(headers or {})
        self._ticket = ticket
        self.timeout = timeout
        self.open_timeout = open_timeout
        self.reconnect = reconnect
        self.max_reconnect_attempts = max_reconnect_attempts
        self.hello: dict[str, Any] = {}
        self.populations: dict[str, int] = {}
        self.connections: list[str] = []
        self.reconnects = 0
        self._ids = itertools.count(1)
        self._pending: collections.deque[_Request] = collections.deque()
        self._unsent: collections.deque[_Request] = collections.deque()
        self._flushing = False
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = False
        self._closing = False
        self._failure: BaseException | None = None
        # (step count, pending) after the last acknowledged command that changes the session.
        self._state: tuple[int, bool] = (0, False)
        # (step count, pending) in the latest hello.
        self._observed: tuple[int, bool] = (0, False)

    # -- opening, closing ---------------------------------------------------------------

    async def _open_once(self) -> None:
        url = self.url
        if self._ticket is not None:
            url += ("&" if "?" in url else "?") + "ticket=" + await self._ticket()
        ws, msg = await _open_socket(url, self._headers, self.open_timeout, lambda m: True, "a hello")
        self._ws = ws
        self.hello = msg
        self.populations = {p["name"]: int(p["n"]) for p in msg["populations"]}
        self.connections = [c["name"] for c in msg["connections"]]
        s = msg["session"]
        self._observed = (int(s["step"]), bool(s["pending"]))

    async def open(self) -> "AsyncSessionSocket":
        """Connect and read the hello (raises the server's refusal as its exception)."""
        await self._open_once()
        self._state = self._observed
        self._ready = True
        self._send_waiting()
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        return self

    async def __aenter__(self) -> "AsyncSessionSocket":
        return self

    @property
    def session_id(self) -> str:
        return str(self.hello["session"]["id"])

    @property
    def step_count(self) -> int:
        """The session's step count after the last acknowledged command."""
        return self._state[0]

    @property
    def batch_size(self) -> int:
        """The session's copies (the hello's ``batchSize``; 1 for a network of one copy)."""
        return int(self.hello["session"].get("batchSize", 1))

    # -- reading --------------------------------------------------------------------------

    def _dispatch(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            frame = decode_frame(data, list(self.populations), self.connections)
            if frame.kind in ("step", "weights") and frame.id is not None:
                req = self._take(frame.id)
                if req is not None:
                    if frame.kind == "step":
                        self._resolve(req, frame.step_result())
                    else:
                        self._resolve(req, frame.weights)
                return
            self._events.put_nowait(frame.event())
            return
        msg = json.loads(data)
        t = msg.get("type")
        if t == "reply":
            req = self._take(msg.get("id"))
            if req is not None:
                self._resolve(req, req.decode(msg["result"]))
        elif t == "error":
            req = self._take(msg.get("id"))
            e = msg["error"]
            err = error_from(e["code"], e["message"], e.get("details"))
            if req is not None:
                if not req.future.done():
                    req.future.set_exception(err)
            else:
                self._events.put_nowait(Event("error", data={}, source=f"{e['code']}: {e['message']}"))
        elif t in ("spikes", "potentials", "weights", "reward", "dropped"):
            self._events.put_nowait(Event.from_json(msg))
        # Other types (added later to protocol 1) are ignored, as the README asks.

    def _take(self, rid: Any) -> _Request | None:
        if not self._pending:
            return None
        req = self._pending.popleft()
        if rid is not None and rid != req.id:
            raise ConnectionLostError(f"reply to request {rid} came where the reply to {req.id} was due")
        return req

    def _resolve(self, req: _Request, result: Any) -> None:
        if req.type == "step":
            self._state = (result.step, result.pending)
        elif req.type in ("reward", "reset"):
            self._state = (int(result["step"]), bool(result["pending"]))
        if not req.future.done():
            req.future.set_result(result)

    # -- reconnecting ---------------------------------------------------------------------

    _final_close_codes = _FINAL_CLOSE_CODES
    _passing_refusals = _PASSING_REFUSALS

    def _reconnect_failed(self, code: int | None, reason: str, last: BaseException | None) -> BaseException:
        return _close_error(code, f"{reason} (reconnecting failed: {last})" if last else reason)

    def _fail(self, err: BaseException) -> None:
        self._failure = err
        self._fail_all(err)

    def _fail_all(self, err: BaseException) -> None:
        while self._pending:
            req = self._pending.popleft()
            if not req.future.done():
                req.future.set_exception(err)

    def _applied_prefix(self, unanswered: Sequence[_Request]) -> int | None:
        """How many of the unanswered commands that change the session ran,
        from the state the new hello reports; None if it cannot be told."""
        mutating = [r for r in unanswered if r.type in MUTATING]
        if any(r.type in ("reset", "set_weights") for r in mutating):
            return None
        step, pending = self._state
        states = [(step, pending)]
        for r in mutating:
            if r.type == "step":
                step, pending = step + r.steps, r.defer
            elif pending:  # a reward with nothing pending is refused and changes nothing
                pending = False
            states.append((step, pending))
        matches = [i for i, s in enumerate(states) if s == self._observed]
        return matches[0] if len(matches) == 1 else None

    async def _resume(self) -> None:
        unanswered = [r for r in self._pending if r.sent]
        waiting = [r for r in self._pending if not r.sent]
        k = self._applied_prefix(unanswered)
        resend: list[_Request] = []
        seen_mutating = 0
        for r in unanswered:
            lost: CommandLostError | None = None
            if k is None:
                if r.type in MUTATING:
                    lost = CommandLostError(f"the socket dropped before the reply to {r.type} {r.id}; whether it ran cannot be told", r.type, None)
            elif r.type in MUTATING:
                seen_mutating += 1
                if seen_mutating <= k:
                    lost = CommandLostError(f"{r.type} {r.id} ran, but the socket dropped before its reply", r.type, True)
            elif seen_mutating < k:
                lost = CommandLostError(f"the socket dropped before the reply to {r.type} {r.id}", r.type, True)
            if lost is None:
                resend.append(r)
            elif not r.future.done():  # a caller may have cancelled its future
                r.future.set_exception(lost)
        self._state = self._observed
        self._pending = collections.deque()
        self._unsent = collections.deque()
        for sub in self._subscriptions.values():
            self._send_nowait("subscribe", dict(sub)).add_done_callback(_ignore_outcome)
        for r in resend + waiting:
            r.sent = False
            self._pending.append(r)
            self._unsent.append(r)

    # -- sending --------------------------------------------------------------------------

    def _send_nowait(self, type_: str, fields: dict[str, Any], decode: Callable[[Any], Any] | None = None) -> asyncio.Future[Any]:
        if self._failure is not None:
            raise self._failure
        if self._closing:
            raise ConnectionLostError("the socket is closed")
        rid = next(self._ids)
        msg = {"type": type_, "id": rid, **fields}
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        req = _Request(rid, type_, json.dumps(msg, separators=(",", ":")), fut)
        if decode is not None:
            req.decode = decode
        if type_ == "step":
            req.steps = int(fields.get("steps", 1))
            req.defer = bool(fields.get("deferReward", False))
        self._queue(req)
        return fut

    # -- commands -------------------------------------------------------------------------

    @staticmethod
    def step_fields(
        inputs: Mapping[str, Any] | None = None,
        *,
        steps: int = 1,
        reward: float | Sequence[float] | np.ndarray | None = None,
        defer_reward: bool = False,
        populations: Sequence[str] | None = None,
        spikes: str = "steps",
        potentials: bool = False,
        weights: bool = False,
        copies: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        """The fields of a step request (as over HTTP) from keyword arguments."""
        f: dict[str, Any] = {}
        if inputs:
            f["inputs"] = to_json_value(inputs)
        if steps != 1:
            f["steps"] = int(steps)
        if reward is not None:
            f["reward"] = reward_value(reward)
        if defer_reward:
            f["deferReward"] = True
        ret: dict[str, Any] = {}
        if populations is not None:
            ret["populations"] = list(populations)
        if spikes != "steps":
            ret["spikes"] = spikes
        if potentials:
            ret["potentials"] = True
        if weights:
            ret["weights"] = True
        if copies is not None:
            ret["copies"] = [int(b) for b in copies]
        if ret:
            f["return"] = ret
        return f

    def step_nowait(self, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> asyncio.Future[StepResult]:
        """Send a step without waiting; the future gets its :class:`StepResult`.
        Takes the arguments of :meth:`step`."""
        return self._send_nowait("step", self.step_fields(inputs, **kwargs), StepResult.from_json)

    async def step(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        steps: int = 1,
        reward: float | Sequence[float] | np.ndarray | None = None,
        defer_reward: bool = False,
        populations: Sequence[str] | None = None,
        spikes: str = "steps",
        potentials: bool = False,
        weights: bool = False,
        copies: Sequence[int] | None = None,
    ) -> StepResult:
        """Run ``steps`` network steps. ``inputs`` maps a population to a number
        (every neuron), a vector (one current per neuron) or a ``[steps, n]``
        array; ``reward`` is a number or one per step; ``defer_reward`` leaves
        the last step's update pending until :meth:`reward`. ``spikes`` is
        ``"steps"`` (indices per step), ``"counts"`` or ``"none"``.

        Of a batch (:attr:`batch_size` B > 1), an input is also a ``[B, n]``
        array (a vector per copy) or ``[steps, B, n]``, and ``reward`` a number
        (every copy), B numbers (one per copy), or one of those per step;
        ``copies`` returns the spikes and potentials of those copies only, in
        that order (default every copy; see :class:`StepResult`)."""
        return await self._wait(
            self.step_nowait(
                inputs,
                steps=steps,
                reward=reward,
                defer_reward=defer_reward,
                populations=populations,
                spikes=spikes,
                potentials=potentials,
                weights=weights,
                copies=copies,
            )
        )

    async def step_many(
        self,
        inputs: Iterable[Mapping[str, Any] | None],
        *,
        rewards: Iterable[float | None] | None = None,
        window: int = 64,
        **kwargs: Any,
    ) -> AsyncIterator[StepResult]:
        """Step once per item of ``inputs`` (with the matching item of
        ``rewards``, if given), keeping up to ``window`` requests in flight, and
        yield the results in order. Other keyword arguments are those of
        :meth:`step`, for every request."""
        if window < 1:
            raise ValueError("window must be at least 1")
        inflight: collections.deque[asyncio.Future[StepResult]] = collections.deque()
        rewards_it = iter(rewards) if rewards is not None else itertools.repeat(None)
        try:
            for x in inputs:
                r = next(rewards_it, None)
                inflight.append(self.step_nowait(x, reward=r, **kwargs))
                if len(inflight) >= window:
                    yield await self._wait(inflight.popleft())
            while inflight:
                yield await self._wait(inflight.popleft())
        finally:
            for f in inflight:  # the caller stopped early: the replies still come, nobody waits for them
                f.add_done_callback(_ignore_outcome)

    async def reward(self, reward: float | Sequence[float] | np.ndarray) -> dict[str, Any]:
        """Complete the step left pending by ``defer_reward``; ``{step, pending}``.
        A batch's reward is a number (every copy) or one per copy."""
        return await self._wait(self.reward_nowait(reward))

    def reward_nowait(self, reward: float | Sequence[float] | np.ndarray) -> asyncio.Future[dict[str, Any]]:
        """Send a reward without waiting for its reply."""
        return self._send_nowait("reward", {"reward": reward_value(reward)})

    async def reset(self, weights: bool = False) -> dict[str, Any]:
        """Potentials, traces, eligibility and the step count back to 0 (and the
        initial weights with ``weights=True``)."""
        return await self._wait(self._send_nowait("reset", {"weights": bool(weights)}))

    async def weights(self, connection: str | None = None) -> dict[str, np.ndarray]:
        """Every connection's weights (or one's), each a ``[pre.n, post.n]`` array."""
        f: dict[str, Any] = {} if connection is None else {"connection": connection}
        return await self._wait(self._send_nowait("weights", f, _weights_of_reply))

    async def set_weights(self, connection: str, weights: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Replace a connection's weights (clamped into its bounds); the weights now held."""
        r = await self._wait(self._send_nowait("set_weights", {"connection": connection, "weights": to_json_value(weights)}, _weights_of_reply))
        return r[connection]

    async def snapshot(self) -> dict[str, Any]:
        """The session's snapshot (as ``GET .../snapshot``)."""
        return await self._wait(self._send_nowait("snapshot", {}))

    async def subscribe(
        self,
        stream: str,
        *,
        populations: Sequence[str] | None = None,
        connections: Sequence[str] | None = None,
        copies: Sequence[int] | None = None,
        every: int = 1,
    ) -> dict[str, Any]:
        """Receive ``stream`` events (``spikes``, ``potentials``, ``weights``,
        ``rewards``) every ``every`` steps; read them with :meth:`events` or
        :meth:`next_event`. Of a batch, the spikes and potentials events are of
        ``copies`` (default every copy), in that order. Renewed after a
        reconnection."""
        f: dict[str, Any] = {"stream": stream, "every": int(every)}
        if populations is not None:
            f["populations"] = list(populations)
        if connections is not None:
            f["connections"] = list(connections)
        if copies is not None:
            f["copies"] = [int(b) for b in copies]
        r = await self._wait(self._send_nowait("subscribe", f))
        self._subscriptions[stream] = f
        return r

    async def unsubscribe(self, stream: str | None = None) -> dict[str, Any]:
        """Stop one stream (or all); ``{streams, dropped}``."""
        r = await self._wait(self._send_nowait("unsubscribe", {} if stream is None else {"stream": stream}))
        if stream is None:
            self._subscriptions.clear()
        else:
            self._subscriptions.pop(stream, None)
        return r

    async def next_event(self, timeout: float | None = None) -> Event:
        """The next stream event (raises ``TimeoutError`` after ``timeout`` s)."""
        if self._failure is not None and self._events.empty():
            raise self._failure
        return await asyncio.wait_for(self._events.get(), timeout)

    async def events(self) -> AsyncIterator[Event]:
        """Stream events as they come, until the socket closes."""
        while True:
            try:
                yield await self.next_event(1.0)
            except (asyncio.TimeoutError, TimeoutError):
                if self._closing or self._failure is not None:
                    return


def _ignore_outcome(f: asyncio.Future[Any]) -> None:
    if not f.cancelled():
        f.exception()


def _weights_of_reply(r: Any) -> dict[str, np.ndarray]:
    """A JSON weights reply (all, or one connection's) as ``{connection: array}``."""
    if "connection" in r:
        return {r["connection"]: np.asarray(r["weights"], dtype=np.float64).reshape(len(r["weights"]), -1)}
    return weights_from_json(r["weights"])
