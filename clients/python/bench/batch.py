#!/usr/bin/env python3
"""Session-steps per second, Python client included: 64 seed-network sessions
stepped together, each round one VectorSession.step of all of them (one
step_batch on the multiplexed WebSocket, a binary frame each way, or one
POST /v1/batch/step) or one AsyncMultiplexSocket.step_arrays (the binary
step_batch from asyncio, no thread in between), vs 64 separate WebSockets stepped in lock-step (each
round: one step on every socket, then wait for all 64 replies). The methods
take turns, --rounds times, so that a change in the machine's load falls on
all of them alike.

    python3 clients/python/bench/batch.py --url http://127.0.0.1:3000 [--sessions 64] [--seconds 5] [--rounds 1]
"""

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import SEED_NETWORK  # noqa: E402

from spikeserve import AsyncClient, Client, VectorSession  # noqa: E402


def bench_vector(url, n, seconds, transport):
    with Client(url) as c:
        vec = VectorSession.create(c, SEED_NETWORK, n, seed=1, transport=transport)
        x = np.tile([100.0, 0.0], (n, 1))
        vec.step({"pre": x}, reward=1.0, populations=["post"])  # opens the socket
        rounds, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            vec.step({"pre": x}, reward=1.0, populations=["post"])
            rounds += 1
        rate = rounds * n / (time.perf_counter() - t0)
        vec.delete()
    return rate


async def bench_arrays(url, n, seconds):
    """The asyncio client's binary step_batch: no thread between the caller and the socket."""
    async with AsyncClient(url) as c:
        sessions = [await c.create_session(SEED_NETWORK, seed=1 + i) for i in range(n)]
        ids = [s.id for s in sessions]
        x = np.tile([100.0, 0.0], (n, 1))
        async with await c.multiplex() as mux:
            await mux.step_arrays(ids, {"pre": x}, reward=1.0, counts=["post"])
            rounds, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                await mux.step_arrays(ids, {"pre": x}, reward=1.0, counts=["post"])
                rounds += 1
            rate = rounds * n / (time.perf_counter() - t0)
        for s in sessions:
            await s.delete()
    return rate


async def bench_sockets(url, n, seconds):
    async with AsyncClient(url) as c:
        sessions = [await c.create_session(SEED_NETWORK, seed=1 + i) for i in range(n)]
        sockets = [await s.connect(format="binary") for s in sessions]
        rounds, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            await asyncio.gather(*(ws.step({"pre": [100, 0]}, reward=1.0, populations=["post"], spikes="counts") for ws in sockets))
            rounds += 1
        rate = rounds * n / (time.perf_counter() - t0)
        for ws in sockets:
            await ws.close()
        for s in sessions:
            await s.delete()
    return rate


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:3000")
    p.add_argument("--sessions", type=int, default=64)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args()
    methods = {
        "VectorSession, multiplexed socket (binary step_batch)": lambda: bench_vector(a.url, a.sessions, a.seconds, "websocket"),
        "AsyncMultiplexSocket.step_arrays (asyncio)": lambda: asyncio.run(bench_arrays(a.url, a.sessions, a.seconds)),
        "VectorSession, POST /v1/batch/step": lambda: bench_vector(a.url, a.sessions, a.seconds, "http"),
        f"{a.sessions} sockets in lock-step": lambda: asyncio.run(bench_sockets(a.url, a.sessions, a.seconds)),
    }
    rates = {name: [] for name in methods}
    for _ in range(a.rounds):
        for name, run in methods.items():
            rates[name].append(run())
    lockstep = max(rates[f"{a.sessions} sockets in lock-step"])
    print(f"{a.sessions} sessions, {a.seconds:g} s a run, {a.rounds} run(s) each, best run; session-steps/s (ratio to the sockets in lock-step)")
    for name, r in rates.items():
        best = max(r)
        print(f"{name:<52} {best:>9,.0f}  {best / lockstep:5.2f}x   runs: {', '.join(f'{x:,.0f}' for x in r)}")


if __name__ == "__main__":
    main()
