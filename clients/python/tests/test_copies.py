"""A batch (batch_size > 1, docs/model.md "Batches") through the Python client,
as the TypeScript client drives one (test/client-copies.test.ts): inputs and
rewards per copy, spikes, counts and potentials per copy over REST and the
WebSocket, binary replies and events that read as the JSON ones, the
``copies`` selector on steps, streams and state reads, and the server's
refusals of wrong shapes as exceptions."""

import asyncio
import json
import os
import re
import subprocess

import numpy as np
import pytest

from spikeserve import AsyncClient, Client, InputInvalidError, VectorSession
from spikeserve.results import decode_frame

from conftest import REPO, SEED_NETWORK

NETWORK = {
    "batch_size": 2,
    "populations": {"pre": {"n": 2, "refrac_length": 0}, "post": {"n": 1, "refrac_length": 0}},
    "connections": {"pre_post": {"pre": "pre", "post": "post", "w_max": 10, "w": [[5], [5]], "rule": {"type": "MSTDPET", "lr": 0.5}}},
}


def test_rest_inputs_and_rewards_per_copy_spikes_and_state_per_copy(server):
    with Client(server.url) as c:
        s = c.create_session(NETWORK)
        r = s.step({"pre": np.array([[100.0, 0.0], [0.0, 0.0]])}, steps=30, defer_reward=True, spikes="counts")
        assert r.copies == [0, 1]
        assert r.spike_counts["pre"].shape == (2, 2) and r.spike_counts["post"].shape == (2, 1)
        assert list(r.spike_counts["pre"][1]) == [0, 0], "copy 1 had no input"
        assert r.spike_counts["pre"][0][0] > 0
        assert s.reward(np.array([1.0, -1.0])) == {"step": 30, "pending": False}
        assert s.weights()["pre_post"][0][0] > 5, "copy 0's reward potentiated what its spikes earned"
        one = s.step({"pre": [[0, 100], [100, 0]]}, potentials=True)
        assert one.copies == [0, 1] and len(one.spikes["pre"]) == 1 and len(one.spikes["pre"][0]) == 2, "per step, one list per copy"
        assert one.potentials["post"].shape == (2, 1)
        # The state per copy: every copy, or those asked for, in that order.
        state = s.state()
        assert state["copies"] == [0, 1]
        assert state["populations"]["pre"]["spikes"] == [x.tolist() for x in one.spikes["pre"][0]]
        assert np.allclose(state["populations"]["post"]["v"], one.potentials["post"])
        second = s.state(copies=[1])
        assert second["copies"] == [1] and second["populations"]["post"]["v"] == [state["populations"]["post"]["v"][1]]
        assert s.state(copies=[1, 0])["populations"]["post"]["v"] == state["populations"]["post"]["v"][::-1]
        # One copy's result, shaped as a network of one copy's.
        picked = s.step({"pre": [100, 0]}, steps=3, copies=[1], potentials=True)
        assert picked.copies == [1] and picked.copy(1).potentials["post"].shape == (1,)
        assert [len(x) for x in picked.copy(1).spikes["pre"]] == [len(x[0]) for x in picked.spikes["pre"]]
        with pytest.raises(KeyError):
            picked.copy(0)
        s.delete()


def test_rest_and_socket_refuse_wrong_shapes_with_the_servers_code(server):
    with Client(server.url) as c:
        s = c.create_session(NETWORK)
        wrong = [
            ({"pre": [[100, 0]]}, {}, "inputs.pre"),  # one vector where the batch has 2 copies
            ({"pre": [[100, 0, 0], [0, 0, 0]]}, {}, "inputs.pre[0]"),  # vectors of 3 for 2 neurons
            (None, {"reward": [1, 2, 3]}, "reward"),  # 3 rewards for 2 copies
            (None, {"copies": [2]}, "return.copies[0]"),  # no copy 2
        ]

        def refuses(stepper):
            for inputs, kwargs, field in wrong:
                with pytest.raises(InputInvalidError) as e:
                    stepper.step(inputs, **kwargs)
                assert e.value.status == 400 and e.value.details.get("field", "").startswith(field), e.value
            stepper.step(None, defer_reward=True)
            with pytest.raises(InputInvalidError) as e:
                stepper.reward([1, 2, 3])
            assert e.value.status == 400 and e.value.details.get("field") == "reward", e.value

        refuses(s)
        for fmt in ("json", "binary"):
            with s.connect(format=fmt) as ws:
                refuses(ws)
        with pytest.raises(InputInvalidError) as e:
            s.state(copies=[0, 2])
        assert e.value.status == 400 and e.value.details.get("field") == "query.copies[1]"
        assert (s.get()["step"], s.get()["pending"]) == (3, True), "nothing refused ran"
        single = c.create_session(SEED_NETWORK)
        assert "copies" not in single.state(copies=[0])
        with pytest.raises(InputInvalidError):
            single.state(copies=[1])
        single.delete()
        s.delete()


