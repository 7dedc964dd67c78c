"""VectorSession: N sessions stepped with one batch request, arrays in and out."""

import numpy as np
import pytest

import spikeserve
from spikeserve import Client, VectorSession

from conftest import SEED_NETWORK


def test_vector_session_steps_many_sessions_as_single_steps_would(server):
    with Client(server.url) as c:
        vec = VectorSession.create(c, SEED_NETWORK, 4, seed=1)
        twins = [c.create_session(SEED_NETWORK, seed=1 + i) for i in range(4)]
        x = np.array([[100, 0], [0, 100], [100, 0], [0, 100]], dtype=float)
        counts = vec.step({"pre": x}, reward=np.array([1, -1, 1, -1]), steps=20, populations=["pre", "post"])
        assert counts["pre"].shape == (4, 2) and counts["post"].shape == (4, 1)
        for i, t in enumerate(twins):
            r = t.step({"pre": x[i]}, reward=[1, -1, 1, -1][i], steps=20, spikes="counts", populations=["pre", "post"])
            assert np.array_equal(counts["post"][i], r.spike_counts["post"])
            assert np.array_equal(counts["pre"][i], r.spike_counts["pre"])
        # One vector for every session, one reward for all.
        same = vec.step({"pre": [100, 0]}, reward=1, populations=["post"])
        assert same["post"].shape == (4, 1)
        vec.sessions[2].delete()
        out = vec.step_results({"pre": x})
        assert isinstance(out[2], spikeserve.SessionNotFoundError) and all(isinstance(out[i], spikeserve.StepResult) for i in (0, 1, 3))
        with pytest.raises(spikeserve.SessionNotFoundError) as e:
            vec.step({"pre": x}, populations=["post"])
        assert e.value.details["index"] == 2
