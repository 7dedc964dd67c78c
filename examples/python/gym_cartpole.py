#!/usr/bin/env python3
"""CartPole-v1 played by a spikeserve session through spikeserve.gym
(MSTDP), against a random policy, over several seeds.

Encoder: a population code, 8 Gaussian receptive fields per observation
value (cart position in [-2.4, 2.4], velocity in [-3, 3], pole angle in
[-0.21, 0.21], angular velocity in [-3, 3]) -> 32 input neurons. Decoder: 2
groups of 10 output neurons, the most active group is the action (ties at
random). 10 network steps per action. Reward fed to MSTDP: the environment's
+1 per step, and -10 at the step that drops the pole.

    python3 examples/python/gym_cartpole.py --url http://127.0.0.1:3000 --seeds 1 2 3
"""

import argparse
import os

import gymnasium as gym
import numpy as np

from spikeserve import Client
from spikeserve.gym import MostActiveGroup, PopulationEncoder, SpikingPolicy

K, ACTIONS, GROUP = 8, 2, 10
LOW, HIGH = [-2.4, -3.0, -0.21, -3.0], [2.4, 3.0, 0.21, 3.0]
NETWORK = {
    "dt": 0.1,
    "populations": {"pre": {"n": 4 * K}, "post": {"n": ACTIONS * GROUP}},
    "connections": {"pre_post": {"pre": "pre", "post": "post", "w_min": 0, "w_max": 2, "rule": {"type": "MSTDP", "lr": [0.0003, 0.0002]}}},
}


def episode_lengths(env, act, learn, episodes, seed):
    out = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + ep)
        steps = 0
        while True:
            obs, r, term, trunc, _ = env.step(act(obs))
            steps += 1
            learn(-10.0 if term else r)
            if term or trunc:
                break
        out.append(steps)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:3000")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--block", type=int, default=20)
    p.add_argument("--api-key", default=os.environ.get("SPIKESERVE_API_KEY"))
    args = p.parse_args()
    env = gym.make("CartPole-v1")
    learned, randoms = [], []
    with Client(args.url, api_key=args.api_key) as client:
        for seed in args.seeds:
            session = client.create_session(NETWORK, seed=seed, name=f"gym-cartpole-{seed}")
            with session.connect() as ws:
                policy = SpikingPolicy(ws, PopulationEncoder(low=LOW, high=HIGH, k=K, gain=100), MostActiveGroup(ACTIONS, GROUP, seed=seed), steps_per_action=10)
                learned.append(episode_lengths(env, policy.act, policy.learn, args.episodes, seed))
            session.delete()
            rng = np.random.default_rng(seed)
            randoms.append(episode_lengths(env, lambda _o: int(rng.integers(2)), lambda _r: None, args.episodes, seed))
    c, r = np.array(learned, dtype=float), np.array(randoms, dtype=float)
    print("episodes   mean episode length: spiking policy (mean ± sd over seeds)   random policy")
    for b in range(0, args.episodes, args.block):
        cb, rb = c[:, b : b + args.block].mean(axis=1), r[:, b : b + args.block].mean(axis=1)
        print(f"{b + 1:4d}-{b + args.block:<4d}  {cb.mean():6.1f} ± {cb.std():5.1f}                                       {rb.mean():6.1f} ± {rb.std():5.1f}")
    print(f"result: mean length {c[:, -args.block:].mean():.1f} on the last {args.block} episodes (random {r[:, -args.block:].mean():.1f}) over seeds {args.seeds}")


if __name__ == "__main__":
    main()
