"""An ordered, ephemeral push watch of a JetStream stream (from a sequence on)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg as NatsMsg
from nats.js import JetStreamContext

from polyvisor.common.errors import (
    Unavailable,
)


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