def _equal_results(binary, json_):
    """A binary step reply reads as the JSON one (potentials and weights as float32 values)."""
    assert (binary.step, binary.steps, binary.pending, binary.copies) == (json_.step, json_.steps, json_.pending, json_.copies)
    for name in ("spikes", "spike_counts", "potentials", "weights"):
        a, b = getattr(binary, name), getattr(json_, name)
        assert (a is None) == (b is None), name
    if json_.spikes is not None:
        assert {k: [[x.tolist() for x in per_copy] for per_copy in v] for k, v in binary.spikes.items()} == {
            k: [[x.tolist() for x in per_copy] for per_copy in v] for k, v in json_.spikes.items()
        }
    for name in ("spike_counts", "potentials", "weights"):
        a, b = getattr(binary, name), getattr(json_, name)
        if b is not None:
            assert a.keys() == b.keys()
            for k in b:
                assert a[k].shape == b[k].shape, (name, k)
                np.testing.assert_allclose(a[k], np.float32(b[k]) if name != "spike_counts" else b[k], rtol=0, atol=0)


def _equal_events(binary, json_):
    assert [(e.type, e.step, e.pending, e.copies, e.source) for e in binary] == [(e.type, e.step, e.pending, e.copies, e.source) for e in json_]
    for a, b in zip(binary, json_):
        if b.type == "reward":
            np.testing.assert_array_equal(a.reward, b.reward)
        elif b.type == "spikes":
            assert {k: [x.tolist() for x in v] for k, v in a.data.items()} == {k: [x.tolist() for x in v] for k, v in b.data.items()}
        else:
            assert a.data.keys() == b.data.keys()
            for k in b.data:
                np.testing.assert_array_equal(a.data[k], np.float32(b.data[k]))


def test_socket_binary_replies_and_events_of_a_batch_read_as_the_json_ones(server):
    with Client(server.url) as c:
        a, b = c.create_session(NETWORK, seed=3), c.create_session(NETWORK, seed=3)
        with a.connect(format="json") as json_, b.connect(format="binary") as binary:
            assert binary.batch_size == 2 == json_.batch_size
            for ws in (json_, binary):
                assert ws.subscribe("spikes", copies=[1])["copies"] == [1]
                ws.subscribe("potentials")
                ws.subscribe("rewards")
            body = dict(steps=2, reward=[0.5, -0.5], copies=[1, 0], potentials=True, weights=True)
            rj = json_.step({"pre": [[100, 0], [0, 100]]}, **body)
            rb = binary.step({"pre": np.array([[100.0, 0.0], [0.0, 100.0]])}, **body)
            assert rj.copies == [1, 0]
            _equal_results(rb, rj)
            counts = dict(steps=5, spikes="counts")
            _equal_results(binary.step({"pre": [100, 100]}, **counts), json_.step({"pre": [100, 100]}, **counts))
            ej, eb = list(json_.events(timeout=0.5)), list(binary.events(timeout=0.5))
            assert len(ej) == 3 * 7, "a spikes, a potentials and a reward event per step"
            _equal_events(eb, ej)
            assert ej[0].type == "spikes" and ej[0].copies == [1] and len(ej[0].data["pre"]) == 1
            assert ej[1].type == "potentials" and ej[1].copies == [0, 1] and ej[1].data["post"].shape == (2, 1)
            assert ej[2].type == "reward" and ej[2].step == 1 and ej[2].reward.tolist() == [0.5, -0.5] and ej[2].source == "step"
            # A deferred reward per copy, over the socket.
            binary.step({"pre": [100, 0]}, defer_reward=True)
            assert binary.reward(np.array([1.0, 0.0]))["pending"] is False
            (e,) = [e for e in binary.events(timeout=0.5) if e.type == "reward"][-1:]
            assert e.source == "deferred" and e.reward.tolist() == [1.0, 0.0]
        a.delete()
        b.delete()


