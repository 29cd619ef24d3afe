"""The SQL of a confirmed move (resize, migration): the server's allocation replaced by the
one its move claimed under a consumer of its own (`replace_allocation`, migration 0002)."""

from __future__ import annotations

from dataclasses import dataclass

from polyvisor.common.db import db_errors
from polyvisor.scheduler.store import Store

__all__ = ["ReplaceResult", "replace"]


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    replaced: bool
    # Where the consumer's claim is now, and where it was ("" when none).
    provider_id: str
    old_provider_id: str = ""


async def replace(store: Store, consumer_id: str, with_consumer_id: str) -> ReplaceResult:
    """`consumer_id`'s allocation is dropped and `with_consumer_id`'s becomes its own (one
    transaction); nothing changes when `with_consumer_id` holds nothing."""
    with db_errors():
        row = await store.pool.fetchrow(
            "SELECT * FROM replace_allocation($1, $2)", consumer_id, with_consumer_id
        )
    assert row is not None
    return ReplaceResult(
        replaced=row["status"] == "replaced",
        provider_id=row["provider_id"] or "",
        old_provider_id=row["old_provider_id"] or "",
    )
