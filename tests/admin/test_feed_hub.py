"""The feed hub on its own: frames, filters, replay and the lag limit, with an in-memory outbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing

from eventdedup.feedhub import (
    MAX_FRAME_MESSAGES,
    Encoded,
    FeedHub,
    frame_text,
    next_frame,
    stream,
)


class Outbox:
    """Committed messages; ``fetch_after`` as the feed actor's, counting the reads."""

    def __init__(self) -> None:
        self.rows: list[Encoded] = []
        self.reads = 0

    def commit(self, count: int, type_: str = "file.accepted") -> None:
        for _ in range(count):
            seq = len(self.rows) + 1
            self.rows.append(
                Encoded(
                    seq,
                    type_,
                    json.dumps(
                        {"seq": seq, "type": type_, "at": "2026-01-01T00:00:00+00:00", "data": {}}
                    ),
                )
            )

    async def fetch_after(self, after: int, limit: int) -> list[Encoded]:
        self.reads += 1
        await trio.lowlevel.checkpoint()
        return self.rows[after : after + limit]


class Recorder:
    """A client's socket: records frames; ``stuck`` makes the next send block."""

    def __init__(self) -> None:
        self.frames: list[list[dict[str, Any]]] = []
        self.stuck = False
        self.released = trio.Event()

    async def send(self, text: str) -> None:
        if self.stuck:
            await self.released.wait()
        self.frames.append(json.loads(text)["feed"])

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for frame in self.frames for m in frame]


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


@pytest.mark.trio
async def test_a_burst_reaches_an_idle_client_in_few_frames_in_order() -> None:
    outbox, client = Outbox(), Recorder()
    hub = FeedHub(outbox.fetch_after, queue_size=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: hub.run(initial_head=0, task_status=task_status))
        sub = hub.subscribe()
        nursery.start_soon(stream, hub, sub, client.send)
        await settle()
        outbox.commit(1200)  # far beyond the lag limit, but the client is idle, not stuck
        hub.notify()
        await settle()
        assert client.seqs == list(range(1, 1201))
        assert len(client.frames) <= 1200 // MAX_FRAME_MESSAGES + 2
        assert not sub.overflowed and hub.client_count == 1
        outbox.commit(1)  # a single message is a frame of one
        hub.notify()
        await settle()
        assert client.frames[-1] == [json.loads(outbox.rows[-1].text)]
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_stuck_client_is_cut_off_and_told_where_to_resume() -> None:
    outbox, stuck, fine = Outbox(), Recorder(), Recorder()
    hub = FeedHub(outbox.fetch_after, queue_size=50, lag_check_interval=0.05, stuck_after=0.1)
    results: dict[str, int] = {}

    async def follow(name: str, client: Recorder) -> None:
        results[name] = await stream(hub, hub.subscribe(), client.send)

    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: hub.run(initial_head=0, task_status=task_status))
        nursery.start_soon(follow, "stuck", stuck)
        nursery.start_soon(follow, "fine", fine)
        await settle()
        outbox.commit(10)
        hub.notify()
        await settle()
        stuck.stuck = True
        outbox.commit(10)  # the stuck client's socket stops taking frames here
        hub.notify()
        await settle()
        outbox.commit(100)
        hub.notify()
        with trio.fail_after(2):
            while hub.client_count != 1:  # noqa: ASYNC110 (hub state, nothing to wait on)
                await trio.sleep(0.01)
        stuck.released.set()  # its socket drains at last: the stream ends, not continues
        await settle()
        assert results["stuck"] == 20, "resume after the last frame it was sent"
        assert stuck.seqs == list(range(1, 21))
        assert fine.seqs == list(range(1, 121))
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_prompt_client_inside_a_send_when_a_burst_arrives_is_not_cut_off() -> None:
    """Its position moves only once a frame is sent, so while a send is under way a burst
    puts it far behind the head: it is cut off only once the send is stuck."""
    outbox = Outbox()
    hub = FeedHub(outbox.fetch_after, queue_size=50, lag_check_interval=0.05, stuck_after=0.5)
    frames: list[list[dict[str, Any]]] = []
    in_send = trio.Event()

    async def send(text: str) -> None:  # a socket that takes each frame after a moment
        in_send.set()
        await trio.sleep(0.05)
        frames.append(json.loads(text)["feed"])

    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: hub.run(initial_head=0, task_status=task_status))
        sub = hub.subscribe()
        nursery.start_soon(stream, hub, sub, send)
        await settle()
        outbox.commit(10)
        hub.notify()
        await in_send.wait()
        outbox.commit(3 * 500)  # pumped in batches of 500 while the first frame is in flight
        hub.notify()
        with trio.fail_after(10):
            while sub.position < 1510:  # noqa: ASYNC110 (hub state, nothing to wait on)
                await trio.sleep(0.01)
        assert not sub.overflowed and hub.client_count == 1
        assert [m["seq"] for frame in frames for m in frame] == list(range(1, 1511))
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_replay_from_far_back_reads_the_database_then_joins_the_live_window() -> None:
    outbox, client = Outbox(), Recorder()
    outbox.commit(3000)
    hub = FeedHub(outbox.fetch_after, queue_size=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: hub.run(initial_head=3000, task_status=task_status))
        sub = hub.subscribe(after=5)
        nursery.start_soon(stream, hub, sub, client.send)
        await settle()
        assert client.seqs == list(range(6, 3001))
        assert not sub.overflowed  # replaying is never "lagging"
        outbox.commit(5)
        hub.notify()
        await settle()
        assert client.seqs == list(range(6, 3006))
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_type_filter_skips_without_falling_behind() -> None:
    outbox, client = Outbox(), Recorder()
    hub = FeedHub(outbox.fetch_after, queue_size=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: hub.run(initial_head=0, task_status=task_status))
        sub = hub.subscribe(frozenset({"file.processed"}))
        nursery.start_soon(stream, hub, sub, client.send)
        await settle()
        outbox.commit(500, "canonical.created")
        outbox.commit(1, "file.processed")
        hub.notify()
        await settle()
        assert client.seqs == [501] and sub.position == 501
        nursery.cancel_scope.cancel()


def test_frames_are_capped_by_messages_and_bytes() -> None:
    hub = FeedHub(Outbox().fetch_after)
    sub = hub.subscribe()
    small = [Encoded(i, "t", "{}") for i in range(1, 2001)]
    texts, reached = next_frame(sub, small)
    assert len(texts) == MAX_FRAME_MESSAGES and reached == MAX_FRAME_MESSAGES
    big = [Encoded(i, "t", '"' + "x" * 200_000 + '"') for i in range(1, 4)]
    texts, reached = next_frame(sub, big)
    assert (len(texts), reached) == (1, 1)  # one oversized message still goes, alone
    assert json.loads(frame_text(["1", "2"])) == {"feed": [1, 2]}
