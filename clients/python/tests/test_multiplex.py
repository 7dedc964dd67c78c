"""The multiplexed WebSocket: one socket for many sessions, blocking and
asyncio, one session's commands in order, step_batch with per-item errors,
API keys; and VectorSession over it, giving what it gives over HTTP."""

import asyncio

import numpy as np
import pytest

import spikeserve
from spikeserve import AsyncClient, Client, VectorSession

from conftest import API_KEY, OTHER_KEY, SEED_NETWORK

FIRE = {"pre": [100, 0]}


def test_blocking_socket_drives_many_sessions_as_their_own_sockets_would(server):
    with Client(server.url) as c:
        sessions = [c.create_session(SEED_NETWORK, seed=1 + i) for i in range(3)]
        twins = [c.create_session(SEED_NETWORK, seed=1 + i) for i in range(3)]
        with c.multiplex() as mux:
            assert mux.hello["multiplex"] is True and mux.max_batch_items == 1024
            for s, t in zip(sessions, twins):
                with t.connect(format="json") as tw:
                    r = mux.step(s.id, FIRE, defer_reward=True, potentials=True)
                    q = tw.step(FIRE, defer_reward=True, potentials=True)
                    assert r.pending and r.step == q.step == 1
                    np.testing.assert_array_equal(r.potentials["post"], q.potentials["post"])
                    assert mux.reward(s.id, 1) == tw.reward(1) == {"step": 1, "pending": False}
                    np.testing.assert_array_equal(mux.weights(s.id)["pre_post"], tw.weights()["pre_post"])
            assert np.array_equal(mux.set_weights(sessions[0].id, "pre_post", [[5], [0.5]]), np.array([[5.0], [0.5]]))
            assert mux.reset(sessions[0].id)["step"] == 0
            assert mux.snapshot(sessions[1].id)["step"] == 1
            with pytest.raises(spikeserve.InputInvalidError):
                mux.step(sessions[0].id, {"pre": [1]})
            with pytest.raises(spikeserve.SessionNotFoundError):
                mux.step("no-such-session")
            out = mux.step_batch([{"id": sessions[1].id, "steps": 3}, {"id": "no-such-session"}, {"id": sessions[2].id, "inputs": {"pre": [1, 2, 3]}}])
            assert isinstance(out[0], spikeserve.StepResult) and out[0].step == 4
            assert isinstance(out[1], spikeserve.SessionNotFoundError)
            assert isinstance(out[2], spikeserve.InputInvalidError)


def test_async_socket_pipelines_and_keeps_each_sessions_order(server):
    async def main():
        async with AsyncClient(server.url) as c:
            a = await c.create_session(SEED_NETWORK, seed=1)
            b = await c.create_session(SEED_NETWORK, seed=2)
            async with await c.multiplex() as mux:
                # Sent together: a's deferred step, b's steps, a's reward, in that order.
                futs = [
                    mux.step_nowait(a.id, FIRE, defer_reward=True),
                    mux.step_nowait(b.id, FIRE, steps=5),
                    mux.reward_nowait(a.id, -1),
                    mux.step_nowait(a.id, FIRE, steps=2),
                ]
                r = await asyncio.gather(*futs)
                assert (r[0].step, r[0].pending) == (1, True)
                assert r[1].step == 5
                assert r[2] == {"step": 1, "pending": False}
                assert (r[3].step, r[3].pending) == (3, False)
                outs = await mux.step_batch([{"id": a.id}, {"id": a.id}, {"id": b.id}])
                assert [o.step for o in outs] == [4, 5, 6]

    asyncio.run(main())


def test_api_keys_a_socket_drives_only_its_keys_sessions(keyed_server):
    with Client(keyed_server.url, api_key=API_KEY) as alice, Client(keyed_server.url, api_key=OTHER_KEY) as bob:
        mine = alice.create_session(SEED_NETWORK)
        theirs = bob.create_session(SEED_NETWORK)
        with alice.multiplex() as mux:
            assert mux.step(mine.id).step == 1
            with pytest.raises(spikeserve.SessionNotFoundError):
                mux.step(theirs.id)
            out = mux.step_batch([{"id": theirs.id}, {"id": mine.id}])
            assert isinstance(out[0], spikeserve.SessionNotFoundError) and out[1].step == 2
        assert bob.session(theirs.id).get()["step"] == 0
    with Client(keyed_server.url, api_key="") as nobody, pytest.raises(spikeserve.UnauthorizedError):
        nobody.multiplex()


