"""Structured logs: one JSON object per line on stderr.

Every line carries `service` and `server_id` (from the settings) and whatever is bound in the
current context: during an RPC, `request_id` and `rpc` (the gRPC wrapper sets them with
`set_rpc_context`, one context variable read only when a line is actually logged); code may add
its own with `bind_context(...)` / `bound_context(...)`. Standard-library loggers
(grpc, nats, asyncpg) are rendered the same way.

    configure_logging(settings)
    log = get_logger(__name__)
    log.info("server created", server_id=sid)
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar, Token
from typing import Any

from polyvisor.common.config import ServiceSettings
from polyvisor.common.lean_imports import hidden

# structlog without rich, which it imports for its console renderer and tracebacks, neither of
# which renders our lines (0.15 s of CPU in every process; see polyvisor.common.lean_imports)
with hidden("rich"):
    import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, unbind_contextvars
from structlog.typing import EventDict, WrappedLogger

__all__ = [
    "bind_context",
    "bound_context",
    "configure_logging",
    "get_logger",
    "reset_rpc_context",
    "rpc_context",
    "set_rpc_context",
    "unbind_context",
]

bind_context = bind_contextvars
bound_context = bound_contextvars
unbind_context = unbind_contextvars

_static: dict[str, str] = {}

# (request id, full method name) of the RPC being handled.
_rpc: ContextVar[tuple[str, str] | None] = ContextVar("polyvisor_rpc", default=None)


def set_rpc_context(request_id: str, rpc: str) -> Token[tuple[str, str] | None]:
    """Log lines from here on (in this context) carry `request_id` and `rpc`."""
    return _rpc.set((request_id, rpc))


def reset_rpc_context(token: Token[tuple[str, str] | None]) -> None:
    _rpc.reset(token)


def rpc_context() -> tuple[str, str] | None:
    """(request id, rpc) of the RPC being handled, if any."""
    return _rpc.get()


def _add_rpc(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    ctx = _rpc.get()
    if ctx is not None:
        event_dict.setdefault("request_id", ctx[0])
        event_dict.setdefault("rpc", ctx[1])
    return event_dict


def _add_static(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for k, v in _static.items():
        event_dict.setdefault(k, v)
    return event_dict


def configure_logging(settings: ServiceSettings | None = None, *, level: str | None = None) -> None:
    """Route structlog and stdlib logging to JSON lines on stderr. Safe to call again."""
    if settings is not None:
        _static.update(service=settings.service_name, server_id=settings.server_id)
    lvl = (level or (settings.log_level if settings else "INFO")).upper()

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_rpc,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_static,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("polyvisor")
    root = logging.getLogger()
    for h in list(root.handlers):
        if h.get_name() == "polyvisor":
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(lvl)


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name, **initial)
    return logger
