"""Clients for a spikeserve server: :class:`Client` (blocking) and
:class:`AsyncClient` (asyncio), with a handle per session (:class:`Session`,
:class:`AsyncSession`) for the REST endpoints and a WebSocket each
(:class:`SessionSocket`, :class:`~spikeserve.socket.AsyncSessionSocket`), and
the multiplexed WebSocket for many sessions (:class:`MultiplexSocket`,
:class:`~spikeserve.multiplex.AsyncMultiplexSocket`).

The REST calls are described once (:class:`_Call`) and run either directly
(sync) or on a worker thread (asyncio); the blocking socket runs the asyncio
one on a private event-loop thread, so both speak the protocol through the
same code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Coroutine, Iterable, Iterator, Mapping, Sequence, TypeVar

import numpy as np

from ._http import HttpTransport
from .batch_frame import BatchRequest, BatchResult
from .multiplex import AsyncMultiplexSocket
from .results import Event, StepResult, reward_value, to_json_value, weights_from_json
from .socket import AsyncSessionSocket

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:3000"


def _default_key(api_key: str | None) -> str | None:
    return api_key if api_key is not None else (os.environ.get("SPIKESERVE_API_KEY") or None)


@dataclass
class _Call:
    """One REST request and how to read its reply."""

    method: str
    path: str
    body: Any = None
    query: dict[str, Any] | None = None
    decode: Callable[[Any], Any] = lambda r: r


def _sid(session_id: str) -> str:
    return urllib.parse.quote(session_id, safe="")


class _Api:
    """The REST endpoints, as calls."""

    @staticmethod
    def create(network: Mapping[str, Any] | None, seed: int | None, name: str | None, backend: str | None, snapshot: Mapping[str, Any] | None) -> _Call:
        body: dict[str, Any] = {}
        if network is not None:
            body["network"] = to_json_value(network)
        if snapshot is not None:
            body["snapshot"] = snapshot
        if seed is not None:
            body["seed"] = int(seed)
        if name is not None:
            body["name"] = name
        if backend is not None:
            body["backend"] = backend
        return _Call("POST", "/v1/sessions", body)

    @staticmethod
    def list(limit: int | None, cursor: str | None) -> _Call:
        return _Call("GET", "/v1/sessions", query={"limit": limit, "cursor": cursor})

    @staticmethod
    def get(sid: str) -> _Call:
        return _Call("GET", f"/v1/sessions/{_sid(sid)}")

    @staticmethod
    def delete(sid: str) -> _Call:
        return _Call("DELETE", f"/v1/sessions/{_sid(sid)}")

    @staticmethod
    def step(sid: str, fields: dict[str, Any]) -> _Call:
        return _Call("POST", f"/v1/sessions/{_sid(sid)}/step", fields, decode=StepResult.from_json)

    @staticmethod
    def reward(sid: str, reward: float | Sequence[float] | np.ndarray) -> _Call:
        return _Call("POST", f"/v1/sessions/{_sid(sid)}/reward", {"reward": reward_value(reward)})

    @staticmethod
    def reset(sid: str, weights: bool) -> _Call:
        return _Call("POST", f"/v1/sessions/{_sid(sid)}/reset", {"weights": bool(weights)})

    @staticmethod
    def weights(sid: str, connection: str | None) -> _Call:
        if connection is None:
            return _Call("GET", f"/v1/sessions/{_sid(sid)}/weights", decode=lambda r: weights_from_json(r["weights"]))
        return _Call("GET", f"/v1/sessions/{_sid(sid)}/weights/{_sid(connection)}", decode=lambda r: weights_from_json({connection: r["weights"]}))

    @staticmethod
    def set_weights(sid: str, connection: str, weights: Any) -> _Call:
        return _Call(
            "PUT",
            f"/v1/sessions/{_sid(sid)}/weights/{_sid(connection)}",
            {"weights": to_json_value(weights)},
            decode=lambda r: weights_from_json({connection: r["weights"]})[connection],
        )

    @staticmethod
    def state(sid: str, copies: Sequence[int] | None) -> _Call:
        return _Call("GET", f"/v1/sessions/{_sid(sid)}/state", query=None if copies is None else {"copies": [int(b) for b in copies]})

    @staticmethod
    def snapshot(sid: str) -> _Call:
        return _Call("GET", f"/v1/sessions/{_sid(sid)}/snapshot")

    @staticmethod
    def ticket(sid: str) -> _Call:
        return _Call("POST", f"/v1/sessions/{_sid(sid)}/ws-ticket", decode=lambda r: r["ticket"])

    @staticmethod
    def health() -> _Call:
        return _Call("GET", "/healthz")


def _ws_base(base_url: str) -> str:
    return "ws" + base_url[4:] if base_url.startswith("http") else base_url


def _ws_url(base_url: str, sid: str, role: str, fmt: str) -> str:
    if role not in ("controller", "observer"):
        raise ValueError("role must be 'controller' or 'observer'")
    if fmt not in ("json", "binary"):
        raise ValueError("format must be 'json' or 'binary'")
    return f"{_ws_base(base_url)}/v1/sessions/{_sid(sid)}/ws?role={role}&format={fmt}"


class _SessionMethods:
    """The REST calls on one session, written once for :class:`Session` and
    :class:`AsyncSession`: each returns what its client's ``_do`` returns, the
    reply for the blocking client and an awaitable of it for the asyncio one."""

    def __init__(self, client: Any, session_id: str, info: dict[str, Any] | None = None):
        self.client = client
        self.id = session_id
        self.info = info or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"

    def get(self) -> Any:
        """Network, step count, pending update, times, limits, statistics."""
        return self.client._do(_Api.get(self.id))

    def delete(self) -> Any:
        """Delete the session."""
        return self.client._do(_Api.delete(self.id))

    def step(self, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """One step request over HTTP, giving a :class:`StepResult`; arguments as
        :meth:`AsyncSessionSocket.step <spikeserve.socket.AsyncSessionSocket.step>`."""
        return self.client._do(_Api.step(self.id, AsyncSessionSocket.step_fields(inputs, **kwargs)))

    def reward(self, reward: float | Sequence[float] | np.ndarray) -> Any:
        """Complete the step left pending by ``defer_reward``: ``{step, pending}``.
        A batch's reward is a number (every copy) or one per copy."""
        return self.client._do(_Api.reward(self.id, reward))

    def reset(self, weights: bool = False) -> Any:
        """Potentials, traces, eligibility and the step count back to 0 (and the
        initial weights with ``weights=True``)."""
        return self.client._do(_Api.reset(self.id, weights))

    def weights(self, connection: str | None = None) -> Any:
        """Every connection's weights (or one's), each a ``[pre.n, post.n]`` array."""
        return self.client._do(_Api.weights(self.id, connection))

    def set_weights(self, connection: str, weights: Any) -> Any:
        """Replace a connection's weights (clamped into its bounds); the weights now held."""
        return self.client._do(_Api.set_weights(self.id, connection, weights))

    def state(self, copies: Sequence[int] | None = None) -> Any:
        """Potentials, traces, refractory counters, last spikes, eligibility (the
        JSON of ``GET .../state``). Of a batch every per-copy value has one entry
        per copy, of ``copies`` (default every copy) in that order, which the
        reply's ``copies`` lists."""
        return self.client._do(_Api.state(self.id, copies))

    def snapshot(self) -> Any:
        """The session, exactly (restore or fork it with ``create_session(snapshot=...)``)."""
        return self.client._do(_Api.snapshot(self.id))

    def connect(self, **kwargs: Any) -> Any:
        """Open this session's WebSocket; arguments as the client's ``connect``."""
        return self.client.connect(self.id, **kwargs)


