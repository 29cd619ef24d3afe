"""Status messages made from foreign errors name no Python exception class (nor addresses):
what a client reads is the project's sentence; the driver's exception goes to the log."""

from __future__ import annotations

import asyncpg
import nats.errors

from polyvisor.common.bus.errors import map_nats_error
from polyvisor.common.db import map_db_error
from polyvisor.common.errors import Unavailable


def test_database_unavailable_names_no_exception_class() -> None:
    for exc in (
        ConnectionRefusedError(111, "Connect call failed ('10.0.0.7', 5432)"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        TimeoutError(),
    ):
        mapped = map_db_error(exc)
        assert isinstance(mapped, Unavailable)
        assert mapped.message == "database unavailable"


def test_message_bus_unavailable_names_no_exception_class() -> None:
    for exc in (
        nats.errors.TimeoutError(),
        nats.errors.ConnectionClosedError(),
        ConnectionRefusedError(111, "Connect call failed ('10.0.0.7', 4222)"),
        RuntimeError("something else"),
    ):
        mapped = map_nats_error(exc)
        assert isinstance(mapped, Unavailable)
        assert mapped.message.startswith("message bus unavailable")
        for leak in (type(exc).__name__, "Error", "10.0.0.7"):
            assert leak not in mapped.message
