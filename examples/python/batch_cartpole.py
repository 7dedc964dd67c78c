#!/usr/bin/env python3
"""One network driven by 8 CartPole-v1 environments at once: a batch of 8
copies (batch_size 8, docs/model.md "Batches") sharing one set of weights,
each copy given its own environment's observation and its own reward.

Each round, the 8 observations go in as one [8, 32] input (copy b gets
environment b's, population-coded as in gym_cartpole.py), the network runs
10 steps with the last one's update deferred, the output's spike counts
come back as an [8, 20] array (a row per copy) and give each environment
its action, and the 8 rewards (+1, or -10 at the step that drops the pole)
go back as one reward per copy. An environment whose episode ended is reset
on its own; the others go on.

    python3 examples/python/batch_cartpole.py --url http://127.0.0.1:3000 --rounds 500
"""

import argparse
import os

import gymnasium as gym
import numpy as np

from spikeserve import Client
from spikeserve.gym import MostActiveGroup, PopulationEncoder

ENVS, K, ACTIONS, GROUP = 8, 8, 2, 10
LOW, HIGH = [-2.4, -3.0, -0.21, -3.0], [2.4, 3.0, 0.21, 3.0]
NETWORK = {
    "dt": 0.1,
    "batch_size": ENVS,
    "populations": {"pre": {"n": 4 * K}, "post": {"n": ACTIONS * GROUP}},
    "connections": {
        "pre_post": {"pre": "pre", "post": "post", "w_min": 0, "w_max": 2, "rule": {"type": "MSTDP", "lr": [0.0003, 0.0002], "reduction": "mean"}}
    },
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:3000")
    p.add_argument("--rounds", type=int, default=500, help="network calls, each one action in every environment")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--format", choices=["binary", "json"], default="binary")
    p.add_argument("--api-key", default=os.environ.get("SPIKESERVE_API_KEY"))
    args = p.parse_args()

    envs = [gym.make("CartPole-v1") for _ in range(ENVS)]
    encode = PopulationEncoder(low=LOW, high=HIGH, k=K, gain=100)
    decide = MostActiveGroup(ACTIONS, GROUP, seed=args.seed)
    obs = np.stack([env.reset(seed=args.seed * 1000 + b)[0] for b, env in enumerate(envs)])
    lengths, running = [], np.zeros(ENVS, dtype=int)
    with Client(args.url, api_key=args.api_key) as client:
        session = client.create_session(NETWORK, seed=args.seed, name="batch-cartpole")
        with session.connect(format=args.format) as ws:
            print(f"session {session.id}: batch of {ws.batch_size} copies, format {args.format}")
            for _ in range(args.rounds):
                x = np.stack([encode(o) for o in obs])  # [8, 32]: copy b's input is environment b's observation
                r = ws.step({"pre": x}, steps=10, defer_reward=True, populations=["post"], spikes="counts")
                counts = r.spike_counts["post"]  # [8, 20]: a row per copy
                rewards = np.zeros(ENVS)
                for b, env in enumerate(envs):
                    obs[b], reward, term, trunc, _ = env.step(decide(counts[b]))
                    rewards[b] = -10.0 if term else reward
                    running[b] += 1
                    if term or trunc:
                        lengths.append(int(running[b]))
                        running[b] = 0
                        obs[b] = env.reset()[0]
                ws.reward(rewards)  # copy b learns from environment b's reward
            steps = ws.step_count
        session.delete()
    print(f"{args.rounds} rounds, {steps} network steps, {args.rounds * ENVS} environment steps")
    print(f"result: {len(lengths)} episodes over {ENVS} environments, mean length {np.mean(lengths) if lengths else 0:.1f}")


if __name__ == "__main__":
    main()
