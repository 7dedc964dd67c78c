"""Sessions over REST: every endpoint, numpy in and out."""

import asyncio

import numpy as np

from spikeserve import AsyncClient, Client

from conftest import SEED_NETWORK


def test_session_lifecycle_over_rest(server):
    with Client(server.url) as c:
        s = c.create_session(SEED_NETWORK, seed=1, name="rest")
        assert s.info["name"] == "rest" and s.info["network"]["populations"]["pre"]["n"] == 2
        assert s.id in [x["id"] for x in c.list_sessions()]
        r = s.step({"pre": np.array([100.0, 0.0])}, steps=5, reward=np.float64(1.0), potentials=True, weights=True)
        assert (r.step, r.steps, r.pending) == (5, 5, False)
        assert len(r.spikes["pre"]) == 5 and all(list(x) == [0] for x in r.spikes["pre"])
        assert r.potentials["post"].shape == (1,) and r.weights["pre_post"].shape == (2, 1)
        r = s.step({"pre": [[100, 0], [0, 100]]}, steps=2, spikes="counts", defer_reward=True)
        assert list(r.spike_counts["pre"]) == [1, 1] and r.pending
        assert s.reward(0.5) == {"step": 7, "pending": False}
        w = s.weights()
        assert set(w) == {"pre_post"} and w["pre_post"].dtype == np.float64
        assert np.array_equal(s.weights("pre_post")["pre_post"], w["pre_post"])
        assert np.array_equal(s.set_weights("pre_post", np.array([[5.0], [20.0]])), np.array([[5.0], [10.0]])), "clamped to w_max"
        assert s.get()["step"] == 7
        assert set(s.state()) >= {"populations"}
        fork = s.fork(name="copy")
        a, b = s.step({"pre": [100, 0]}, steps=20, potentials=True), fork.step({"pre": [100, 0]}, steps=20, potentials=True)
        assert np.array_equal(a.potentials["post"], b.potentials["post"]) and a.step == b.step
        assert s.reset(weights=True)["step"] == 0
        assert s.snapshot()["format"] == "spikeserve-snapshot"
        fork.delete()
        s.delete()
        assert s.id not in [x["id"] for x in c.list_sessions()]


def test_async_client_over_rest(server):
    async def main():
        async with AsyncClient(server.url) as c:
            s = await c.create_session(SEED_NETWORK, seed=2)
            results = await asyncio.gather(*(s.step({"pre": [100, 0]}) for _ in range(5)))
            assert sorted(r.step for r in results) == [1, 2, 3, 4, 5]
            assert (await s.get())["step"] == 5
            f = await s.fork()
            assert (await f.weights())["pre_post"].shape == (2, 1)
            await f.delete()
            await s.delete()

    asyncio.run(main())
