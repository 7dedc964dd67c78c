#!/usr/bin/env python3
"""The seed's MSTDP task, played by an agent over spikeserve's WebSocket with
the `spikeserve` Python package (pip install ./clients/python).

Two input neurons, one output neuron, reward-modulated STDP. In each trial of
50 steps the agent holds one input pattern: [100, 0] should make the output
fire, [0, 100] should keep it silent. Every step it sends the input with
deferReward, looks at the output's spikes in the reply, and rewards that very
step (+100 if the output did the right thing, -100 if not). A trial is right
if the output fired at least once in a "fire" trial, never in a "silent" one.
It prints the accuracy of every 50 trials.

    python3 examples/python/mstdp_agent.py --url http://127.0.0.1:3000
    python3 examples/python/mstdp_agent.py --format binary --require 0.9

The reward of step t is sent together with step t+1 (the client pipelines:
replies come in request order), so each network step costs one round trip,
not two. --format picks JSON replies or binary frames; the package decodes
either into the same numpy results.
"""

import argparse
import asyncio
import os
import random
import sys
import time

from spikeserve import AsyncClient, SpikeserveError

NETWORK = {
    "dt": 0.1,
    "populations": {"pre": {"n": 2, "refrac_length": 0}, "post": {"n": 1, "refrac_length": 0}},
    "connections": {
        "pre_post": {"pre": "pre", "post": "post", "w_min": 0, "w_max": 10, "rule": {"type": "MSTDP", "lr": [0.0003, 0.0002]}}
    },
}
FIRE = [100, 0]
SILENT = [0, 100]


async def play(args, session):
    async with await session.connect(format=args.format) as ws:
        hello = ws.hello
        print(f"session {session.id}: protocol {hello['protocol']}, role {hello['role']}, format {hello['format']}", flush=True)
        rng = random.Random(args.task_seed)
        correct = []
        reward_reply = None
        t0 = time.perf_counter()
        for trial in range(args.trials):
            want_fire = rng.random() < 0.5
            pre = FIRE if want_fire else SILENT
            fired_any = False
            for _ in range(args.steps_per_trial):
                r = await ws.step({"pre": pre}, defer_reward=True, populations=["post"])
                if reward_reply is not None:
                    await reward_reply
                fired = r.fired("post")
                fired_any = fired_any or fired
                reward_reply = ws.reward_nowait(100 if fired == want_fire else -100)
            correct.append(1 if fired_any == want_fire else 0)
            if (trial + 1) % 50 == 0:
                block = correct[-50:]
                print(f"trials {trial - 48:3d}-{trial + 1:3d}: accuracy {sum(block) / len(block):.2f}", flush=True)
        if reward_reply is not None:
            await reward_reply
        seconds = time.perf_counter() - t0
    steps = args.trials * args.steps_per_trial
    print(f"{steps} steps and {steps} rewards in {seconds:.2f} s ({steps / seconds:.0f} steps/s)", flush=True)
    return correct


async def main_async(args):
    async with AsyncClient(args.url, api_key=args.api_key) as client:
        try:
            session = await client.create_session(NETWORK, seed=args.seed, name="mstdp-agent")
        except (SpikeserveError, OSError) as e:
            print(f"cannot create a session at {args.url}: {e}", file=sys.stderr)
            return None
        try:
            return await play(args, session)
        finally:
            if not args.keep:
                try:
                    await session.delete()
                except (SpikeserveError, OSError):
                    pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:3000", help="the server's base URL (default %(default)s)")
    p.add_argument("--trials", type=int, default=300)
    p.add_argument("--steps-per-trial", type=int, default=50)
    p.add_argument("--format", choices=["json", "binary"], default="json", help="format of the step replies")
    p.add_argument("--seed", type=int, default=1, help="seed of the network's initial weights")
    p.add_argument("--task-seed", type=int, default=1, help="seed of the sequence of patterns")
    p.add_argument("--api-key", default=os.environ.get("SPIKESERVE_API_KEY"), help="API key, if the server requires one (env SPIKESERVE_API_KEY)")
    p.add_argument("--keep", action="store_true", help="keep the session when done (it is deleted by default)")
    p.add_argument("--require", type=float, default=None, help="exit with status 1 if accuracy on trials 201-300 is below this")
    args = p.parse_args()

    correct = asyncio.run(main_async(args))
    if correct is None:
        return 2
    if len(correct) >= 300:
        acc = sum(correct[200:300]) / 100
        print(f"result: accuracy {acc:.2f} on trials 201-300", flush=True)
        if args.require is not None and acc < args.require:
            print(f"below the required {args.require}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