# The TypeScript client (dist/src/client) drives its own session of the same
# network and seed with the same calls, and prints its replies and events.
TS_SCRIPT = """
import { RestClient } from %(client)s;
const network = JSON.parse(process.env.NETWORK);
const calls = JSON.parse(process.env.CALLS);
const rest = new RestClient(process.env.URL);
const { id } = await rest.createSession({ network, seed: 11 });
const ws = await rest.socket(id, { format: process.env.FORMAT });
const events = [];
for (const type of ['spikes', 'potentials', 'reward']) ws.on(type, (e) => events.push(e));
await ws.subscribe({ stream: 'spikes', copies: [1] });
await ws.subscribe({ stream: 'potentials', copies: [0, 1] });
await ws.subscribe({ stream: 'rewards' });
const results = [];
for (const c of calls) results.push(c.reward === undefined ? await ws.step(c.step) : await ws.reward(c.reward));
const state = await rest.state(id, [1, 0]);
await ws.close();
await rest.deleteSession(id);
console.log(JSON.stringify({ results, events, state }));
"""

CALLS = [
    {"step": {"steps": 3, "inputs": {"pre": [[100, 0], [0, 100]]}, "reward": [1, -1], "return": {"copies": [1, 0], "potentials": True, "weights": True}}},
    {"step": {"steps": 4, "inputs": {"pre": [100, 50]}, "deferReward": True, "return": {"spikes": "counts", "potentials": True}}},
    {"reward": [0.5, -2]},
    {"step": {"inputs": {"pre": [[[100, 0], [0, 0]], [[0, 0], [0, 100]]]}, "steps": 2, "return": {"populations": ["post"], "copies": [0]}}},
]


def _wire_result(r):
    """A StepResult in the shape of the JSON reply (the TypeScript client's)."""
    out = {"step": r.step, "steps": r.steps, "pending": r.pending}
    if r.copies is not None:
        out["copies"] = r.copies
    if r.spikes is not None:
        out["spikes"] = {k: [[c.tolist() for c in per_copy] for per_copy in v] for k, v in r.spikes.items()}
    for key, name in (("spikeCounts", "spike_counts"), ("potentials", "potentials"), ("weights", "weights")):
        if getattr(r, name) is not None:
            out[key] = {k: v.tolist() for k, v in getattr(r, name).items()}
    return out


def _wire_event(e):
    if e.type == "reward":
        return {"type": "reward", "step": e.step, "reward": e.reward.tolist(), "source": e.source}
    data = {k: [c.tolist() for c in v] for k, v in e.data.items()} if e.type == "spikes" else {k: v.tolist() for k, v in e.data.items()}
    return {"type": e.type, "step": e.step, "pending": e.pending, "copies": e.copies, e.type: data}


@pytest.mark.parametrize("fmt", ["json", "binary"])
def test_replies_events_and_state_equal_the_typescript_clients(server, fmt):
    client = json.dumps((REPO / "dist" / "src" / "client" / "index.js").as_uri())
    env = {**os.environ, "URL": server.url, "FORMAT": fmt, "NETWORK": json.dumps(NETWORK), "CALLS": json.dumps(CALLS)}
    ts = json.loads(subprocess.run(["node", "--input-type=module", "-e", TS_SCRIPT % {"client": client}], env=env, capture_output=True, text=True, timeout=60, check=True).stdout)
    with Client(server.url) as c:
        s = c.create_session(NETWORK, seed=11)
        with s.connect(format=fmt) as ws:
            ws.subscribe("spikes", copies=[1])
            ws.subscribe("potentials", copies=[0, 1])
            ws.subscribe("rewards")
            results = []
            for call in CALLS:
                if "reward" in call:
                    results.append(ws.reward(np.array(call["reward"])))
                    continue
                body = call["step"]
                ret = body.get("return", {})
                results.append(
                    _wire_result(
                        ws.step(
                            {k: np.array(v, dtype=np.float64) for k, v in body["inputs"].items()},
                            steps=body.get("steps", 1),
                            reward=body.get("reward"),
                            defer_reward=body.get("deferReward", False),
                            populations=ret.get("populations"),
                            spikes=ret.get("spikes", "steps"),
                            potentials=ret.get("potentials", False),
                            weights=ret.get("weights", False),
                            copies=ret.get("copies"),
                        )
                    )
                )
            events = [_wire_event(e) for e in ws.events(timeout=0.5)]
        state = s.state(copies=[1, 0])
        s.delete()
    assert results == ts["results"]
    assert events == ts["events"] and len(events) == 3 * 9, "a spikes, a potentials and a reward event per step (the deferred one when its reward came)"
    assert state == ts["state"]


