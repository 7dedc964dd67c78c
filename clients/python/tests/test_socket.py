"""Sessions over the WebSocket: commands, pipelining, streams, binary frames,
API keys and tickets, and resuming after the socket drops."""

import asyncio
import itertools

import numpy as np
import pytest

import spikeserve
from spikeserve import AsyncClient, Client, CommandLostError

from conftest import API_KEY, OTHER_KEY, SEED_NETWORK

FIRE = {"pre": [100, 0]}


def test_binary_and_json_replies_agree(server):
    with Client(server.url) as c:
        a, b = c.create_session(SEED_NETWORK, seed=3), c.create_session(SEED_NETWORK, seed=3)
        with a.connect(format="binary") as wa, b.connect(format="json") as wb:
            inputs = [{"pre": [100 * (i % 2), 100 * ((i + 1) % 2)]} for i in range(40)]
            ra = wa.step_many(inputs, rewards=[1.0] * 40, window=8, potentials=True, weights=True)
            rb = wb.step_many(inputs, rewards=[1.0] * 40, window=8, potentials=True, weights=True)
            assert [r.step for r in ra] == list(range(1, 41)) == [r.step for r in rb]
            for x, y in zip(ra, rb):
                assert [list(s) for s in x.spikes["post"]] == [list(s) for s in y.spikes["post"]]
                np.testing.assert_allclose(x.potentials["post"], y.potentials["post"], rtol=1e-6)
                np.testing.assert_allclose(x.weights["pre_post"], y.weights["pre_post"], rtol=1e-6)
            np.testing.assert_allclose(wa.weights()["pre_post"], wb.weights("pre_post")["pre_post"], rtol=1e-6)


def test_deferred_reward_weights_and_streams(server):
    with Client(server.url) as c:
        s = c.create_session(SEED_NETWORK, seed=1)
        with s.connect() as ws:
            assert ws.populations == {"pre": 2, "post": 1} and ws.session_id == s.id
            r = ws.step(FIRE, defer_reward=True, populations=["post"])
            assert r.pending and set(r.spikes) == {"post"}
            assert ws.reward(100) == {"step": 1, "pending": False}
            assert np.array_equal(ws.set_weights("pre_post", [[5], [0.5]]), np.array([[5.0], [0.5]]))
            ws.subscribe("spikes", every=5, populations=["pre"])
            ws.subscribe("rewards", every=5)
            ws.step(FIRE, steps=10, reward=-1, spikes="none")
            events = list(ws.events(timeout=0.5))
            spikes = [e for e in events if e.type == "spikes"]
            rewards = [e for e in events if e.type == "reward"]
            assert [e.step for e in spikes] == [5, 10] and list(spikes[0].data["pre"]) == [0]
            assert [(e.step, e.reward, e.source) for e in rewards] == [(5, -1.0, "step"), (10, -1.0, "step")]
            assert ws.unsubscribe()["streams"]
            assert ws.snapshot()["format"] == "spikeserve-snapshot"
            assert ws.reset()["step"] == 0


def test_async_pipelining_keeps_order(server):
    async def main():
        async with AsyncClient(server.url) as c:
            s = await c.create_session(SEED_NETWORK, seed=1)
            async with await s.connect() as ws:
                got = [r.step async for r in ws.step_many([FIRE] * 300, window=32, spikes="counts")]
                assert got == list(range(1, 301))
                futs = [ws.step_nowait(FIRE, defer_reward=True) for _ in range(3)]
                assert [(await f).step for f in futs] == [301, 302, 303]
            await s.delete()

    asyncio.run(main())


def test_resume_after_the_socket_drops(server):
    """Steps in flight when the connection is cut: each runs exactly once, either
    answered after reconnecting or reported lost with applied=True."""

    async def main():
        async with AsyncClient(server.url) as c:
            s = await c.create_session(SEED_NETWORK, seed=1)
            ws = await s.connect()
            await ws.step(FIRE)
            # Cut before the requests reach the server: none ran, all are sent again and answered.
            futs = [ws.step_nowait(FIRE, steps=2) for _ in range(50)]
            ws._ws.transport.abort()
            assert [r.step for r in await asyncio.gather(*futs)] == list(range(3, 102, 2))
            assert ws.reconnects == 1
            # Cut in mid-stream: a long step sits between short ones, and the socket is cut once the
            # short steps before it are answered; it and those after it ran, or are sent again.
            sizes = [2] * 100 + [30_000] + [2] * 100
            futs = [ws.step_nowait(FIRE, steps=n) for n in sizes]
            await futs[99]
            ws._ws.transport.abort()
            outcomes = await asyncio.gather(*futs, return_exceptions=True)
            lost = [o for o in outcomes if isinstance(o, BaseException)]
            assert ws.reconnects == 2
            assert all(isinstance(o, CommandLostError) and o.applied is True for o in lost), lost[:3]
            # Every command ran once, in order: the i-th, when answered, left the count at 101 plus the sizes up to it.
            after = list(itertools.accumulate(sizes, initial=101))[1:]
            assert [(i, o.step) for i, o in enumerate(outcomes) if not isinstance(o, BaseException)] == [
                (i, after[i]) for i, o in enumerate(outcomes) if not isinstance(o, BaseException)
            ]
            assert (await s.get())["step"] == after[-1], "every step ran exactly once"
            assert (await ws.step(FIRE)).step == after[-1] + 1
            await ws.close()
            await s.delete()

    asyncio.run(main())


