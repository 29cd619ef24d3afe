"""A durable JetStream pull consumer: at-least-once delivery to a handler, acked on return,
naked with a growing delay on a retryable error, terminated on a permanent one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import nats
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from polyvisor.common.bus.errors import map_nats_error, mapped_errors
from polyvisor.common.bus.messages import BusMessage, Handler
from polyvisor.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    PolyvisorError,
    Unavailable,
)
from polyvisor.common.logging import get_logger

log = get_logger(__name__)


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
        with mapped_errors():
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