def test_single_copy_sockets_are_unchanged(server):
    with Client(server.url) as c:
        s = c.create_session(SEED_NETWORK)
        with s.connect(format="binary") as ws:
            assert ws.batch_size == 1
            r = ws.step({"pre": [100, 0]}, copies=[0], potentials=True)
            assert r.copies is None and r.potentials["post"].shape == (1,) and isinstance(r.spikes["pre"][0], np.ndarray)
        s.delete()


def test_async_client_and_multiplexed_socket_carry_batches(server):
    async def main():
        async with AsyncClient(server.url) as c:
            s = await c.create_session(NETWORK, seed=5)
            r = await s.step({"pre": [[100, 0], [0, 100]]}, steps=4, copies=[1], spikes="counts", defer_reward=True)
            assert r.copies == [1] and r.spike_counts["pre"].tolist() == [[0, 4]]
            assert (await s.reward([1, -1]))["pending"] is False
            assert (await s.state(copies=[1]))["copies"] == [1]
            async with await s.connect(format="binary") as ws:
                assert ws.batch_size == 2
                await ws.subscribe("spikes", copies=[0])
                futs = [ws.step_nowait({"pre": [[100, 0], [0, 0]]}, copies=[1, 0]) for _ in range(3)]
                results = [await f for f in futs]
                assert [x.copies for x in results] == [[1, 0]] * 3
                assert (await ws.next_event(5)).copies == [0]
                await ws.step(None, defer_reward=True)
                with pytest.raises(InputInvalidError):
                    await ws.reward([1, 2, 3])
            mux = await c.multiplex()
            m = await mux.step(s.id, {"pre": [[100, 0], [0, 100]]}, copies=[0], potentials=True, defer_reward=True)
            assert m.copies == [0] and m.potentials["post"].shape == (1, 1)
            assert (await mux.reward(s.id, np.array([0.5, 0.5])))["pending"] is False
            await mux.close()
            await s.delete()

    asyncio.run(main())