# -- asyncio -------------------------------------------------------------------------------


class AsyncClient:
    """The asyncio client. ``url`` is the server's base URL; ``api_key``
    (default: the ``SPIKESERVE_API_KEY`` environment variable) is sent as
    ``Authorization: Bearer``; ``timeout`` bounds each request, in seconds.
    Use ``async with AsyncClient(...) as client:`` to close its connections."""

    def __init__(self, url: str = DEFAULT_URL, *, api_key: str | None = None, timeout: float | None = 30.0):
        self._http = HttpTransport(url, _default_key(api_key), timeout)
        self.url = self._http.base_url

    async def _do(self, call: _Call) -> Any:
        r = await asyncio.to_thread(self._http.request, call.method, call.path, call.body, call.query)
        return call.decode(r)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        self._http.close()

    async def health(self) -> dict[str, Any]:
        return await self._do(_Api.health())

    async def create_session(
        self,
        network: Mapping[str, Any] | None = None,
        *,
        seed: int | None = None,
        name: str | None = None,
        backend: str | None = None,
        snapshot: Mapping[str, Any] | None = None,
    ) -> "AsyncSession":
        """A new session from a network spec, or one restored from a snapshot."""
        info = await self._do(_Api.create(network, seed, name, backend, snapshot))
        return AsyncSession(self, info["id"], info)

    def session(self, session_id: str) -> "AsyncSession":
        """A handle on an existing session (no request is made)."""
        return AsyncSession(self, session_id)

    async def list_sessions(self, page_size: int = 100) -> list[dict[str, Any]]:
        """Every session visible to this key, oldest first (all pages)."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self._do(_Api.list(page_size, cursor))
            out.extend(page["sessions"])
            cursor = page.get("next")
            if not cursor:
                return out

    async def connect(
        self,
        session_id: str,
        *,
        format: str = "binary",
        role: str = "controller",
        use_ticket: bool = False,
        reconnect: bool = True,
        timeout: float | None = None,
    ) -> AsyncSessionSocket:
        """Open the session's WebSocket (see :class:`AsyncSessionSocket`). With
        ``use_ticket`` it authenticates with a one-use ticket asked for over REST
        (a new one at every reconnection) instead of the API key header."""
        headers = {"authorization": f"Bearer {self._http.api_key}"} if self._http.api_key and not use_ticket else None
        ticket = (lambda: self._do(_Api.ticket(session_id))) if use_ticket else None
        sock = AsyncSessionSocket(
            _ws_url(self.url, session_id, role, format),
            headers=headers,
            ticket=ticket,
            timeout=self._http.timeout if timeout is None else timeout,
            reconnect=reconnect,
        )
        return await sock.open()

    async def multiplex(self, *, timeout: float | None = None, reconnect: bool = True) -> AsyncMultiplexSocket:
        """Open the multiplexed WebSocket (``/v1/ws``): one socket for many
        sessions (see :class:`~spikeserve.multiplex.AsyncMultiplexSocket`,
        reconnection included: after a drop it reads the sessions over REST)."""
        headers = {"authorization": f"Bearer {self._http.api_key}"} if self._http.api_key else None
        sock = AsyncMultiplexSocket(
            _ws_base(self.url) + "/v1/ws",
            headers=headers,
            timeout=self._http.timeout if timeout is None else timeout,
            reconnect=reconnect,
            session_state=lambda sid: self.session(sid).get(),
        )
        return await sock.open()


class AsyncSession(_SessionMethods):
    """A session over REST, for asyncio: the methods of :class:`Session`, each
    to be awaited. ``info`` is the creation reply (network with defaults,
    limits) when this handle came from ``create_session``."""

    client: "AsyncClient"

    async def fork(self, name: str | None = None) -> "AsyncSession":
        """A new session from this one's snapshot: it goes on exactly as this would."""
        return await self.client.create_session(snapshot=await self.snapshot(), name=name)


