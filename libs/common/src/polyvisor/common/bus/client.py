"""`Bus`: one NATS connection and its JetStream context (every nats error mapped to
`polyvisor.common.errors`, see `polyvisor.common.bus.errors`).

    bus = await Bus.connect(settings.nats_urls, name=settings.server_id)
    await bus.ensure_stream("AGENT_CMD", ["agent.*.cmd"], retention="workqueue")
    ack = await bus.publish(f"agent.{subject_token(host)}.cmd", command, msg_id=request_id)
    consumer = await bus.pull_consumer("AGENT_CMD", durable=f"agent-{subject_token(host)}",
                                       filter_subject=f"agent.{subject_token(host)}.cmd")
    tasks.start("commands", consumer.consume(handle, concurrency=4))
    ...
    await bus.close()

Delivery is at least once. `publish(msg_id=...)` sets `Nats-Msg-Id`, so JetStream drops a
repeat inside the stream's duplicate window (`PublishAck.duplicate`). `PullConsumer.consume`
acks when the handler returns, naks with a growing delay when it raises a retryable error (a
`PolyvisorError` with `retryable`, or any unexpected exception), and terminates the message
when it raises a permanent `PolyvisorError` or the last delivery attempt fails. While a
handler runs, the message is kept "in progress" so a long handler is not redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
from google.protobuf.message import Message as ProtoMessage
from nats.aio.client import Client as NatsClient
from nats.js import api as js_api

from polyvisor.common.bus.consumer import PullConsumer
from polyvisor.common.bus.core import CoreMessage, Subscription
from polyvisor.common.bus.errors import STREAM_IN_USE, map_nats_error, mapped_errors
from polyvisor.common.bus.kv import KeyValue
from polyvisor.common.bus.messages import MSG_ID_HEADER, PublishAck, payload_bytes
from polyvisor.common.bus.subjects import subject_token
from polyvisor.common.bus.watch import StreamWatch
from polyvisor.common.errors import (
    InvalidArgument,
    Unavailable,
)
from polyvisor.common.logging import get_logger
from polyvisor.common.readiness import register as register_dependency

log = get_logger(__name__)


def _url_user(url: str) -> str:
    parsed = urlsplit(url if "://" in url else f"nats://{url}")
    return unquote(parsed.username or "")


def _redact(url: str) -> str:
    """The URL without its password."""
    parsed = urlsplit(url if "://" in url else f"nats://{url}")
    if parsed.password is None:
        return url
    host = parsed.hostname or ""
    netloc = f"{parsed.username}:***@{host}" + (f":{parsed.port}" if parsed.port else "")
    return urlunsplit(parsed._replace(netloc=netloc))


class Bus:
    """One NATS connection (reconnecting forever) with its JetStream context."""

    def __init__(self, nc: NatsClient, name: str, replicas: int = 1) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self.name = name
        #: Replicas of the streams and KV buckets this bus creates (settings.nats_replicas).
        self.replicas = replicas
        self._closed = False
        self._consumers: set[PullConsumer] = set()  # closed before the drain

    @classmethod
    async def connect(
        cls,
        urls: str | Sequence[str],
        name: str,
        *,
        connect_timeout: float | None = None,
        replicas: int = 1,
    ) -> Bus:
        """Connect, retrying forever unless `connect_timeout` (total seconds) is given.

        `replicas`: how many copies of each stream and KV bucket it creates keep (a NATS
        cluster of 3 wants 3; a single server refuses more than 1).

        Credentials come in the URLs (``nats://user:password@host:port``). A user receives its
        replies under its own inbox prefix (`natsauth.inbox_prefix`), the only inboxes its
        NATS permissions let it subscribe to; passwords never reach the logs."""
        servers = [u.strip() for u in urls.split(",")] if isinstance(urls, str) else list(urls)
        servers = [s for s in servers if s]
        if not servers:
            raise InvalidArgument("no NATS url given")
        user = _url_user(servers[0])
        shown = [_redact(s) for s in servers]
        blog = log.bind(bus=name)

        async def on_error(e: Exception) -> None:
            blog.warning("nats error", error=f"{type(e).__name__}: {e}")

        async def on_disconnect() -> None:
            if bus is None or not bus._closed:
                blog.warning("nats disconnected")

        async def on_reconnect() -> None:
            url = nc.connected_url if nc is not None else None
            blog.info("nats reconnected", server=url.netloc if url is not None else "")

        async def on_closed() -> None:
            blog.info("nats connection closed")

        nc: NatsClient | None = None
        bus: Bus | None = None
        connecting = nats.connect(
            servers=servers,
            name=name,
            inbox_prefix=f"_INBOX_{subject_token(user)}" if user else "_INBOX",
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=2,
            drain_timeout=2,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
            closed_cb=on_closed,
        )
        try:
            if connect_timeout is None:
                nc = await connecting
            else:
                nc = await asyncio.wait_for(connecting, connect_timeout)
        except TimeoutError as e:
            raise Unavailable(f"nats: not reachable at {shown} in {connect_timeout}s") from e
        except (nats.errors.Error, OSError) as e:
            raise map_nats_error(e) from e
        blog.info("nats connected", servers=shown, user=user)
        bus = cls(nc, name, replicas)
        register_dependency("nats", bus.ping, lambda: bus._closed)
        return bus

    @property
    def connected(self) -> bool:
        return bool(self._nc.is_connected)

    async def ping(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """A PING/PONG round trip with the server (readiness); Unavailable when there is none."""
        if not self._nc.is_connected:
            raise Unavailable("nats: not connected")
        with mapped_errors():
            # nats-py annotates an int; it waits on any number of seconds
            await self._nc.flush(timeout=timeout)  # type: ignore[arg-type]

    # -- streams

    async def ensure_stream(
        self,
        name: str,
        subjects: Sequence[str],
        *,
        retention: Literal["limits", "workqueue", "interest"] = "limits",
        max_age: float | None = None,
        duplicate_window: float = 120.0,
        max_msgs: int | None = None,
        max_bytes: int | None = None,
        memory: bool = False,
    ) -> None:
        """Create the stream, or update it to this configuration. Idempotent.

        `max_age` and `duplicate_window` are in seconds; the duplicate window is capped at
        `max_age`. Changing the retention of an existing stream is refused by NATS
        (FailedPrecondition)."""
        if max_age is not None and max_age > 0:
            duplicate_window = min(duplicate_window, max_age)
        config = js_api.StreamConfig(
            name=name,
            subjects=list(subjects),
            retention=js_api.RetentionPolicy(retention),
            max_age=max_age,
            duplicate_window=duplicate_window,
            max_msgs=max_msgs,
            max_bytes=max_bytes,
            storage=js_api.StorageType.MEMORY if memory else js_api.StorageType.FILE,
            num_replicas=self.replicas,
        )
        with mapped_errors():
            try:
                info = await self._js.stream_info(name)
            except nats.js.errors.NotFoundError:
                try:
                    await self._js.add_stream(config)
                    log.info("stream created", stream=name, subjects=list(subjects))
                    return
                except nats.js.errors.APIError as e:
                    if e.err_code != STREAM_IN_USE:  # else: created concurrently, update below
                        raise
                info = await self._js.stream_info(name)
            current = info.config
            if (
                sorted(current.subjects or []) == sorted(subjects)
                and current.retention == config.retention
                and (current.max_age or 0) == (max_age or 0)
                and (current.duplicate_window or 0) == duplicate_window
                and (current.max_msgs or -1) == (max_msgs or -1)
                and (current.max_bytes or -1) == (max_bytes or -1)
                and (current.num_replicas or 1) == self.replicas
            ):
                return
            await self._js.update_stream(config)
            log.info("stream updated", stream=name, subjects=list(subjects))

    async def stream_subjects(self, name: str) -> list[str] | None:
        """The subjects the stream takes (None: there is no such stream). Needs only the
        permission to read the stream's info, which restricted users (agents) have."""
        with mapped_errors():
            try:
                info = await self._js.stream_info(name)
            except nats.js.errors.NotFoundError:
                return None
        return list(info.config.subjects or [])

    async def stream_last_seq(self, name: str) -> int:
        """The sequence of the last message in the stream (0: it is empty)."""
        with mapped_errors():
            info = await self._js.stream_info(name)
        return int(info.state.last_seq or 0) if info.state.messages else 0

    async def delete_stream(self, name: str) -> None:
        with mapped_errors(), contextlib.suppress(nats.js.errors.NotFoundError):
            await self._js.delete_stream(name)

    # -- publishing

    async def publish(
        self,
        subject: str,
        data: bytes | ProtoMessage,
        *,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        stream: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - the JetStream ack wait, sent to the server
    ) -> PublishAck:
        """Publish to JetStream and wait for the stream's ack.

        `msg_id` de-duplicates within the stream's duplicate window; a repeat returns the
        original sequence with `duplicate=True`. `stream` asserts which stream must take it."""
        hdrs = dict(headers or {})
        if msg_id is not None:
            hdrs[MSG_ID_HEADER] = msg_id
        with mapped_errors():
            ack = await self._js.publish(
                subject, payload_bytes(data), timeout=timeout, stream=stream, headers=hdrs or None
            )
        return PublishAck(stream=ack.stream, seq=int(ack.seq), duplicate=bool(ack.duplicate))

    async def request(
        self,
        subject: str,
        data: bytes | ProtoMessage,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - the reply wait
    ) -> CoreMessage:
        """Core NATS request/reply: the first reply (Unavailable when nobody answers)."""
        with mapped_errors():
            m = await self._nc.request(subject, payload_bytes(data), timeout=timeout)
        return CoreMessage(m.subject, m.data, dict(m.headers or {}), m.reply)

    async def subscribe(self, subject: str, queue: str = "") -> Subscription:
        with mapped_errors():
            sub = await self._nc.subscribe(subject, queue=queue)
        return Subscription(self._nc, sub)

    async def flush(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        with mapped_errors():
            await self._nc.flush(timeout=int(max(1, timeout)))

    # -- consumers

    async def pull_consumer(
        self,
        stream: str,
        durable: str,
        filter_subject: str | None = None,
        *,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        max_ack_pending: int | None = None,
    ) -> PullConsumer:
        """Declare (create or update) the durable pull consumer and bind to it."""
        config = js_api.ConsumerConfig(
            durable_name=durable,
            name=durable,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            deliver_policy=js_api.DeliverPolicy.ALL,
            max_deliver=max_deliver,
            ack_wait=ack_wait,
            filter_subject=filter_subject,
            max_ack_pending=max_ack_pending,
        )
        with mapped_errors():
            # NATS creates the consumer, or updates an existing one's mutable fields
            await self._js.add_consumer(stream, config)
            sub = await self._js.pull_subscribe_bind(durable=durable, stream=stream)
        consumer = PullConsumer(
            sub, stream, durable, max_deliver, ack_wait, on_close=self._consumers.discard
        )
        self._consumers.add(consumer)
        return consumer

    async def delete_consumer(self, stream: str, durable: str) -> None:
        with mapped_errors(), contextlib.suppress(nats.js.errors.NotFoundError):
            await self._js.delete_consumer(stream, durable)

    async def watch(
        self,
        stream: str,
        subject: str,
        *,
        deliver: Literal["all", "last_per_subject", "new"] = "all",
    ) -> StreamWatch:
        """An ordered ephemeral view of `stream` filtered by `subject`. `last_per_subject`
        starts with the latest message of every subject, then follows new ones."""
        policy = {
            "all": js_api.DeliverPolicy.ALL,
            "last_per_subject": js_api.DeliverPolicy.LAST_PER_SUBJECT,
            "new": js_api.DeliverPolicy.NEW,
        }[deliver]
        with mapped_errors():
            sub = await self._js.subscribe(
                subject,
                stream=stream,
                ordered_consumer=True,
                deliver_policy=policy,
                idle_heartbeat=5.0,
            )
        return StreamWatch(sub)

    # -- key/value

    async def key_value(self, bucket: str, ttl: float | None = None, history: int = 1) -> KeyValue:
        """The KV bucket, created if missing. `ttl`: every entry expires after it."""
        with mapped_errors():
            try:
                kv = await self._js.key_value(bucket)
            except nats.js.errors.BucketNotFoundError:
                kv = await self._js.create_key_value(
                    js_api.KeyValueConfig(
                        bucket=bucket, ttl=ttl, history=history, replicas=self.replicas
                    )
                )
        return KeyValue(kv, bucket)

    # -- lifecycle

    async def close(self) -> None:
        """Drain (deliver what is in flight) and close. Idempotent."""
        if self._closed:
            return
        self._closed = True
        consumers, self._consumers = list(self._consumers), set()
        for consumer in consumers:
            # unsubscribe first: a pending pull request would hold the drain until its timeout
            await consumer.close()
        if self._nc.is_closed:
            return
        try:
            await asyncio.wait_for(self._nc.drain(), 3.0)
        except Exception as e:
            log.warning("nats drain failed, closing", bus=self.name, error=repr(e))
            with contextlib.suppress(Exception):
                await self._nc.close()
