"""Server list pages the gateway keeps, answered again while the api says nothing changed.

A Nova list page (`GET /servers/detail?limit=100`) made from api pages of one revision
(ListServersResponse.revision: unfiltered pages from the api's in-memory list) is kept with
that revision, its caller's token and its URL. When the same caller asks for it again, the
gateway asks the api for the newest revision (GetServersRevision); while that is the kept one,
no server of the cloud has changed since the page was made, and the kept bytes are the answer:
no page of servers crosses gRPC, nothing is decoded or encoded again.

Consistency is the api's: the check is a call sent after the request arrived, answered by a
replica once it holds every change committed before (as a page from it would be). Access is
the api's too: the check is made with the caller's own token, so an expired or revoked token,
or one that may no longer list, is refused there as its page would be; a kept page is only
ever answered to the token it was made for.

One check per token is in flight at a time: a request that arrives while one is in flight
waits for the next (the one in flight may have been answered before it arrived), which
answers every request of that token that arrived meanwhile; concurrent readers of one client
(a walk over a long list, a dashboard's parallel polls) share it. When requests already wait
for the next, it is sent `GATHER_S` later, for more to join (a check costs the api about as
much as the page it spares: one per page would spare the gateway's work, not the api's); a
lone request is checked at once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter

from polyvisor.common.fresh_calls import FreshCalls

__all__ = ["KeptPages", "revision_checks"]

PAGES = Counter(
    "polyvisor_osapi_server_pages_total",
    "Nova server list pages, by how they were answered: kept (a kept page the api said is "
    "current), made (read from the api)",
    ["source"],
)
_KEPT = PAGES.labels("kept")
_MADE = PAGES.labels("made")

Key = tuple[Any, ...]

#: When requests wait for the next check: how long it waits for more to join before it is sent.
GATHER_S = 0.003


class KeptPages:
    """Page bodies by (token, URL and what else shapes the body), with the revision each was
    made at; the least recently used go first when they hold more than `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[Key, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: Key) -> tuple[int, bytes] | None:
        kept = self._pages.get(key)
        if kept is not None:
            self._pages.move_to_end(key)
        return kept

    def keep(self, key: Key, revision: int, body: bytes) -> None:
        """Keep `body`, made at `revision` (> 0; 0 is a page nothing can check: not kept)."""
        self.drop(key)
        if revision <= 0 or len(body) > self.max_bytes // 16:
            return
        self._pages[key] = (revision, body)
        self._bytes += len(body)
        while self._bytes > self.max_bytes:
            _, (_, old) = self._pages.popitem(last=False)
            self._bytes -= len(old)

    def drop(self, key: Key) -> None:
        old = self._pages.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1])

    @staticmethod
    def count(kept: bool) -> None:
        (_KEPT if kept else _MADE).inc()


def revision_checks(
    ask: Callable[[str], Awaitable[int]], gather_s: float = GATHER_S
) -> FreshCalls[str, int]:
    """GetServersRevision calls by token (`ask(token)`: the api's answer, 0 when it cannot
    tell), one in flight per token, each caller answered by a call sent after it asked. A
    failed call answers 0 to all who waited for it: their pages are made anew, and the error,
    if it is the token's (expired, revoked), is met there, so it is no news in the log."""
    return FreshCalls(
        ask, failed=0, gather_s=gather_s, what="revision check", failures_are_expected=True
    )
