"""nats without aiohttp, which it imports for its WebSocket transport: 0.3 s of CPU in every
process, for a transport we do not use (see polyvisor.common.lean_imports). The transport gets
aiohttp back, loaded if a ws:// server is ever dialled. The bus package imports this first."""

from __future__ import annotations

from polyvisor.common.lean_imports import LazyModule, hidden

with hidden("aiohttp"):
    import nats.aio.transport

if nats.aio.transport.aiohttp is None:
    nats.aio.transport.aiohttp = LazyModule("aiohttp")
