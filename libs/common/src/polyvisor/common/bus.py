"""The message bus: NATS and JetStream behind a small API. The only common module that imports
nats; every nats error is mapped to `polyvisor.common.errors` here.

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
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
from google.protobuf.message import Message as ProtoMessage
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg as NatsMsg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.kv import KeyValue as NatsKeyValue

from polyvisor.common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PolyvisorError,
    Unavailable,
)
from polyvisor.common.logging import get_logger
from polyvisor.common.readiness import register as register_dependency

__all__ = [
    "Bus",
    "BusMessage",
    "KeyValue",
    "KvEntry",
    "PublishAck",
    "PullConsumer",
    "StreamMessage",
    "StreamWatch",
    "Subscription",
    "map_nats_error",
    "subject_token",
    "subject_token_decode",
]

log = get_logger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
_STREAM_IN_USE = 10058  # "stream name already in use with a different configuration"
_STREAM_BAD_UPDATE = 10052  # "stream configuration update can not change ..."
_KV_WRONG_LAST_SEQUENCE = 10071
_SAFE = re.compile(r"[A-Za-z0-9_-]")


# --------------------------------------------------------------------------- subjects


def subject_token(value: str) -> str:
    """Encode an id as one subject token that is also a valid KV key.

    Letters, digits, '_' and '-' stay; every other byte becomes '=XX' (hex), so ids holding
    ':' or '.' (host ids, URLs) neither split the subject nor collide with each other."""
    if not value:
        raise InvalidArgument("an empty id cannot be a subject token")
    out = []
    for ch in value:
        if _SAFE.fullmatch(ch):
            out.append(ch)
        else:
            out.extend(f"={b:02X}" for b in ch.encode())
    return "".join(out)


def subject_token_decode(token: str) -> str:
    """The inverse of `subject_token`."""
    raw = bytearray()
    i = 0
    while i < len(token):
        if token[i] == "=":
            raw.append(int(token[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(token[i].encode())
            i += 1
    return raw.decode()


# --------------------------------------------------------------------------- errors


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


def map_nats_error(exc: BaseException) -> PolyvisorError:
    """The project error for a nats exception."""
    if isinstance(exc, PolyvisorError):
        return exc
    if isinstance(exc, nats.js.errors.KeyWrongLastSequenceError):
        return Aborted("key changed concurrently (wrong revision)")
    if isinstance(exc, nats.js.errors.NotFoundError):
        return NotFound(f"nats: {exc}")
    if isinstance(exc, nats.js.errors.APIError):
        if exc.err_code in (_STREAM_IN_USE, _STREAM_BAD_UPDATE):
            return FailedPrecondition(f"nats: {exc.description}")
        if exc.err_code == _KV_WRONG_LAST_SEQUENCE:
            return Aborted("key changed concurrently (wrong revision)")
        if exc.code == 503:
            return Unavailable(f"nats: {exc.description or 'jetstream unavailable'}")
        if exc.code in (400, 409):
            return FailedPrecondition(f"nats: {exc.description}")
        return Unavailable(f"nats: {exc.description or exc}")
    if isinstance(exc, nats.errors.BadSubjectError | nats.js.errors.InvalidKeyError):
        return InvalidArgument(f"nats: {exc}")
    if isinstance(exc, nats.errors.MaxPayloadError):
        return InvalidArgument(f"nats: message too large: {exc}")
    if isinstance(exc, nats.errors.NoRespondersError | nats.js.errors.NoStreamResponseError):
        return Unavailable(f"nats: no responders: {exc}")
    # The client's exception (its class, the server's address) is for the log only.
    if isinstance(exc, nats.errors.Error | asyncio.TimeoutError | OSError):
        log.info("message bus unavailable", error=repr(exc))
        return Unavailable("message bus unavailable")
    log.info("unexpected message bus error", error=repr(exc))
    return Unavailable("message bus unavailable (unexpected error)")


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except PolyvisorError:
        raise
    except (TimeoutError, nats.errors.Error, OSError) as e:
        raise map_nats_error(e) from e


def _payload(data: bytes | ProtoMessage) -> bytes:
    if isinstance(data, ProtoMessage):
        return bytes(data.SerializeToString())
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise InvalidArgument(f"cannot publish {type(data).__name__}: bytes or protobuf only")


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class PublishAck:
    stream: str
    seq: int
    duplicate: bool


class BusMessage:
    """A JetStream message delivered to a pull consumer."""

    __slots__ = ("_done", "_msg")

    def __init__(self, msg: NatsMsg) -> None:
        self._msg = msg
        self._done = False

    @property
    def data(self) -> bytes:
        return self._msg.data

    @property
    def subject(self) -> str:
        return self._msg.subject

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._msg.headers or {})

    @property
    def msg_id(self) -> str | None:
        return (self._msg.headers or {}).get(MSG_ID_HEADER)

    @property
    def num_delivered(self) -> int:
        return int(self._msg.metadata.num_delivered)

    @property
    def stream_seq(self) -> int:
        return int(self._msg.metadata.sequence.stream)

    @property
    def settled(self) -> bool:
        """True once acked, naked or terminated."""
        return self._done

    def parse(self, message_type: type[Any]) -> Any:
        """The payload parsed as the given protobuf message type."""
        msg = message_type()
        try:
            msg.ParseFromString(self.data)
        except Exception as e:  # google.protobuf.message.DecodeError
            raise InvalidArgument(f"bad {message_type.__name__} payload: {e}") from e
        return msg

    async def ack(self) -> None:
        with _mapped():
            await self._msg.ack()
        self._done = True

    async def nak(self, delay: float | None = None) -> None:
        """Ask for redelivery, after `delay` seconds if given."""
        with _mapped():
            await self._msg.nak(delay=delay)
        self._done = True

    async def term(self) -> None:
        """Never deliver this message again."""
        with _mapped():
            await self._msg.term()
        self._done = True

    async def in_progress(self) -> None:
        """Still working on it: restart the ack wait."""
        with _mapped():
            await self._msg.in_progress()

    def __repr__(self) -> str:
        return (
            f"BusMessage({self.subject!r}, seq={self.stream_seq}, delivered={self.num_delivered})"
        )


Handler = Callable[[BusMessage], Awaitable[None]]


class PullConsumer:
    """A durable pull consumer bound to one stream."""

    def __init__(
        self,
        sub: JetStreamContext.PullSubscription,
        stream: str,
        durable: str,
        max_deliver: int,
        ack_wait: float,
        on_close: Callable[[PullConsumer], None] | None = None,
    ) -> None:
        self._sub = sub
        self._on_close = on_close
        self.stream = stream
        self.durable = durable
        self.max_deliver = max_deliver
        self.ack_wait = ack_wait
        self._closed = False

    async def fetch(self, batch: int = 1, timeout: float = 5.0) -> list[BusMessage]:  # noqa: ASYNC109
        """Up to `batch` messages, waiting at most `timeout` s; [] when there are none."""
        if self._closed:
            raise FailedPrecondition(f"consumer {self.durable} is closed")
        try:
            msgs = await self._sub.fetch(batch, timeout=timeout)
        except (nats.errors.TimeoutError, TimeoutError):
            # nats-py ends a batch fetch that found nothing with a plain asyncio.TimeoutError
            return []
        except (nats.errors.Error, OSError) as e:
            raise map_nats_error(e) from e
        return [BusMessage(m) for m in msgs]

    async def pending(self) -> tuple[int, int]:
        """(messages not yet delivered, messages delivered and not yet acked)."""
        with _mapped():
            info = await self._sub.consumer_info()
        return int(info.num_pending or 0), int(info.num_ack_pending or 0)

    async def consume(
        self,
        handler: Handler,
        *,
        concurrency: int = 1,
        fetch_timeout: float = 5.0,
        retry_delays: Sequence[float] = (1.0, 5.0, 15.0, 30.0),
    ) -> None:
        """Run `handler` on every message until cancelled (own it with `BackgroundTasks`).

        Up to `concurrency` handlers run at once. On cancellation the in-flight handlers are
        cancelled and their messages naked at once, so another consumer can take them."""
        if concurrency < 1:
            raise InvalidArgument("concurrency must be >= 1")
        inflight: set[asyncio.Task[None]] = set()
        try:
            while True:
                free = concurrency - len(inflight)
                if free <= 0:
                    await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    msgs = await self.fetch(free, fetch_timeout)
                except Unavailable as e:
                    log.warning("fetch failed, retrying", consumer=self.durable, error=str(e))
                    await asyncio.sleep(1.0)
                    continue
                for m in msgs:
                    task = asyncio.create_task(self._handle(handler, m, retry_delays))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
        finally:
            for t in inflight:
                t.cancel()
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)

    async def _handle(
        self, handler: Handler, msg: BusMessage, retry_delays: Sequence[float]
    ) -> None:
        keepalive = asyncio.create_task(self._keep_in_progress(msg))
        try:
            await handler(msg)
        except asyncio.CancelledError:
            if not msg.settled:
                with contextlib.suppress(Exception):
                    await msg.nak()
            raise
        except Exception as e:
            retryable = e.retryable if isinstance(e, PolyvisorError) else True
            last = self.max_deliver > 0 and msg.num_delivered >= self.max_deliver
            if msg.settled:
                log.warning("handler failed after settling", consumer=self.durable, error=repr(e))
            elif retryable and not last:
                delay = retry_delays[min(msg.num_delivered, len(retry_delays)) - 1]
                log.warning(
                    "handler failed, will retry",
                    consumer=self.durable,
                    subject=msg.subject,
                    delivered=msg.num_delivered,
                    delay_s=delay,
                    error=repr(e),
                    exc_info=not isinstance(e, PolyvisorError),
                )
                await _settle(msg.nak(delay=delay))
            else:
                log.error(
                    "handler failed, message dropped",
                    consumer=self.durable,
                    subject=msg.subject,
                    delivered=msg.num_delivered,
                    error=repr(e),
                    exc_info=not isinstance(e, PolyvisorError),
                )
                await _settle(msg.term())
        else:
            if not msg.settled:
                await _settle(msg.ack())
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive

    async def _keep_in_progress(self, msg: BusMessage) -> None:
        period = max(0.5, self.ack_wait / 3)
        while not msg.settled:
            await asyncio.sleep(period)
            if not msg.settled:
                await _settle(msg.in_progress())

    async def close(self) -> None:
        """Stop receiving (the durable consumer and its state stay on the server)."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close(self)
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()