WIDE_NETWORK = {
    "populations": {"pre": {"n": 300}, "post": {"n": 300}},
    "connections": {"pre_post": {"pre": "pre", "post": "post", "rule": {"type": "STDP", "lr": [0.0003, 0.0002]}}},
}


LONG_STEPS = 30_000


def test_resume_when_cut_during_a_long_step(server):
    """The socket drops while a long step runs with more queued behind it: the
    server runs all it read and greets the new socket after them, so they are
    reported applied and none runs twice."""

    async def main():
        async with AsyncClient(server.url) as c:
            s = await c.create_session(WIDE_NETWORK, seed=1)
            ws = await s.connect()
            # Long enough (about a second here) that the cut lands while it runs.
            long = ws.step_nowait({"pre": 20}, steps=LONG_STEPS, spikes="none")
            futs = [ws.step_nowait(spikes="none") for _ in range(10)]
            await asyncio.sleep(0.05)  # the server has read them and runs the long step
            ws._ws.transport.abort()
            outcomes = await asyncio.gather(long, *futs, return_exceptions=True)
            assert ws.reconnects == 1
            lost = [o for o in outcomes if isinstance(o, BaseException)]
            assert all(isinstance(o, CommandLostError) and o.applied is True for o in lost), lost[:3]
            answered = [o.step for o in outcomes if not isinstance(o, BaseException)]
            assert answered == list(range(LONG_STEPS + 11 - len(answered), LONG_STEPS + 11))
            assert (await s.get())["step"] == LONG_STEPS + 10, "every step ran exactly once"
            await ws.close()
            await s.delete()

    asyncio.run(main())


def test_no_reconnect_fails_waiting_commands(server):
    async def main():
        async with AsyncClient(server.url) as c:
            s = await c.create_session(SEED_NETWORK, seed=1)
            ws = await s.connect(reconnect=False)
            fut = ws.step_nowait(FIRE, steps=1000)
            ws._ws.transport.abort()
            with pytest.raises(spikeserve.ConnectionLostError):
                await fut
            with pytest.raises(spikeserve.ConnectionLostError):
                await ws.step(FIRE)
            await ws.close()

    asyncio.run(main())


def test_deleted_session_closes_the_socket_with_its_error(server):
    with Client(server.url) as c:
        s = c.create_session(SEED_NETWORK, seed=1)
        ws = s.connect()
        s.delete()
        with pytest.raises(spikeserve.SessionNotFoundError):
            for _ in range(50):
                ws.step(FIRE)
        ws.close()


def test_api_keys_and_tickets(keyed_server):
    with pytest.raises(spikeserve.UnauthorizedError):
        Client(keyed_server.url, api_key="").list_sessions()
    with Client(keyed_server.url, api_key=API_KEY) as alice, Client(keyed_server.url, api_key=OTHER_KEY) as bob:
        s = alice.create_session(SEED_NETWORK, seed=1)
        with pytest.raises(spikeserve.SessionNotFoundError):
            bob.session(s.id).get()
        with s.connect() as ws:
            assert ws.step(FIRE).step == 1
        with alice.connect(s.id, use_ticket=True, role="observer") as obs:
            assert obs.hello["role"] == "observer"
            with pytest.raises(spikeserve.WsReadOnlyError):
                obs.step(FIRE)
        with pytest.raises(spikeserve.SessionNotFoundError):
            bob.connect(s.id)


def test_timeout_and_close(server):
    with Client(server.url) as c:
        s = c.create_session(SEED_NETWORK, seed=1)
        ws = s.connect(timeout=0.001)
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            ws.step(FIRE, steps=100000, spikes="none")
    # Leaving the client closed its socket: the session takes a new controller.
    with Client(server.url) as c:
        with c.connect(s.id) as ws:
            assert ws.step(FIRE).step == 100001
