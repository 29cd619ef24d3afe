"""What a publish returns and what a JetStream consumer hands its handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message as ProtoMessage
from nats.aio.msg import Msg as NatsMsg

from polyvisor.common.bus.errors import mapped_errors
from polyvisor.common.errors import (
    InvalidArgument,
)

MSG_ID_HEADER = "Nats-Msg-Id"


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
        with mapped_errors():
            await self._msg.ack()
        self._done = True

    async def nak(self, delay: float | None = None) -> None:
        """Ask for redelivery, after `delay` seconds if given."""
        with mapped_errors():
            await self._msg.nak(delay=delay)
        self._done = True

    async def term(self) -> None:
        """Never deliver this message again."""
        with mapped_errors():
            await self._msg.term()
        self._done = True

    async def in_progress(self) -> None:
        """Still working on it: restart the ack wait."""
        with mapped_errors():
            await self._msg.in_progress()

    def __repr__(self) -> str:
        return (
            f"BusMessage({self.subject!r}, seq={self.stream_seq}, delivered={self.num_delivered})"
        )


Handler = Callable[[BusMessage], Awaitable[None]]


def payload_bytes(data: bytes | ProtoMessage) -> bytes:
    if isinstance(data, ProtoMessage):
        return bytes(data.SerializeToString())
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise InvalidArgument(f"cannot publish {type(data).__name__}: bytes or protobuf only")
