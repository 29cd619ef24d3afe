"""A lease in a NATS KV bucket: which replica of a VMware agent may act for its cluster.

    lease = Lease(kv, key=subject_token(host_id), holder=server_id)
    if await lease.acquire():   # create: only when nobody holds it (the key is absent)
        ...
        await lease.renew()     # compare-and-set on our revision; False: it is not ours now
    await lease.release()       # delete if still ours (a clean handover, no TTL wait)

The bucket's entries expire ``ttl`` after their last write (the bucket's max age), so a
holder that dies simply stops renewing and its lease vanishes within the TTL.
"""

from __future__ import annotations

from polyvisor.common.bus.kv import KeyValue
from polyvisor.common.errors import Aborted, AlreadyExists, NotFound
from polyvisor.common.logging import get_logger

__all__ = ["Lease"]

log = get_logger(__name__)


class Lease:
    def __init__(self, kv: KeyValue, key: str, holder: str) -> None:
        self.kv = kv
        self.key = key
        self.holder = holder
        self._value = holder.encode()
        self.revision: int | None = None

    @property
    def held(self) -> bool:
        return self.revision is not None

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it (or we held it before a restart)."""
        try:
            self.revision = await self.kv.create(self.key, self._value)
            return True
        except (AlreadyExists, Aborted):  # held by someone, or changing under us: look
            pass
        entry = await self.kv.get(self.key)
        if entry is None or entry.value != self._value:
            self.revision = None
            return False
        # Ours already (same holder id): continue it with a compare-and-set.
        try:
            self.revision = await self.kv.update(self.key, self._value, entry.revision)
            return True
        except Aborted:
            self.revision = None
            return False

    async def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours (expired and taken, or gone)."""
        if self.revision is None:
            return False
        try:
            self.revision = await self.kv.update(self.key, self._value, self.revision)
            return True
        except (Aborted, NotFound):
            self.revision = None
            return False

    async def release(self) -> None:
        """Give the lease up if it is still ours. Best effort; idempotent."""
        revision, self.revision = self.revision, None
        if revision is None:
            return
        try:
            await self.kv.delete(self.key, revision=revision)
        except Exception as e:  # expired or taken meanwhile, or NATS is gone: the TTL ends it
            log.info("lease not released", key=self.key, error=repr(e))

    async def holder_now(self) -> str | None:
        entry = await self.kv.get(self.key)
        return entry.value.decode() if entry is not None and entry.value else None
