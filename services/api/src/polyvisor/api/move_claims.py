"""The scheduler's ReplaceClaim, for a confirmed move: the server's claim is replaced by the
move's (`lifecycle.move_consumer`), in one transaction of the scheduler's."""

from __future__ import annotations

from polyvisor.api.clients import SchedulerClient
from polyvisor.api.convert.scheduling import replace_claim_request

__all__ = ["replace_claim"]


async def replace_claim(
    scheduler: SchedulerClient, consumer_id: str, with_id: str
) -> tuple[bool, str]:
    """(replaced, the host the claim of `consumer_id` is on now); idempotent: a repeat finds
    nothing left under `with_id` and changes nothing."""
    req = replace_claim_request(consumer_id, with_id)
    resp = await scheduler._call(scheduler.stub.ReplaceClaim, req)
    return bool(resp.replaced), str(resp.host)
