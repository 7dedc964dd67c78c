#!/usr/bin/env python3
"""The seed's MSTDP task, played by an agent over spikeserve's WebSocket.

Two input neurons, one output neuron, reward-modulated STDP. In each trial of
50 steps the agent holds one input pattern: [100, 0] should make the output
fire, [0, 100] should keep it silent. Every step it sends the input with
deferReward, looks at the output's spikes in the reply, and rewards that very
step (+100 if the output did the right thing, -100 if not). A trial is right
if the output fired at least once in a "fire" trial, never in a "silent" one.
It prints the accuracy of every 50 trials.

Needs only the standard library and `websockets` (Debian: python3-websockets).

    python3 examples/python/mstdp_agent.py --url http://127.0.0.1:3000
    python3 examples/python/mstdp_agent.py --format binary --require 0.9

The reward of step t is sent together with step t+1 (pipelining: replies come
in request order), so each network step costs one round trip, not two.
With --format binary the step replies come as binary frames, decoded here
from the description of the format in docs/websocket.md ("Binary frames").
"""

import argparse
import asyncio
import json
import os
import random
import struct
import sys
import time
import urllib.error
import urllib.request

import websockets

NETWORK = {
    "dt": 0.1,
    "populations": {"pre": {"n": 2, "refrac_length": 0}, "post": {"n": 1, "refrac_length": 0}},
    "connections": {
        "pre_post": {"pre": "pre", "post": "post", "w_min": 0, "w_max": 10, "rule": {"type": "MSTDP", "lr": [0.0003, 0.0002]}}
    },
}
FIRE = [100, 0]
SILENT = [0, 100]
PROTOCOL = 1


class ServerError(Exception):
    """An error reply or refusal from the server: its code and message."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


def http_json(method, url, body=None, api_key=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if api_key:
        req.add_header("authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        err = json.loads(e.read() or b"{}").get("error", {})
        raise ServerError(err.get("code", f"HTTP {e.code}"), err.get("message", "")) from None


def parse_frame(buf):
    """A binary frame (docs/websocket.md, "Binary frames") as (header, sections by population index)."""
    version, kind, flags, id_len, step, steps, count = struct.unpack_from("<BBHIdII", buf, 0)
    if version != 1:
        raise ValueError(f"binary frame version {version}; this agent reads 1")
    off = 24 + ((id_len + 3) & ~3)
    spikes = {}
    for _ in range(count):
        typ, _zero, index, a, b = struct.unpack_from("<BBHII", buf, off)
        off += 12
        if typ == 1:  # spikes: a step counts, then b indices
            counts = struct.unpack_from(f"<{a}I", buf, off)
            indices = struct.unpack_from(f"<{b}I", buf, off + 4 * a)
            lists, k = [], 0
            for n in counts:
                lists.append(list(indices[k : k + n]))
                k += n
            spikes[index] = lists
            off += 4 * (a + b)
        elif typ in (2, 3):  # spike counts (u32) or potentials (f32): a values
            off += 4 * a
        elif typ == 4:  # weights: a x b float32
            off += 4 * a * b
        else:
            raise ValueError(f"unknown section type {typ}")
    return {"kind": kind, "pending": bool(flags & 1), "step": int(step), "steps": steps}, spikes


class Agent:
    def __init__(self, ws, fmt):
        self.ws = ws
        self.fmt = fmt
        self.post = None

    async def hello(self):
        msg = json.loads(await self.ws.recv())
        if msg["type"] == "error":
            raise ServerError(msg["error"]["code"], msg["error"]["message"])
        if msg["type"] != "hello" or msg["protocol"] != PROTOCOL:
            raise RuntimeError(f"expected a hello of protocol {PROTOCOL}, got {msg}")
        names = [p["name"] for p in msg["populations"]]
        if names != ["pre", "post"]:
            raise RuntimeError(f"unexpected populations {names}")
        self.post = names.index("post")
        return msg

    async def reply(self, request):
        """The next reply, which must answer `request` (replies come in request order)."""
        while True:
            data = await self.ws.recv()
            if isinstance(data, bytes):
                return parse_frame(data)
            msg = json.loads(data)
            if msg["type"] == "reply":
                if msg["request"] != request:
                    raise RuntimeError(f"a reply to {msg['request']} came where one to {request} was due")
                return msg["result"]
            if msg["type"] == "error":
                raise ServerError(msg["error"]["code"], msg["error"]["message"])
            # Stream events and notices: this agent subscribes to none.

    async def send_step(self, pre):
        await self.ws.send(
            json.dumps({"type": "step", "inputs": {"pre": pre}, "deferReward": True, "return": {"populations": ["post"]}, "format": self.fmt})
        )

    async def fired(self):
        r = await self.reply("step")
        if self.fmt == "binary":
            header, spikes = r
            return len(spikes[self.post][0]) > 0
        return len(r["spikes"]["post"][0]) > 0

    async def send_reward(self, reward):
        await self.ws.send(json.dumps({"type": "reward", "reward": reward}))


async def play(args, session_id):
    ws_url = args.url.replace("http", "ws", 1).rstrip("/") + f"/v1/sessions/{session_id}/ws?format={args.format}"
    headers = {"authorization": f"Bearer {args.api_key}"} if args.api_key else None
    async with websockets.connect(ws_url, max_size=2**26, compression=None, extra_headers=headers) as ws:
        agent = Agent(ws, args.format)
        hello = await agent.hello()
        print(f"session {session_id}: protocol {hello['protocol']}, role {hello['role']}, format {hello['format']}", flush=True)
        rng = random.Random(args.task_seed)
        correct = []
        reward_due = False
        t0 = time.perf_counter()
        for trial in range(args.trials):
            want_fire = rng.random() < 0.5
            pre = FIRE if want_fire else SILENT
            fired_any = False
            for _ in range(args.steps_per_trial):
                await agent.send_step(pre)
                if reward_due:
                    await agent.reply("reward")
                fired = await agent.fired()
                fired_any = fired_any or fired
                await agent.send_reward(100 if fired == want_fire else -100)
                reward_due = True
            correct.append(1 if fired_any == want_fire else 0)
            if (trial + 1) % 50 == 0:
                block = correct[-50:]
                print(f"trials {trial - 48:3d}-{trial + 1:3d}: accuracy {sum(block) / len(block):.2f}", flush=True)
        if reward_due:
            await agent.reply("reward")
        seconds = time.perf_counter() - t0
    steps = args.trials * args.steps_per_trial
    print(f"{steps} steps and {steps} rewards in {seconds:.2f} s ({steps / seconds:.0f} steps/s)", flush=True)
    return correct


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

    base = args.url.rstrip("/")
    try:
        session = http_json("POST", f"{base}/v1/sessions", {"name": "mstdp-agent", "seed": args.seed, "network": NETWORK}, args.api_key)
    except (ServerError, urllib.error.URLError) as e:
        print(f"cannot create a session at {base}: {e}", file=sys.stderr)
        return 2
    try:
        correct = asyncio.run(play(args, session["id"]))
    finally:
        if not args.keep:
            try:
                http_json("DELETE", f"{base}/v1/sessions/{session['id']}", None, args.api_key)
            except (ServerError, urllib.error.URLError):
                pass
    if len(correct) >= 300:
        acc = sum(correct[200:300]) / 100
        print(f"result: accuracy {acc:.2f} on trials 201-300", flush=True)
        if args.require is not None and acc < args.require:
            print(f"below the required {args.require}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
