#!/usr/bin/env python3
"""Session-steps per second, Python client included: 64 seed-network sessions
stepped together with one POST /v1/batch/step per round (VectorSession), vs 64
separate WebSockets stepped in lock-step (each round: one step on every socket,
then wait for all 64 replies).

    python3 clients/python/bench/batch.py --url http://127.0.0.1:3000 [--sessions 64] [--seconds 5]
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


def bench_batch(url, n, seconds):
    with Client(url) as c:
        vec = VectorSession.create(c, SEED_NETWORK, n, seed=1)
        x = np.tile([100.0, 0.0], (n, 1))
        rounds, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            vec.step({"pre": x}, reward=1.0, populations=["post"])
            rounds += 1
        rate = rounds * n / (time.perf_counter() - t0)
        vec.delete()
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
    a = p.parse_args()
    batch = bench_batch(a.url, a.sessions, a.seconds)
    sockets = asyncio.run(bench_sockets(a.url, a.sessions, a.seconds))
    print(f"{a.sessions} sessions, one batch request a round: {batch:,.0f} session-steps/s")
    print(f"{a.sessions} sockets in lock-step:             {sockets:,.0f} session-steps/s")
    print(f"ratio: {batch / sockets:.2f}x")


if __name__ == "__main__":
    main()
