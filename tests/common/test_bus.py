"""Bus against a real NATS JetStream server: de-duplication, redelivery, the consume loop,
streams, KV compare-and-set, core request/reply, subject tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2

from polyvisor.common import errors
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.messages import BusMessage
from polyvisor.common.bus.subjects import subject_token, subject_token_decode
from polyvisor.common.embedded import EmbeddedNats, free_port
from polyvisor.common.lifespan import BackgroundTasks


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    b = await Bus.connect(nats_url, "test", connect_timeout=10)
    yield b
    await b.close()


@pytest.fixture
def stream(unique_name: Callable[[str], str]) -> str:
    return unique_name("S")


async def test_same_msg_id_twice_is_delivered_once(bus: Bus, stream: str) -> None:
    subject = f"{stream}.cmd"
    await bus.ensure_stream(stream, [f"{stream}.>"], retention="workqueue")
    first = await bus.publish(subject, b"spawn", msg_id="req-1")
    again = await bus.publish(subject, b"spawn", msg_id="req-1")
    other = await bus.publish(subject, b"stop", msg_id="req-2")
    assert not first.duplicate and again.duplicate and not other.duplicate
    assert again.seq == first.seq and other.seq == first.seq + 1

    consumer = await bus.pull_consumer(stream, "worker", subject, ack_wait=30)
    got = await consumer.fetch(10, timeout=1)
    assert [(m.data, m.msg_id, m.num_delivered) for m in got] == [
        (b"spawn", "req-1", 1),
        (b"stop", "req-2", 1),
    ]
    for m in got:
        await m.ack()
    assert await consumer.fetch(10, timeout=0.5) == []
    assert await consumer.pending() == (0, 0)


async def test_unacked_message_is_redelivered_after_consumer_dies(
    nats_url: str, bus: Bus, stream: str
) -> None:
    subject = f"{stream}.cmd"
    await bus.ensure_stream(stream, [subject], retention="workqueue")
    ack = await bus.publish(subject, b"job")

    dying = await Bus.connect(nats_url, "dying", connect_timeout=10)
    c1 = await dying.pull_consumer(stream, "agent", subject, ack_wait=1, max_deliver=5)
    [m1] = await c1.fetch(1, timeout=2)
    assert (m1.data, m1.num_delivered, m1.stream_seq) == (b"job", 1, ack.seq)
    await dying.close()  # never acked

    c2 = await bus.pull_consumer(stream, "agent", subject, ack_wait=1, max_deliver=5)
    [m2] = await c2.fetch(1, timeout=10)  # comes back once ack_wait has passed
    assert (m2.data, m2.num_delivered, m2.stream_seq) == (b"job", 2, ack.seq)
    await m2.ack()
    assert await c2.fetch(1, timeout=1.5) == []
    assert await c2.pending() == (0, 0)


async def test_consume_acks_retries_and_terminates(bus: Bus, stream: str) -> None:
    await bus.ensure_stream(stream, [f"{stream}.>"])
    seen: list[tuple[bytes, int]] = []
    first_batch_done = asyncio.Event()
    doomed_twice = asyncio.Event()

    async def handler(msg: BusMessage) -> None:
        seen.append((msg.data, msg.num_delivered))
        if len(seen) == 6:
            first_batch_done.set()
        if msg.data == b"flaky" and msg.num_delivered == 1:
            raise errors.Unavailable("try later")
        if msg.data == b"crash" and msg.num_delivered == 1:
            raise RuntimeError("unexpected: retried too")
        if msg.data == b"bad":
            raise errors.InvalidArgument("never valid")
        if msg.data == b"doomed":
            if msg.num_delivered == 2:
                doomed_twice.set()
            raise errors.Aborted("always conflicting")

    for payload in (b"ok", b"flaky", b"crash", b"bad"):
        await bus.publish(f"{stream}.x", payload)
    consumer = await bus.pull_consumer(stream, "c", f"{stream}.x", max_deliver=2, ack_wait=5)
    async with BackgroundTasks("test") as tasks:
        tasks.start("consume", consumer.consume(handler, concurrency=2, fetch_timeout=0.5,
                                                retry_delays=(0.1,)))  # fmt: skip
        await first_batch_done.wait()
        # "doomed" fails on every delivery: dropped once max_deliver is reached
        await bus.publish(f"{stream}.x", b"doomed")
        await doomed_twice.wait()
    assert "consume" not in tasks.names
    assert sorted(s for s in seen if s[0] != b"doomed") == sorted(
        [(b"ok", 1), (b"flaky", 1), (b"flaky", 2), (b"crash", 1), (b"crash", 2), (b"bad", 1)]
    )
    assert [s for s in seen if s[0] == b"doomed"] == [(b"doomed", 1), (b"doomed", 2)]
    # nothing comes back: ok/flaky/crash were acked, bad and doomed terminated
    assert await consumer.fetch(10, timeout=1) == []


async def test_consume_stops_cleanly_and_hands_back_in_flight_messages(
    bus: Bus, stream: str
) -> None:
    await bus.ensure_stream(stream, [f"{stream}.>"], retention="workqueue")
    await bus.publish(f"{stream}.x", b"long")
    started = asyncio.Event()

    async def slow(msg: BusMessage) -> None:
        started.set()
        await asyncio.Event().wait()

    consumer = await bus.pull_consumer(stream, "c", f"{stream}.x", ack_wait=30)
    tasks = BackgroundTasks("test")
    tasks.start("consume", consumer.consume(slow, fetch_timeout=0.5))
    await started.wait()
    await tasks.close()
    # naked on the way out: available again at once, not after ack_wait (30 s)
    [m] = await consumer.fetch(1, timeout=5)
    assert (m.data, m.num_delivered) == (b"long", 2)
    await m.ack()


async def test_ensure_stream_is_idempotent_and_updates(bus: Bus, stream: str) -> None:
    await bus.ensure_stream(stream, [f"{stream}.a"], retention="workqueue", duplicate_window=60)
    await bus.ensure_stream(stream, [f"{stream}.a"], retention="workqueue", duplicate_window=60)
    await bus.ensure_stream(stream, [f"{stream}.a", f"{stream}.b"], retention="workqueue")
    ack = await bus.publish(f"{stream}.b", b"x", stream=stream)
    assert ack.stream == stream
    with pytest.raises(errors.FailedPrecondition):
        await bus.ensure_stream(stream, [f"{stream}.a"], retention="limits")
    with pytest.raises(errors.Unavailable):  # no stream listens on this subject
        await bus.publish(f"{stream}-nothing.x", b"x", timeout=1)
    await bus.delete_stream(stream)
    await bus.delete_stream(stream)


async def test_publish_protobuf_and_parse(bus: Bus, stream: str) -> None:
    await bus.ensure_stream(stream, [f"{stream}.>"])
    req = health_pb2.HealthCheckRequest(service="polyvisor.x")
    await bus.publish(f"{stream}.p", req, headers={"kind": "health"})
    consumer = await bus.pull_consumer(stream, "p", f"{stream}.p")
    [m] = await consumer.fetch(1, timeout=2)
    assert m.parse(health_pb2.HealthCheckRequest) == req
    assert m.headers["kind"] == "health" and m.subject == f"{stream}.p"
    await m.term()
    with pytest.raises(errors.InvalidArgument):
        await bus.publish(f"{stream}.p", "text is not bytes")  # type: ignore[arg-type]


async def test_key_value_compare_and_set(bus: Bus, unique_name: Callable[[str], str]) -> None:
    kv = await bus.key_value(unique_name("leases"))
    key = subject_token("vmware:cluster-1.dc")
    assert await kv.get(key) is None
    rev = await kv.create(key, b"replica-a")
    with pytest.raises(errors.AlreadyExists):
        await kv.create(key, b"replica-b")
    with pytest.raises(errors.Aborted):
        await kv.update(key, b"replica-b", rev + 10)
    rev2 = await kv.update(key, b"replica-a", rev)
    entry = await kv.get(key)
    assert entry is not None and (entry.value, entry.revision) == (b"replica-a", rev2)
    with pytest.raises(errors.Aborted):
        await kv.delete(key, revision=rev)
    await kv.delete(key, revision=rev2)
    assert await kv.get(key) is None and await kv.keys() == []
    assert await kv.create(key, b"replica-b") > rev2
    # the same bucket from another handle
    again = await bus.key_value(kv.bucket)
    entry = await again.get(key)
    assert entry is not None and entry.value == b"replica-b"


async def test_close_is_idempotent_and_final(nats_url: str) -> None:
    b = await Bus.connect([nats_url], "closing", connect_timeout=10)
    assert b.connected
    await b.close()
    await b.close()
    assert not b.connected
    with pytest.raises(errors.Unavailable):
        await b.publish("x.y", b"late")


async def test_connect_to_nothing_is_unavailable() -> None:
    with pytest.raises(errors.Unavailable):
        await Bus.connect(f"nats://127.0.0.1:{free_port()}", "nobody", connect_timeout=1.5)


@pytest.mark.parametrize(
    "host_id",
    ["kvm-01", "kvm:host-1.example.com", "vmware:dc/cluster 1", "a.b*c>d", "=3A", "hôst"],
)
def test_subject_token_is_one_valid_token_and_reversible(host_id: str) -> None:
    token = subject_token(host_id)
    assert all(ch.isascii() and (ch.isalnum() or ch in "_-=") for ch in token)
    assert subject_token_decode(token) == host_id


def test_subject_tokens_do_not_collide() -> None:
    ids = ["a:b", "a.b", "a=3Ab", "a_b", "a-b", "a b"]
    assert len({subject_token(i) for i in ids}) == len(ids)
    with pytest.raises(errors.InvalidArgument):
        subject_token("")


async def test_bus_reconnects_after_nats_restarts(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats", port=free_port(), die_with_parent=True)
    url = server.start()
    bus = await Bus.connect(url, "survivor", connect_timeout=10)
    try:
        await bus.ensure_stream("RESTART", ["restart.>"])
        await bus.publish("restart.a", b"before", msg_id="m-1")
        await asyncio.to_thread(server.stop)
        for _ in range(200):
            if not bus.connected:
                break
            await asyncio.sleep(0.05)
        assert not bus.connected
        with pytest.raises(errors.Unavailable):
            # the client buffers it and may still deliver it after the reconnect
            await bus.publish("restart.a", b"during", msg_id="m-2", timeout=0.5)
        assert await asyncio.to_thread(server.start) == url  # same port, same JetStream store
        for _ in range(200):
            if bus.connected:
                break
            await asyncio.sleep(0.05)
        assert bus.connected
        again = await bus.publish("restart.a", b"before", msg_id="m-1")
        assert again.duplicate  # the stream and its de-duplication state survived
        # the publisher retries what timed out, with the same id: stored once either way
        await bus.publish("restart.a", b"during", msg_id="m-2")
        consumer = await bus.pull_consumer("RESTART", "r", "restart.a")
        got = await consumer.fetch(10, timeout=1)
        assert [m.data for m in got] == [b"before", b"during"]
    finally:
        await bus.close()
        await asyncio.to_thread(server.stop)


async def test_streams_and_buckets_get_the_replicas_the_settings_ask_for(
    nats_url: str, unique_name: Callable[[str], str]
) -> None:
    """POLYVISOR_NATS_REPLICAS reaches NATS: 1 is what a single server keeps; 3 (a cluster's
    count) is asked of NATS too, and a single server refuses it rather than silently
    keeping one copy."""
    stream, bucket = unique_name("R"), unique_name("kv")
    one = await Bus.connect(nats_url, "test-r1", connect_timeout=10)
    three = await Bus.connect(nats_url, "test-r3", connect_timeout=10, replicas=3)
    try:
        assert one.replicas == 1 and three.replicas == 3
        await one.ensure_stream(stream, [f"{stream}.a"])
        info = await one._js.stream_info(stream)
        assert info.config.num_replicas == 1
        with pytest.raises(errors.PolyvisorError, match=r"(?i)replica"):
            await three.ensure_stream(unique_name("R3"), [f"{stream}-3.a"])
        with pytest.raises(errors.PolyvisorError, match=r"(?i)replica"):
            await three.ensure_stream(stream, [f"{stream}.a"])  # an update asks for 3 too
        with pytest.raises(errors.PolyvisorError, match=r"(?i)replica"):
            await three.key_value(bucket)
        kv = await one.key_value(bucket)
        assert kv is not None
        await one.delete_stream(stream)
        await one.delete_stream(f"KV_{bucket}")
    finally:
        await one.close()
        await three.close()


def test_nats_replicas_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from polyvisor.common.config import ServiceSettings

    assert ServiceSettings().nats_replicas == 1
    monkeypatch.setenv("POLYVISOR_NATS_REPLICAS", "3")
    assert ServiceSettings().nats_replicas == 3