# -- blocking --------------------------------------------------------------------------------


class _LoopThread:
    """An event loop on a daemon thread, which runs the asyncio socket for the
    blocking API (so the socket answers the server's pings between calls)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="spikeserve-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def wait_for(self, start: Callable[[], asyncio.Future[T]], timeout: float | None) -> T:
        """Start an asyncio future on the loop (``start()`` runs there) and wait here
        for its result: the cheap way for a call made many times a second (no
        coroutine, no task). Raises ``TimeoutError`` after ``timeout`` s."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def copy(f: asyncio.Future[T]) -> None:
            if f.cancelled():
                done.cancel()
            elif f.exception() is not None:
                done.set_exception(f.exception())  # type: ignore[arg-type]
            else:
                done.set_result(f.result())

        def begin() -> None:
            try:
                start().add_done_callback(copy)
            except BaseException as e:
                done.set_exception(e)

        self.loop.call_soon_threadsafe(begin)
        return done.result(timeout)

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


class Client:
    """The blocking client: the same methods as :class:`AsyncClient`, without
    ``await``. Use ``with Client(...) as client:`` to close its connections and
    sockets at the end."""

    def __init__(self, url: str = DEFAULT_URL, *, api_key: str | None = None, timeout: float | None = 30.0):
        self._http = HttpTransport(url, _default_key(api_key), timeout)
        self.url = self._http.base_url
        self._loop: _LoopThread | None = None
        self._sockets: list[SessionSocket | MultiplexSocket] = []
        self._async: AsyncClient | None = None

    def _do(self, call: _Call) -> Any:
        return call.decode(self._http.request(call.method, call.path, call.body, call.query))

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close every socket this client opened, and its HTTP connections."""
        for s in list(self._sockets):
            s.close()
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        if self._async is not None:
            self._async._http.close()
            self._async = None
        self._http.close()

    def health(self) -> dict[str, Any]:
        return self._do(_Api.health())

    def create_session(
        self,
        network: Mapping[str, Any] | None = None,
        *,
        seed: int | None = None,
        name: str | None = None,
        backend: str | None = None,
        snapshot: Mapping[str, Any] | None = None,
    ) -> "Session":
        """A new session from a network spec, or one restored from a snapshot."""
        info = self._do(_Api.create(network, seed, name, backend, snapshot))
        return Session(self, info["id"], info)

    def session(self, session_id: str) -> "Session":
        """A handle on an existing session (no request is made)."""
        return Session(self, session_id)

    def list_sessions(self, page_size: int = 100) -> list[dict[str, Any]]:
        """Every session visible to this key, oldest first (all pages)."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self._do(_Api.list(page_size, cursor))
            out.extend(page["sessions"])
            cursor = page.get("next")
            if not cursor:
                return out

    def connect(
        self,
        session_id: str,
        *,
        format: str = "binary",
        role: str = "controller",
        use_ticket: bool = False,
        reconnect: bool = True,
        timeout: float | None = None,
    ) -> "SessionSocket":
        """Open the session's WebSocket; see :class:`AsyncSessionSocket` for
        ``format``, ``role``, reconnection, and :meth:`AsyncClient.connect`."""
        loop, a = self._asyncio()
        sock = loop.run(a.connect(session_id, format=format, role=role, use_ticket=use_ticket, reconnect=reconnect, timeout=timeout))
        s = SessionSocket(self, loop, sock)
        self._sockets.append(s)
        return s

    def multiplex(self, *, timeout: float | None = None, reconnect: bool = True) -> "MultiplexSocket":
        """Open the multiplexed WebSocket (``/v1/ws``): one socket for many
        sessions; see :class:`~spikeserve.multiplex.AsyncMultiplexSocket`."""
        loop, a = self._asyncio()
        s = MultiplexSocket(self, loop, loop.run(a.multiplex(timeout=timeout, reconnect=reconnect)))
        self._sockets.append(s)
        return s

    def _asyncio(self) -> tuple[_LoopThread, AsyncClient]:
        """The event-loop thread and asyncio client the blocking sockets run on."""
        if self._loop is None:
            self._loop = _LoopThread()
        if self._async is None:
            self._async = AsyncClient(self.url, api_key=self._http.api_key or "", timeout=self._http.timeout)
        return self._loop, self._async


