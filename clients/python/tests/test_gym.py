"""spikeserve.gym: encoders, decoders, and a session learning the seed's
discrimination task as a gymnasium.Env (the example, run short)."""

import re
import subprocess
import sys

import numpy as np
import pytest

from spikeserve.gym import AnySpike, MostActiveGroup, PopulationEncoder, ScaledEncoder

from conftest import REPO

gym = pytest.importorskip("gymnasium")


def test_encoders_and_decoders():
    box = gym.spaces.Box(np.array([-1.0, 0.0]), np.array([1.0, 10.0]))
    enc = ScaledEncoder(box, gain=100)
    assert enc.n == 2 and np.allclose(enc([0.0, 10.0]), [50.0, 100.0]) and np.allclose(enc([-5, -5]), [0, 0])
    pop = PopulationEncoder(box, k=5, gain=10)
    x = pop([1.0, 0.0])
    assert pop.n == 10 and x.shape == (10,)
    assert int(np.argmax(x[:5])) == 4 and int(np.argmax(x[5:])) == 0 and np.isclose(x.max(), 10)
    with pytest.raises(ValueError):
        ScaledEncoder(gym.spaces.Box(-np.inf, np.inf, (2,)))
    dec = MostActiveGroup(3, 2, seed=0)
    assert dec(np.array([0, 1, 5, 0, 2, 2])) == 1
    assert {dec(np.zeros(6)) for _ in range(50)} == {0, 1, 2}, "silence is a random action"
    assert AnySpike()(np.array([0])) == 0 and AnySpike()(np.array([2])) == 1


def test_discrimination_example_learns(server):
    out = subprocess.run(
        [sys.executable, str(REPO / "examples/python/gym_discrimination.py"), "--url", server.url, "--seeds", "1", "--episodes", "40", "--block", "20"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    m = re.search(r"^result: accuracy ([\d.]+) on the last 20 episodes \(random ([\d.]+)\)", out, re.M)
    assert m, out
    assert float(m.group(1)) >= 0.8, out


def test_batch_cartpole_example_drives_8_environments(server):
    """examples/python/batch_cartpole.py: one batch of 8 copies, each copy
    stepping its own CartPole environment, one call per round."""
    out = subprocess.run(
        [sys.executable, str(REPO / "examples/python/batch_cartpole.py"), "--url", server.url, "--rounds", "60"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert re.search(r"^session \S+: batch of 8 copies, format binary$", out, re.M), out
    assert re.search(r"^60 rounds, 600 network steps, 480 environment steps$", out, re.M), out
    m = re.search(r"^result: (\d+) episodes over 8 environments, mean length ([\d.]+)$", out, re.M)
    assert m and int(m.group(1)) >= 8, out
