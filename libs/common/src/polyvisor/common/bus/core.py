"""Core NATS (no JetStream): plain subscriptions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription as NatsSubscription

from polyvisor.common.errors import (
    FailedPrecondition,
    Unavailable,
)


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

    async def respond(self, message: CoreMessage, data: bytes) -> None:
        """Answer a request received on this subscription."""
        if not message.reply:
            raise FailedPrecondition("message has no reply subject")
        try:
            await self._nc.publish(message.reply, data)
        except (nats.errors.Error, OSError) as e:
            raise Unavailable(f"reply not sent: {e}") from e

    async def unsubscribe(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()