class Session(_SessionMethods):
    """A session over REST (blocking). ``info`` is the creation reply (network
    with defaults, limits) when this handle came from ``create_session``."""

    client: "Client"

    def fork(self, name: str | None = None) -> "Session":
        """A new session from this one's snapshot: it goes on exactly as this would."""
        return self.client.create_session(snapshot=self.snapshot(), name=name)


def _blocking(method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """A blocking socket method (:class:`SessionSocket`, :class:`MultiplexSocket`)
    from its asyncio twin (same arguments, docstring and result), run on the
    socket's event-loop thread."""

    @functools.wraps(method)
    def run(self: "_BlockingSocket", *args: Any, **kwargs: Any) -> T:
        return self._run(method(self.async_socket, *args, **kwargs))

    return run


class _BlockingSocket:
    """An asyncio socket run on the client's event-loop thread."""

    async_socket: Any

    def __init__(self, client: Client, loop: _LoopThread, sock: Any):
        self._client = client
        self._loop = loop
        self.async_socket = sock

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coro)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self in self._client._sockets:
            self._client._sockets.remove(self)  # type: ignore[arg-type]
            self._run(self.async_socket.close())

    @property
    def hello(self) -> dict[str, Any]:
        return self.async_socket.hello

    @property
    def reconnects(self) -> int:
        """How many times the socket was opened again after a drop."""
        return self.async_socket.reconnects


