"""Import a library without an optional package it would load at once and we do not use.

Two libraries import every optional extra they find, when they are imported:

- nats-py imports aiohttp for its WebSocket transport (we connect over nats:// and tls://);
- structlog imports rich for its console renderer and pretty tracebacks (our lines are JSON,
  exceptions formatted by `format_exc_info`: polyvisor.common.logging).

Those two imports were a third of the CPU a service spends starting (0.7 s of 1.9 s for the
api's modules), paid by every process on every start. `hidden(*names)` makes the packages
absent while such a library imports; whatever imports them later (the dashboard and the
gateway serve with aiohttp) loads them as usual, and a `LazyModule` gives a library back a
module it missed, loaded when first used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

__all__ = ["LazyModule", "hidden"]


@contextmanager
def hidden(*names: str) -> Iterator[None]:
    """`import NAME` raises ImportError inside the block, for each of `names` not imported
    yet (one imported already stays: the library then finds it, as without this)."""
    absent = [name for name in names if name not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not found"
    try:
        yield
    finally:
        for name in absent:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


class LazyModule(ModuleType):
    """Module `name`, imported when one of its attributes is first read."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)