async def _settle(op: Awaitable[None]) -> None:
    """Ack/nak/term lost to a broken connection: the server redelivers after ack_wait."""
    try:
        await op
    except Unavailable as e:
        log.warning("could not settle message", error=str(e))


# --------------------------------------------------------------------------- core NATS


@dataclass(frozen=True, slots=True)
class CoreMessage:
    subject: str
    data: bytes
    headers: Mapping[str, str]
    reply: str


class Subscription:
    """A plain NATS subscription: `async for m in sub` and `await sub.unsubscribe()`."""

    def __init__(self, nc: NatsClient, sub: NatsSubscription) -> None:
        self._nc = nc
        self._sub = sub
        self._closed = False

    def __aiter__(self) -> AsyncIterator[CoreMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[CoreMessage]:
        async for m in self._sub.messages:
            yield CoreMessage(m.subject, m.data, dict(m.headers or {}), m.reply)

    async def next(self, timeout: float = 5.0) -> CoreMessage:  # noqa: ASYNC109
        try:
            m = await self._sub.next_msg(timeout=timeout)
        except nats.errors.TimeoutError as e:
            raise Unavailable(f"no message within {timeout}s") from e
        return CoreMessage(m.subject, m.data, dict(m.headers or {}), m.reply)

    async def respond(self, message: CoreMessage, data: bytes | ProtoMessage) -> None:
        if not message.reply:
            raise FailedPrecondition("message has no reply subject")
        with _mapped():
            await self._nc.publish(message.reply, _payload(data))

    async def unsubscribe(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """A message seen through `Bus.watch` (no ack: the view is ephemeral)."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    stream_seq: int
    #: When the stream stored it (epoch seconds, the NATS server's clock).
    timestamp: float
    #: Messages of the view still to come when this one was delivered (0: caught up).
    pending: int


class StreamWatch:
    """An ordered, ephemeral consumer of a stream: every watcher sees every message once, in
    order (the client recreates the consumer after a gap or a reconnect). For state that each
    replica keeps in memory, such as the scheduler's host reports."""

    def __init__(self, sub: JetStreamContext.PushSubscription) -> None:
        self._sub = sub
        self._closed = False

    @staticmethod
    def _convert(m: NatsMsg) -> StreamMessage:
        md = m.metadata
        return StreamMessage(
            subject=m.subject,
            data=m.data,
            headers=dict(m.headers or {}),
            stream_seq=int(md.sequence.stream),
            timestamp=md.timestamp.timestamp(),
            pending=int(md.num_pending or 0),
        )

    def __aiter__(self) -> AsyncIterator[StreamMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamMessage]:
        async for m in self._sub.messages:
            yield self._convert(m)

    async def next(self, timeout: float = 5.0) -> StreamMessage:  # noqa: ASYNC109
        try:
            m = await self._sub.next_msg(timeout=timeout)
        except nats.errors.TimeoutError as e:
            raise Unavailable(f"no message within {timeout}s") from e
        return self._convert(m)

    async def close(self) -> None:
        """Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()


# --------------------------------------------------------------------------- key/value


@dataclass(frozen=True, slots=True)
class KvEntry:
    key: str
    value: bytes
    revision: int


class KeyValue:
    """A JetStream KV bucket with compare-and-set (used for leases).

    Keys: letters, digits and `-/_=.`; encode ids with `subject_token`."""

    def __init__(self, kv: NatsKeyValue, bucket: str) -> None:
        self._kv = kv
        self.bucket = bucket

    async def get(self, key: str) -> KvEntry | None:
        try:
            e = await self._kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise map_nats_error(exc) from exc
        return KvEntry(key, e.value or b"", int(e.revision or 0))

    async def put(self, key: str, value: bytes) -> int:
        with _mapped():
            return int(await self._kv.put(key, value))

    async def create(self, key: str, value: bytes, ttl: float | None = None) -> int:
        """Create `key`; AlreadyExists if it holds a value. `ttl`: this entry expires."""
        for _ in range(3):
            try:
                return int(await self._kv.create(key, value, msg_ttl=ttl))
            except nats.js.errors.KeyNotFoundError:
                # nats-py found the key present, then gone when it looked again: the entry
                # expired in between (bucket max age). The key is free now; create again.
                continue
            except (
                nats.js.errors.KeyWrongLastSequenceError,
                nats.js.errors.BadRequestError,
            ) as e:
                if isinstance(e, nats.js.errors.KeyWrongLastSequenceError) or (
                    e.err_code == _KV_WRONG_LAST_SEQUENCE
                ):
                    raise AlreadyExists(f"key {key!r} exists in {self.bucket}") from e
                raise map_nats_error(e) from e
            except (TimeoutError, nats.errors.Error, OSError) as e:
                raise map_nats_error(e) from e
        raise Aborted(f"key {key!r} in {self.bucket} kept changing while being created")

    async def update(self, key: str, value: bytes, revision: int) -> int:
        """Set `key` only if it is still at `revision`; Aborted otherwise."""
        try:
            return int(await self._kv.update(key, value, last=revision))
        except (TimeoutError, nats.errors.Error, OSError) as e:
            err = map_nats_error(e)
            if isinstance(e, nats.js.errors.BadRequestError):
                err = Aborted(f"key {key!r} is no longer at revision {revision}")
            raise err from e

    async def delete(self, key: str, revision: int | None = None) -> None:
        """Delete `key` (only if still at `revision` when given; Aborted otherwise)."""
        try:
            await self._kv.delete(key, last=revision)
        except (TimeoutError, nats.errors.Error, OSError) as e:
            err = map_nats_error(e)
            if revision is not None and isinstance(e, nats.js.errors.BadRequestError):
                err = Aborted(f"key {key!r} is no longer at revision {revision}")
            raise err from e

    async def keys(self) -> list[str]:
        try:
            return list(await self._kv.keys())
        except nats.js.errors.NoKeysError:
            return []
        except (TimeoutError, nats.errors.Error, OSError) as e:
            raise map_nats_error(e) from e


# --------------------------------------------------------------------------- the bus


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
        with _mapped():
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
        with _mapped():
            try:
                info = await self._js.stream_info(name)
            except nats.js.errors.NotFoundError:
                try:
                    await self._js.add_stream(config)
                    log.info("stream created", stream=name, subjects=list(subjects))
                    return
                except nats.js.errors.APIError as e:
                    if e.err_code != _STREAM_IN_USE:  # else: created concurrently, update below
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

    async def stream_last_seq(self, name: str) -> int:
        """The sequence of the last message in the stream (0: it is empty)."""
        with _mapped():
            info = await self._js.stream_info(name)
        return int(info.state.last_seq or 0) if info.state.messages else 0

    async def delete_stream(self, name: str) -> None:
        with _mapped(), contextlib.suppress(nats.js.errors.NotFoundError):
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
        with _mapped():
            ack = await self._js.publish(
                subject, _payload(data), timeout=timeout, stream=stream, headers=hdrs or None
            )
        return PublishAck(stream=ack.stream, seq=int(ack.seq), duplicate=bool(ack.duplicate))

    async def publish_core(
        self, subject: str, data: bytes | ProtoMessage, headers: Mapping[str, str] | None = None
    ) -> None:
        """Fire-and-forget core NATS publish (no persistence)."""
        with _mapped():
            await self._nc.publish(
                subject, _payload(data), headers=dict(headers) if headers else None
            )

    async def request(
        self,
        subject: str,
        data: bytes | ProtoMessage,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - the request's reply wait
        headers: Mapping[str, str] | None = None,
    ) -> CoreMessage:
        with _mapped():
            m = await self._nc.request(
                subject, _payload(data), timeout=timeout, headers=dict(headers) if headers else None
            )
        return CoreMessage(m.subject, m.data, dict(m.headers or {}), m.reply)

    async def subscribe(self, subject: str, queue: str = "") -> Subscription:
        with _mapped():
            sub = await self._nc.subscribe(subject, queue=queue)
        return Subscription(self._nc, sub)

    async def flush(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        with _mapped():
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
        with _mapped():
            # NATS creates the consumer, or updates an existing one's mutable fields
            await self._js.add_consumer(stream, config)
            sub = await self._js.pull_subscribe_bind(durable=durable, stream=stream)
        consumer = PullConsumer(
            sub, stream, durable, max_deliver, ack_wait, on_close=self._consumers.discard
        )
        self._consumers.add(consumer)
        return consumer

    async def delete_consumer(self, stream: str, durable: str) -> None:
        with _mapped(), contextlib.suppress(nats.js.errors.NotFoundError):
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
        with _mapped():
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
        with _mapped():
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
