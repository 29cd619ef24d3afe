"""The Nova server list filters the gateway applies itself (the gRPC list has no such filter):
name as a regular expression, image, flavor, ip, changes-since (which, as in Nova, also
brings the servers deleted since then: the list handler asks the api for deleted servers);
and the query as Nova takes it from a user who is no admin (admin-only options dropped)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiMapping

from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import whoami
from polyvisor.types.v1 import server_status_pb2 as ss

__all__ = ["ADMIN_ONLY", "deleted_only", "list_filter", "query"]

#: The list options Nova keeps only for admins (remove_invalid_options drops them from a
#: user's query, silently): deleted servers, a host. A user's changes-since still brings
#: their deleted servers. (A user's all_tenants is refused by the api: 403, as Nova's.)
ADMIN_ONLY = ("deleted", "host")


async def query(request: web.Request) -> MultiMapping[str]:
    """The list's query as Nova takes it: a non-admin's admin-only options dropped."""
    q = request.query
    if any(k in q for k in ADMIN_ONLY) and not (await whoami(request)).admin:
        return MultiDict((k, v) for k, v in q.items() if k not in ADMIN_ONLY)
    return q


def _changed(srv: Any) -> int:
    """When the server last changed, in seconds (Nova's updated_at; a delete is a change)."""
    return max(srv.create_time.seconds, srv.update_time.seconds, srv.delete_time.seconds)


def _changes_since(text: str | None) -> float | None:
    """Nova's changes-since: an ISO 8601 time (UTC when it names no zone); 400 otherwise."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(400, f"Invalid input for query parameters changes-since: {text!r}") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def list_filter(request: web.Request, q: MultiMapping[str] | None = None) -> Any:
    """What keeps a server on a Nova list page, from the query's (`q`, else the request's)
    name (a regular expression), image, flavor, ip and changes-since; None when the query
    filters on none of them."""
    q = request.query if q is None else q
    name = q.get("name")
    try:
        pattern = re.compile(name) if name else None
    except re.error:
        raise ApiError(400, f"Invalid name filter {name!r}") from None
    image, flavor, ip = q.get("image"), q.get("flavor"), q.get("ip")
    since = _changes_since(q.get("changes-since"))
    if pattern is None and not (image or flavor or ip) and since is None:
        return None  # every server: page_after takes the pages as they come

    def keep(srv: Any) -> bool:
        if since is not None and _changed(srv) < since:
            return False
        if pattern is not None and not pattern.search(srv.name):
            return False
        if image and srv.image_id != image.rsplit("/", 1)[-1]:
            return False
        if flavor and flavor.rsplit("/", 1)[-1] not in (srv.flavor.id, srv.flavor.name):
            return False
        return not ip or any(re.search(ip, a.address) for a in srv.addresses)

    return keep


def deleted_only(keep: Any) -> Any:
    """`keep` narrowed to the deleted servers (an admin's deleted=true, as Nova's)."""

    def deleted(srv: Any) -> bool:
        return bool(srv.state == ss.SERVER_STATE_DELETED and (keep is None or keep(srv)))

    return deleted