def test_vector_session_over_the_socket_and_over_http_agree(server):
    with Client(server.url) as c:
        x = np.array([[100, 0], [0, 100], [100, 0]], dtype=float)
        with VectorSession.create(c, SEED_NETWORK, 3, seed=1) as ws, VectorSession.create(c, SEED_NETWORK, 3, seed=1, transport="http") as http:
            assert ws.transport == "websocket"
            for k in range(5):
                r = [1, -1, 1] if k % 2 else 0.5
                a = ws.step({"pre": x}, reward=r, steps=10, populations=["pre", "post"])
                b = http.step({"pre": x}, reward=r, steps=10, populations=["pre", "post"])
                for p in ("pre", "post"):
                    assert np.array_equal(a[p], b[p])
            for s, t in zip(ws.sessions, http.sessions):
                np.testing.assert_array_equal(s.weights()["pre_post"], t.weights()["pre_post"])
            ws.sessions[1].delete()
            out = ws.step_results({"pre": x})
            assert isinstance(out[1], spikeserve.SessionNotFoundError) and out[0].step == 51
            with pytest.raises(spikeserve.SessionNotFoundError) as e:
                ws.step({"pre": x}, populations=["post"])
            assert e.value.details["index"] == 1
        with pytest.raises(ValueError):
            VectorSession(c, [], transport="carrier-pigeon")


def test_step_arrays_binary_batch_gives_what_the_json_batch_gives(server):
    with Client(server.url) as c:
        sessions = [c.create_session(SEED_NETWORK, seed=1 + i) for i in range(3)]
        twins = [c.create_session(SEED_NETWORK, seed=1 + i) for i in range(3)]
        x = np.array([[100, 0], [0, 100], [100, 50]], dtype=float)
        rewards = np.array([1.0, -1.0, 0.5])
        with c.multiplex() as mux:
            for defer in (False, True, False):
                b = mux.step_arrays([s.id for s in sessions], {"pre": x}, reward=rewards, steps=5, defer_reward=defer, counts=["pre", "post"], potentials=["post"])
                j = mux.step_batch(
                    [
                        {"id": t.id, "inputs": {"pre": x[i].tolist()}, "reward": rewards[i], "steps": 5, "deferReward": defer, "return": {"populations": ["pre", "post"], "spikes": "counts", "potentials": True}}
                        for i, t in enumerate(twins)
                    ]
                )
                assert b.ok.tolist() == [True] * 3 and b.errors == {}
                assert b.step.tolist() == [r.step for r in j] and b.steps.tolist() == [5] * 3
                assert b.pending.tolist() == [defer] * 3
                assert b.spike_counts["pre"].shape == (3, 2) and b.spike_counts["post"].shape == (3, 1)
                np.testing.assert_array_equal(b.spike_counts["pre"], np.stack([r.spike_counts["pre"] for r in j]))
                np.testing.assert_array_equal(b.spike_counts["post"], np.stack([r.spike_counts["post"] for r in j]))
                assert b.potentials["post"].dtype == np.float64
                np.testing.assert_array_equal(b.potentials["post"], np.stack([r.potentials["post"] for r in j]))  # float64: exact
            # One vector and one reward for all; an unknown session and a bad input fail alone.
            out = mux.step_arrays([sessions[0].id, "no-such-session", sessions[1].id], {"pre": [100, 0]}, reward=1, counts=["post"])
            assert out.ok.tolist() == [True, False, True] and out.step.tolist() == [16, 0, 16]
            assert isinstance(out.errors[1], spikeserve.SessionNotFoundError) and out.spike_counts["post"].shape == (3, 1)
            bad = mux.step_arrays([sessions[2].id], {"pre": [[1, 2, 3]]})
            assert isinstance(bad.errors[0], spikeserve.InputInvalidError)
            with pytest.raises(spikeserve.InputInvalidError) as e:
                bad.raise_first()
            assert e.value.details["index"] == 0
            with pytest.raises(spikeserve.LimitExceededError):
                mux.step_arrays([sessions[0].id] * (mux.max_batch_items + 1))
        assert c.session(sessions[2].id).get()["step"] == 15


def test_vector_session_steps_in_binary_frames_and_reads_them_into_arrays(server):
    with Client(server.url) as c:
        x = np.array([[100, 0], [0, 100]], dtype=float)
        with VectorSession.create(c, SEED_NETWORK, 2, seed=3) as vec, VectorSession.create(c, SEED_NETWORK, 2, seed=3, transport="http") as http:
            for _ in range(3):
                a = vec.step_results({"pre": x}, reward=[1, -1], steps=4, populations=["post"], spikes="counts", potentials=True)
                b = http.step_results({"pre": x}, reward=[1, -1], steps=4, populations=["post"], spikes="counts", potentials=True)
                for p, q in zip(a, b):
                    assert (p.step, p.steps, p.pending) == (q.step, q.steps, q.pending)
                    np.testing.assert_array_equal(p.spike_counts["post"], q.spike_counts["post"])
                    np.testing.assert_array_equal(p.potentials["post"], q.potentials["post"])
            counts = vec.step({"pre": x}, populations=["pre", "post"])
            assert counts["pre"].dtype == np.int64 and counts["pre"].shape == (2, 2)
