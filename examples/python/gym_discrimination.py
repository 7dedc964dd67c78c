#!/usr/bin/env python3
"""The seed's MSTDP discrimination task as a gymnasium.Env, learnt by a
spikeserve session through spikeserve.gym, against a random policy.

An episode is one of the seed's trials: a pattern, [1, 0] ("fire") or
[0, 1] ("stay silent"), drawn at reset and held for 50 steps (the output
needs a few steps of input to reach its threshold). Observation: the
pattern. Action, each step: 1 if the output neuron fired, else 0. Reward +1
when the action is the pattern's, -1 otherwise. The network is the seed's
(2 inputs -> 1 output, MSTDP); the encoder scales the pattern to currents of
100, the decoder reads "any spike", and every step's reward goes back to
MSTDP (times 100, as in examples/python/mstdp_agent.py).

    python3 examples/python/gym_discrimination.py --url http://127.0.0.1:3000 --seeds 1 2 3 4 5
"""

import argparse
import os

import gymnasium as gym
import numpy as np

from spikeserve import Client
from spikeserve.gym import AnySpike, ScaledEncoder, SpikingPolicy

NETWORK = {
    "dt": 0.1,
    "populations": {"pre": {"n": 2, "refrac_length": 0}, "post": {"n": 1, "refrac_length": 0}},
    "connections": {"pre_post": {"pre": "pre", "post": "post", "w_min": 0, "w_max": 10, "rule": {"type": "MSTDP", "lr": [0.0003, 0.0002]}}},
}


class DiscriminationEnv(gym.Env):
    """One pattern per episode, drawn at random and held for ``length`` steps."""

    def __init__(self, length: int = 50):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2,), dtype=np.float64)
        self.action_space = gym.spaces.Discrete(2)
        self.length = length

    def _draw(self):
        self.want = int(self.np_random.random() < 0.5)
        return np.array([1.0, 0.0]) if self.want else np.array([0.0, 1.0])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.obs = self._draw()
        return self.obs, {}

    def step(self, action):
        reward = 1.0 if int(action) == self.want else -1.0
        self.t += 1
        return self.obs, reward, False, self.t >= self.length, {}


def accuracy_curve(env, act, learn, episodes, seed):
    """Per episode: whether the trial was right (as the seed task scores it: the
    output fired at least once in a "fire" trial, never in a "silent" one)."""
    curve = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + ep)
        fired = False
        while True:
            a = act(obs)
            fired = fired or a == 1
            obs, r, term, trunc, _ = env.step(a)
            learn(r)
            if term or trunc:
                break
        curve.append(float(fired == bool(env.want)))
    return curve


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:3000")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--episodes", type=int, default=100, help="episodes (trials of 50 steps) per seed")
    p.add_argument("--block", type=int, default=20, help="episodes per line of the learning curve")
    p.add_argument("--api-key", default=os.environ.get("SPIKESERVE_API_KEY"))
    args = p.parse_args()
    env = DiscriminationEnv()
    curves, randoms = [], []
    with Client(args.url, api_key=args.api_key) as client:
        for seed in args.seeds:
            session = client.create_session(NETWORK, seed=seed, name=f"gym-discrimination-{seed}")
            with session.connect() as ws:
                policy = SpikingPolicy(ws, ScaledEncoder(env.observation_space, gain=100), AnySpike(), steps_per_action=1, reward_scale=100)
                curves.append(accuracy_curve(env, policy.act, policy.learn, args.episodes, seed))
            session.delete()
            rng = np.random.default_rng(seed)
            randoms.append(accuracy_curve(env, lambda _o: int(rng.integers(2)), lambda _r: None, args.episodes, seed))
    c, r = np.array(curves), np.array(randoms)
    print("episodes  trial accuracy: spiking policy (mean ± sd over seeds)   random policy")
    for b in range(0, args.episodes, args.block):
        cb, rb = c[:, b : b + args.block].mean(axis=1), r[:, b : b + args.block].mean(axis=1)
        print(f"{b + 1:4d}-{b + args.block:<4d}  {cb.mean():.2f} ± {cb.std():.2f}                                      {rb.mean():.2f} ± {rb.std():.2f}")
    last_c, last_r = c[:, -args.block :].mean(), r[:, -args.block :].mean()
    print(f"result: accuracy {last_c:.2f} on the last {args.block} episodes (random {last_r:.2f}) over seeds {args.seeds}")


if __name__ == "__main__":
    main()
