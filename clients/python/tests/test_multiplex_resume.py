"""The multiplexed socket after a real drop: a TCP proxy between client and
server is cut (the client sees its connection close without a close frame),
the socket opens again by itself, and the sessions' states tell which of the
unanswered messages ran: those the server ran (their replies lost on the way
back) raise CommandLostError(applied=True), those that never reached it are
sent again and answered, and an unanswered reset leaves it unknown
(applied=None). Every step runs exactly once."""

from __future__ import annotations

import asyncio

import pytest

import spikeserve
from spikeserve import AsyncClient
from spikeserve.batch_frame import BatchRequest
from spikeserve.multiplex import AsyncMultiplexSocket

from conftest import SEED_NETWORK


class _Link:
    """One proxied connection: each direction forwarded unless told to drop it."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter):
        self.writers = (client, server)
        self.drop_up = False  # client -> server
        self.drop_down = False  # server -> client
        self.dropped_up = 0  # bytes from the client dropped


class Proxy:
    """A TCP proxy to the server on 127.0.0.1, whose connections the test can cut."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.links: list[_Link] = []

    async def start(self) -> "Proxy":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        link = _Link(writer, up_writer)
        self.links.append(link)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            try:
                while data := await src.read(65536):
                    if not (link.drop_up if up else link.drop_down):
                        dst.write(data)
                        await dst.drain()
                    elif up:
                        link.dropped_up += len(data)
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    async def hold_requests(self) -> None:
        """From now on drop what the client sends on the open connections."""
        for link in self.links:
            link.drop_up = True

    async def until_dropped(self) -> None:
        """Wait until the client has sent something that was dropped."""
        await _until(lambda: _true(any(link.dropped_up > 0 for link in self.links)), "the client to send")

    def cut(self) -> None:
        """Close every connection now, both sides, without a close frame."""
        for link in self.links:
            for w in link.writers:
                w.transport.abort()
        self.links = []

    async def stop(self) -> None:
        self.cut()
        self.server.close()
        await self.server.wait_closed()


async def _true(x: bool) -> bool:
    return x


async def _until(cond, what: str) -> None:
    for _ in range(500):
        if await cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_after_a_cut_what_ran_is_lost_with_applied_true_and_what_did_not_is_sent_again(server):
    async def main() -> None:
        proxy = await Proxy(server.port).start()
        async with AsyncClient(server.url) as c:
            a = await c.create_session(SEED_NETWORK, seed=1)
            b = await c.create_session(SEED_NETWORK, seed=2)

            async def step_of(s) -> int:
                return int((await s.get())["step"])

            mux = AsyncMultiplexSocket(f"ws://127.0.0.1:{proxy.port}/v1/ws", session_state=lambda sid: c.session(sid).get(), timeout=30)
            await mux.open()
            try:
                assert (await mux.step(a.id)).step == 1
                assert (await mux.step(b.id)).step == 1

                # 1. Run by the server, replies lost: a step, a JSON batch and a binary batch.
                for link in proxy.links:
                    link.drop_down = True
                ran = [
                    mux.step_nowait(a.id, steps=3),
                    mux.step_batch_nowait([{"id": b.id, "steps": 2}, {"id": a.id}]),
                    mux.step_arrays_nowait(BatchRequest([a.id, b.id], defer_reward=True), []),
                ]
                await _until(lambda: _both(step_of(a), step_of(b), (6, 4)), "the server to run the three messages")
                proxy.cut()
                for f in ran:
                    with pytest.raises(spikeserve.CommandLostError) as e:
                        await asyncio.wait_for(f, 30)
                    assert e.value.applied is True
                assert mux.reconnects == 1
                assert (await a.get())["pending"] is True

                # 2. Never reached the server: sent again on the new socket, answered as if nothing happened.
                await proxy.hold_requests()
                again = [mux.step_nowait(a.id, steps=2), mux.step_batch_nowait([{"id": b.id}]), asyncio.ensure_future(mux.weights(a.id))]
                await proxy.until_dropped()
                await asyncio.sleep(0.2)  # the rest of them sent too
                assert not any(f.done() for f in again)
                proxy.cut()
                r, outcomes, w = await asyncio.wait_for(asyncio.gather(*again), 30)
                assert (r.step, r.pending) == (8, False)
                assert outcomes[0]["ok"] and outcomes[0]["result"]["step"] == 5
                assert w["pre_post"].shape == (2, 1)
                assert mux.reconnects == 2
                assert (await step_of(a), await step_of(b)) == (8, 5), "every step ran exactly once"

                # 3. An unanswered reset: whether it ran cannot be told.
                await proxy.hold_requests()
                reset = asyncio.ensure_future(mux.reset(a.id))
                await proxy.until_dropped()
                proxy.cut()
                with pytest.raises(spikeserve.CommandLostError) as e:
                    await asyncio.wait_for(reset, 30)
                assert e.value.applied is None
                assert (await mux.step(a.id)).step == 9
            finally:
                await mux.close()
                await proxy.stop()

    asyncio.run(main())


async def _both(x, y, want: tuple[int, int]) -> bool:
    return (await x, await y) == want


def test_with_reconnect_false_a_cut_fails_the_waiting_and_later_commands(server):
    async def main() -> None:
        proxy = await Proxy(server.port).start()
        async with AsyncClient(server.url) as c:
            a = await c.create_session(SEED_NETWORK, seed=1)
            mux = AsyncMultiplexSocket(f"ws://127.0.0.1:{proxy.port}/v1/ws", reconnect=False, session_state=lambda sid: c.session(sid).get())
            await mux.open()
            try:
                await mux.step(a.id)
                await proxy.hold_requests()
                f = mux.step_nowait(a.id)
                await proxy.until_dropped()
                proxy.cut()
                with pytest.raises(spikeserve.ConnectionLostError):
                    await asyncio.wait_for(f, 30)
                with pytest.raises(spikeserve.ConnectionLostError):
                    mux.step_nowait(a.id)
                assert mux.reconnects == 0
            finally:
                await mux.close()
                await proxy.stop()

    asyncio.run(main())