def test_vector_session_of_batch_sessions_binary_equals_json(server):
    with Client(server.url) as c:
        net = {**NETWORK, "connections": {"pre_post": {**NETWORK["connections"]["pre_post"], "rule": {"type": "MSTDP", "lr": 0.01}}}}
        over_socket = VectorSession.create(c, net, 3, seed=1)
        over_http = VectorSession.create(c, net, 3, seed=1, transport="http")
        x = np.array([[100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
        for vec in (over_socket, over_http):
            assert vec.batch_size == 2
        # Held [N, n] rows (every copy of a session takes its row): the binary step_batch over the socket.
        rs = over_socket.step_results({"pre": x}, reward=1.0, steps=5, populations=["post", "pre"], spikes="counts", potentials=True)
        rh = over_http.step_results({"pre": x}, reward=1.0, steps=5, populations=["post", "pre"], spikes="counts", potentials=True)
        for a, b in zip(rs, rh):
            assert a.copies == b.copies == [0, 1]
            assert a.spike_counts.keys() == b.spike_counts.keys()
            for p in b.spike_counts:
                np.testing.assert_array_equal(a.spike_counts[p], b.spike_counts[p])
                np.testing.assert_array_equal(a.potentials[p], b.potentials[p])
        # Per copy of each session: [N, B, n] inputs and [N, B] rewards, in the
        # binary step_batch too (its rows per copy), not the JSON one.
        json_calls = []
        json_outcomes = over_socket._outcomes
        over_socket._outcomes = lambda *a: json_calls.append(a) or json_outcomes(*a)
        per_copy = np.stack([x, x[::-1]], axis=1)
        rewards = np.array([[1, -1], [0, 0], [-1, 1]])
        for defer in (False, True):
            cs = over_socket.step_results({"pre": per_copy}, reward=rewards, populations=["pre", "post"], spikes="counts", potentials=True, steps=3, defer_reward=defer)
            ch = over_http.step_results({"pre": per_copy}, reward=rewards, populations=["pre", "post"], spikes="counts", potentials=True, steps=3, defer_reward=defer)
            for a, b in zip(cs, ch):
                assert (a.step, a.pending, a.copies) == (b.step, b.pending, b.copies)
                for p in ("pre", "post"):
                    np.testing.assert_array_equal(a.spike_counts[p], b.spike_counts[p])
                    np.testing.assert_array_equal(a.potentials[p], b.potentials[p])
            assert cs[0].spike_counts["pre"].tolist() == [[3, 0], [3, 3]] and cs[1].spike_counts["pre"].tolist() == [[0, 3], [0, 3]], "session i, copy b: its own input"
        for vec in (over_socket, over_http):
            for s in vec.sessions:
                s.reward([1, -1])
        # A session's [N, n] row and its one reward go to every copy beside another input's per-copy rows.
        cs = over_socket.step({"pre": per_copy, "post": np.zeros((3, 1))}, reward=np.array([1.0, 0.0, -1.0]), populations=["pre"], steps=3)
        ch = over_http.step({"pre": per_copy, "post": np.zeros((3, 1))}, reward=np.array([1.0, 0.0, -1.0]), populations=["pre"], steps=3)
        assert cs["pre"].shape == (3, 2, 2)
        np.testing.assert_array_equal(cs["pre"], ch["pre"])
        for a, b in zip(over_socket.sessions, over_http.sessions):
            np.testing.assert_array_equal(a.weights("pre_post")["pre_post"], b.weights("pre_post")["pre_post"])
        assert json_calls == [], "every call went as a binary step_batch"
        # B' vectors for B copies: the server refuses that session's row, naming it.
        with pytest.raises(InputInvalidError) as e:
            over_socket.step({"pre": np.zeros((3, 3, 2))}, populations=["pre"])
        assert e.value.details["index"] == 0 and e.value.details["field"] == "copyRows[0]"
        assert json_calls == []
        # The multiplexed socket's own binary step_batch gives a batch session's row as B x n, copy 0's first.
        with c.multiplex() as mux:
            b = mux.step_arrays([over_http.sessions[0].id], {"pre": [100.0, 0.0]}, counts=["pre"], steps=2)
            assert b.spike_counts["pre"].tolist() == [[2, 0, 2, 0]]
            b = mux.step_arrays([over_http.sessions[0].id, over_http.sessions[1].id], {"pre": per_copy[:2]}, reward=rewards[:2], counts=["pre"], steps=2)
            assert b.spike_counts["pre"].tolist() == [[2, 0, 2, 2], [0, 2, 0, 2]]
            with pytest.raises(ValueError):
                mux.step_arrays([over_http.sessions[0].id], {"pre": np.zeros((1, 2, 2)), "post": np.zeros((1, 3, 1))})
        over_socket.delete()
        over_http.delete()


def test_the_documented_batch_frame_decodes():
    """docs/websocket.md's batch step reply (2 copies, counts of post) read from the document."""
    text = (REPO / "docs" / "websocket.md").read_text()
    block = re.search(r"On a batch of 2 copies.*?```text\n(.*?)```", text, re.S).group(1)
    data = bytearray()
    for line in block.splitlines():
        for token in line.split():
            if not re.fullmatch(r"[0-9a-f]{2}", token):
                break
            data.append(int(token, 16))
    assert len(data) == 84
    f = decode_frame(bytes(data), ["pre", "post"], [])
    r = f.step_result()
    assert (f.id, r.step, r.steps, r.pending, r.copies) == (7, 12, 1, False, [0, 1])
    assert r.spike_counts["post"].tolist() == [[1], [0]] and r.spikes is None
    assert r.copy(1).spike_counts["post"].tolist() == [0]
