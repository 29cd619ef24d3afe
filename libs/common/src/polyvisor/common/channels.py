"""Options every gRPC client channel between services uses.

A peer that died and came back (a restart, a new pod on the same address) must be reached
again within a couple of seconds. gRPC's own reconnect backoff grows to 120 s while the
peer is away, and until its next attempt every call on the channel fails at once with
UNAVAILABLE, long after the peer is back: an api whose scheduler restarted refused every
create for up to two minutes.
"""

from __future__ import annotations

RECONNECT_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)

__all__ = ["RECONNECT_OPTIONS"]
