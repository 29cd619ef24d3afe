"""A read-through cache for GetServer and ListServers, kept coherent by the change notifications.

Entries are opaque values (the handlers store the encoded server, ready to send) with the
project they belong to, keyed by server id. Coherence:

- every committed change to a server NOTIFYs `api_server_changes` (store.servers) and every
  replica's listener calls `invalidate(server_id)`; a replica's own RPC writes also invalidate
  at once, before answering, so a client reads its own writes;
- a read that raced with a change cannot put the older row back: `begin()` returns an epoch
  and `fill` is refused when the server was invalidated after that epoch;
- while the listener is not connected the cache is bypassed (and it is emptied on reconnect).

So a GetServer answered from the cache lags another replica's commit by at most the
notification's delivery (milliseconds). WatchServers, not GetServer, is the ordered view.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    project_id: str
    revision: int
    value: bytes


class ReadCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._invalidated: OrderedDict[str, int] = OrderedDict()
        self._epoch = 0
        self._floor = 0
        self.enabled = False  # until the listener is connected
        self.hits = 0
        self.misses = 0

    def get(self, server_id: str) -> Entry | None:
        if not self.enabled:
            return None
        entry = self._entries.get(server_id)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def begin(self) -> int:
        """Call before reading the database; pass the result to `fill`."""
        self._epoch += 1
        return self._epoch

    def peek(self, server_id: str, revision: int) -> Entry | None:
        """The entry if it holds exactly `revision` (the caller read the current revision from
        the database: such a use is never stale, whatever the notifications did)."""
        entry = self._entries.get(server_id)
        if entry is None or entry.revision != revision:
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def peek_many(self, keys: list[tuple[str, int]]) -> list[bytes | None]:
        """`peek` for each (server id, revision): the cached values, None where it misses."""
        get = self._entries.get
        out = [
            e.value if (e := get(server_id)) is not None and e.revision == revision else None
            for server_id, revision in keys
        ]
        hits = len(out) - out.count(None)
        self.hits += hits
        self.misses += len(out) - hits
        return out

    def fill(
        self, server_id: str, project_id: str, revision: int, value: bytes, epoch: int
    ) -> None:
        if not self.enabled or self.capacity <= 0:
            return
        if epoch < self._floor or self._invalidated.get(server_id, -1) >= epoch:
            return  # changed (or the cache was reset) while it was being read
        self._entries[server_id] = Entry(project_id, revision, value)
        self._entries.move_to_end(server_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def invalidate(self, server_id: str) -> None:
        self._epoch += 1
        self._entries.pop(server_id, None)
        self._invalidated[server_id] = self._epoch
        self._invalidated.move_to_end(server_id)
        while len(self._invalidated) > max(self.capacity, 1024):
            self._invalidated.popitem(last=False)

    def reset(self, enabled: bool) -> None:
        """Forget everything (the listener (re)connected, or lost its connection)."""
        self._epoch += 1
        self._entries.clear()
        self._invalidated.clear()
        self.enabled = enabled and self.capacity > 0
        # Every read in flight began before this epoch: none of them may fill.
        self._floor = self._epoch

    def __len__(self) -> int:
        return len(self._entries)