class MultiplexSocket(_BlockingSocket):
    """The multiplexed WebSocket, blocking: the methods of
    :class:`~spikeserve.multiplex.AsyncMultiplexSocket` (the session's id
    first, then the arguments of the same command on a session's socket),
    without ``await``. Use it as a context manager, or call :meth:`close`."""

    async_socket: AsyncMultiplexSocket

    @property
    def max_batch_items(self) -> int:
        return self.async_socket.max_batch_items

    step = _blocking(AsyncMultiplexSocket.step)
    reward = _blocking(AsyncMultiplexSocket.reward)
    reset = _blocking(AsyncMultiplexSocket.reset)
    weights = _blocking(AsyncMultiplexSocket.weights)
    set_weights = _blocking(AsyncMultiplexSocket.set_weights)
    snapshot = _blocking(AsyncMultiplexSocket.snapshot)
    step_batch = _blocking(AsyncMultiplexSocket.step_batch)
    step_arrays = _blocking(AsyncMultiplexSocket.step_arrays)

    def step_request(self, request: BatchRequest, arrays: Sequence[np.ndarray]) -> BatchResult:
        """A binary ``step_batch`` of a prepared request (:meth:`AsyncMultiplexSocket.step_arrays_nowait
        <spikeserve.multiplex.AsyncMultiplexSocket.step_arrays_nowait>`)."""
        return self._loop.wait_for(lambda: self.async_socket.step_arrays_nowait(request, arrays), self.async_socket.timeout)

    def step_batch_outcomes(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A ``step_batch``'s raw outcomes (``{"ok": …, "result" | "error": …}`` per item), undecoded."""

        async def send() -> list[dict[str, Any]]:
            return await self.async_socket._wait(self.async_socket.step_batch_nowait(items))

        return self._run(send())


class SessionSocket(_BlockingSocket):
    """A session's WebSocket, blocking: the methods of
    :class:`~spikeserve.socket.AsyncSessionSocket` (same arguments, same
    reconnection semantics), without ``await``. :meth:`step_many` returns the
    list of results. Use it as a context manager, or call :meth:`close`."""

    async_socket: AsyncSessionSocket

    @property
    def populations(self) -> dict[str, int]:
        """Population sizes, in the session's order."""
        return self.async_socket.populations

    @property
    def session_id(self) -> str:
        return self.async_socket.session_id

    @property
    def step_count(self) -> int:
        return self.async_socket.step_count

    @property
    def batch_size(self) -> int:
        """The session's copies (1 for a network of one copy)."""
        return self.async_socket.batch_size

    step = _blocking(AsyncSessionSocket.step)
    reward = _blocking(AsyncSessionSocket.reward)
    reset = _blocking(AsyncSessionSocket.reset)
    weights = _blocking(AsyncSessionSocket.weights)
    set_weights = _blocking(AsyncSessionSocket.set_weights)
    snapshot = _blocking(AsyncSessionSocket.snapshot)
    subscribe = _blocking(AsyncSessionSocket.subscribe)
    unsubscribe = _blocking(AsyncSessionSocket.unsubscribe)
    next_event = _blocking(AsyncSessionSocket.next_event)

    def step_many(self, inputs: Iterable[Mapping[str, Any] | None], *, rewards: Iterable[float | None] | None = None, window: int = 64, **kwargs: Any) -> list[StepResult]:
        """Step once per item of ``inputs``, ``window`` requests in flight; the results in order."""
        items = list(inputs)
        rw = list(rewards) if rewards is not None else None

        async def collect() -> list[StepResult]:
            return [r async for r in self.async_socket.step_many(items, rewards=rw, window=window, **kwargs)]

        return self._run(collect())

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Stream events until none comes for ``timeout`` s (forever if None)."""
        while True:
            try:
                yield self.next_event(timeout)
            except (TimeoutError, asyncio.TimeoutError):
                return
