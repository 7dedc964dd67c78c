"""A real spikeserve server for the tests: node dist/src/server.js on
127.0.0.1 and a free port, sessions in memory (DATA_DIR=), stopped at the end.
Build it first (npm run build) from the repository's root."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]

SEED_NETWORK = {
    "dt": 0.1,
    "populations": {"pre": {"n": 2, "refrac_length": 0}, "post": {"n": 1, "refrac_length": 0}},
    "connections": {"pre_post": {"pre": "pre", "post": "post", "w_min": 0, "w_max": 10, "rule": {"type": "MSTDP", "lr": [0.0003, 0.0002]}}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, env: dict[str, str] | None = None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "DATA_DIR": "", "LOG_LEVEL": "warn", "OVERLOAD_EVENT_LOOP_DELAY_MS": "0", **(env or {})}
        server_js = REPO / "dist" / "src" / "server.js"
        if not server_js.exists():
            raise RuntimeError(f"{server_js} is missing: run `npm run build` in {REPO}")
        self.proc = subprocess.Popen(["node", str(server_js)], cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the server did not answer /healthz within 30 s")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.stop()


API_KEY = "test-key-0123456789abcdef"
OTHER_KEY = "other-key-0123456789abcdef"


@pytest.fixture(scope="session")
def keyed_server() -> Iterator[Server]:
    srv = Server({"API_KEYS": f"alice:{API_KEY},bob:{OTHER_KEY}"})
    yield srv
    srv.stop()
