"""Servers as the encoded fields GetServer and ListServers answer with: cached servers are
sent as they are (never decoded and encoded again), the others read and cached."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from polyvisor.api import access
from polyvisor.api import models as m
from polyvisor.api.convert.servers import server_to_proto, shown_row_to_proto
from polyvisor.api.readcache import ReadCache
from polyvisor.api.serverindex import ServerIndex
from polyvisor.api.servers import Servers
from polyvisor.common.auth import Principal

# What a read for a page found: server id -> (revision, encoding).
Found = dict[str, tuple[int, bytes]]


def field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (tag, varint length, bytes)."""
    n = len(payload)
    out = bytearray([(number << 3) | 2])
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + payload


def varint_field(number: int, value: int) -> bytes:
    """One varint protobuf field (tag, then the value, 7 bits a byte), for a value >= 0."""
    out = bytearray([number << 3])
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def server_field(server: m.Server) -> bytes:
    """A server encoded as field 1 (`server` of GetServerResponse, one of the repeated
    `servers` of ListServersResponse): what the read cache holds. A GetServer answer is this
    alone; a ListServers page is these one after another, then the token (field 2)."""
    return field(1, server_to_proto(server).SerializeToString())


#: Bytes of whole page bodies kept (pages served from the index, see `from_index`).
BODY_BYTES = 16 * 1024 * 1024


class PageReader:
    def __init__(self, servers: Servers, cache: ReadCache) -> None:
        self.servers = servers
        self.cache = cache
        # The servers being read for a page, and the read that will have them.
        self.reading: dict[str, asyncio.Future[Found]] = {}
        # (scope, page token, page size) -> (index revision, the page's body), oldest first.
        self._bodies: OrderedDict[tuple[str | None, str, int], tuple[int, bytes]] = OrderedDict()
        self._body_bytes = 0

    async def from_index(
        self,
        p: Principal,
        project_id: str,
        all_projects: bool,
        page_size: int,
        page_token: str,
        index: ServerIndex,
    ) -> bytes | None:
        """An unfiltered ListServers answer from the index, or None when the index cannot say
        it is current (the caller queries). A body is kept with the index revision it was made
        at and sent again, as it is, to whoever asks for the same page while the index is still
        current at that revision (no server of the cloud changed since): clients walking a
        list side by side, a project's first page asked for by many. The body says its
        revision (ListServersResponse.revision): a client keeping the page checks it with
        GetServersRevision."""
        scope = access.list_scope(p, project_id, all_projects)
        applied = await index.current()
        if applied is None:
            return None
        key = (scope, page_token, page_size)
        kept = self._bodies.get(key)
        if kept is not None and kept[0] == applied:
            return kept[1]
        keys, token = self.servers.index_keys(scope, page_size, page_token, index)
        tail = (field(2, token.encode()) if token else b"") + varint_field(3, applied)
        body = await self.encoded(keys, tail)
        self._keep(key, applied, body)
        return body

    def _keep(self, key: tuple[str | None, str, int], revision: int, body: bytes) -> None:
        old = self._bodies.pop(key, None)
        if old is not None:
            self._body_bytes -= len(old[1])
        if len(body) > BODY_BYTES // 64:
            return  # a huge page: not worth the room
        self._bodies[key] = (revision, body)
        self._body_bytes += len(body)
        while self._body_bytes > BODY_BYTES:
            _, (_, dropped) = self._bodies.popitem(last=False)
            self._body_bytes -= len(dropped)

    async def encoded(self, keys: list[tuple[str, int]], tail: bytes = b"") -> bytes:
        """The page's servers (id, revision), encoded one after another, then `tail`. Servers
        cached at that revision are sent from the cache; the others are read in one query and
        cached. Revisions come from the page's keys (the index or the page query, both current
        as of the request), so the page is never staler than the database."""
        parts = self.cache.peek_many(keys)
        if None in parts:
            await self._read_missing(keys, parts)
            parts = [part for part in parts if part is not None]  # gone since: not listed
        parts.append(tail)
        return b"".join(parts)  # type: ignore[arg-type]

    async def _read_missing(self, keys: list[tuple[str, int]], parts: list[bytes | None]) -> None:
        """Fill the holes of `parts`. Servers that another page is reading already, at that
        revision or later, are taken from its read (pages walked side by side by many clients
        read each server once); the rest in one query, which the pages arriving meanwhile
        share."""
        reading = self.reading
        missing: dict[str, int] = {}
        shared: list[tuple[int, asyncio.Future[Found]]] = []
        for i, part in enumerate(parts):
            if part is None:
                pending = reading.get(keys[i][0])
                if pending is None:
                    missing[keys[i][0]] = i
                else:
                    shared.append((i, pending))
        if missing:
            mine: asyncio.Future[Found] = asyncio.get_running_loop().create_future()
            for sid in missing:
                reading[sid] = mine
            got: Found = {}
            try:
                await self._read_into(parts, missing, got)
            finally:
                mine.set_result(got)  # on a failure, empty: the sharers read for themselves
                for sid in missing:
                    if reading.get(sid) is mine:
                        del reading[sid]
        again: dict[str, int] = {}
        reads: dict[asyncio.Future[Found], Found] = {}
        for i, pending in shared:
            if pending not in reads:  # usually one read for the whole page
                reads[pending] = await asyncio.shield(pending)
            sid, revision = keys[i]
            found = reads[pending].get(sid)
            if found is not None and found[0] >= revision:
                parts[i] = found[1]
            else:  # that read began before this page's revision was committed
                again[sid] = i
        if again:
            await self._read_into(parts, again, {})

    async def _read_into(
        self, parts: list[bytes | None], where: dict[str, int], got: Found
    ) -> None:
        """Read the servers `where` names; put each at its place in `parts`, in the cache and
        in `got`."""
        epoch = self.cache.begin()
        fill = self.cache.fill
        for row in await self.servers.fetch_shown(list(where)):
            data = field(1, shown_row_to_proto(row).SerializeToString())
            sid, revision = row["id"], row["revision"]
            got[sid] = (revision, data)
            parts[where[sid]] = data
            fill(sid, row["project_id"], revision, data, epoch)
