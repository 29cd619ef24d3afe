"""What every API's handlers share: the middleware that answers errors in each API's shape
(and negotiates Nova's microversion), the caller's stubs, bodies, links, paging."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from aiohttp import web
from prometheus_client import Counter, Histogram

from polyvisor.client.enums import display
from polyvisor.common.fresh_calls import FreshCalls
from polyvisor.common.logging import get_logger
from polyvisor.identity.v1 import identity_pb2
from polyvisor.identity.v1 import identity_requests_pb2 as ir
from polyvisor.osapi import microversion
from polyvisor.osapi.clients import Apis, Stubs
from polyvisor.osapi.config import OsapiSettings
from polyvisor.osapi.errors import Api, ApiError, from_rpc, render
from polyvisor.osapi.kept_pages import KeptPages

__all__ = [
    "APIS",
    "CHECKS",
    "KEPT",
    "SETTINGS",
    "Who",
    "base_url",
    "body_of",
    "boolean",
    "error_middleware",
    "page_after",
    "request_id",
    "scope_of",
    "stubs",
    "volume_service",
    "whoami",
]

log = get_logger(__name__)

APIS = web.AppKey("apis", Apis)
SETTINGS = web.AppKey("settings", OsapiSettings)
WHO_CACHE = web.AppKey("who_cache", dict)
KEPT = web.AppKey("kept_pages", KeptPages)
CHECKS: web.AppKey[FreshCalls[str, int]] = web.AppKey("revision_checks")
MV = "microversion"
RID = "request_id"

REQUESTS = Counter(
    "polyvisor_osapi_requests_total", "REST requests answered", ["api", "method", "status"]
)
LATENCY = Histogram("polyvisor_osapi_request_seconds", "REST request latency", ["api"])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")


_BY_PREFIX = {api.value: api for api in Api}


def api_of(path: str) -> Api:
    return _BY_PREFIX.get(path.lstrip("/").split("/", 1)[0], Api.KEYSTONE)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    api = api_of(request.path)
    started = time.perf_counter()
    rid = request_id(request)
    extra: dict[str, str] = {"x-openstack-request-id": rid}
    try:
        if api is Api.NOVA:
            if microversion.is_legacy_v2(request.path):
                request[MV] = microversion.MIN_VERSION
            else:
                request[MV] = microversion.negotiate(request.headers)
                extra |= microversion.response_headers(request[MV])
            extra["x-compute-request-id"] = rid
        elif api is Api.CINDER:
            request[MV] = microversion.negotiate_volume(request.headers)
            extra |= microversion.volume_headers(request[MV])
        resp = await handler(request)
    except ApiError as err:
        resp = _error(api, err)
    except grpc.aio.AioRpcError as exc:
        mapped = from_rpc(exc.code(), exc.details() or "", api=api)
        if mapped.status >= 500:
            log.warning(
                "rpc failed", path=request.path, code=exc.code().name, details=exc.details()
            )
        resp = _error(api, mapped)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        resp = _error(api, ApiError(exc.status, exc.reason))
    except json.JSONDecodeError:
        resp = _error(api, ApiError(400, "Malformed request body"))
    if extra and not resp.prepared:
        resp.headers.update(extra)
    REQUESTS.labels(api.value, request.method, str(resp.status)).inc()
    LATENCY.labels(api.value).observe(time.perf_counter() - started)
    return resp


def request_id(request: web.Request) -> str:
    """This request's id: the client's X-OpenStack-Request-ID, else one made for it (`req-`
    and a UUID, as OpenStack's services make them). Answers carry it in
    x-openstack-request-id; the actions it starts are recorded under it."""
    rid = request.get(RID)
    if rid is None:
        rid = request.headers.get("X-OpenStack-Request-ID", "").strip()[:128]
        if not rid or not rid.isprintable():
            rid = f"req-{uuid.uuid4()}"
        request[RID] = rid
    return str(rid)


def _error(api: Api, err: ApiError) -> web.Response:
    return web.json_response(render(api, err), status=err.status)


def token_of(request: web.Request) -> str:
    token = request.headers.get("X-Auth-Token", "").strip()
    if not token:
        raise ApiError(401, "The request you have made requires authentication.")
    return token


def stubs(request: web.Request) -> Stubs:
    return request.app[APIS].as_user(token_of(request))


def volume_service(s: Stubs) -> Any:
    """The caller's volume service stub; 404 when the gateway has none (no block storage)."""
    if s.volumes is None:
        raise ApiError(404, "This cloud has no block storage service")
    return s.volumes


def base_url(request: web.Request) -> str:
    public = request.app[SETTINGS].public_url.rstrip("/")
    return public or f"{request.scheme}://{request.host}"


async def body_of(request: web.Request, key: str | None = None) -> dict[str, Any]:
    """The request's JSON object (its `key` member when given); 400 otherwise."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "The request body is empty")
    data = json.loads(raw)
    if key is not None:
        if not isinstance(data, dict) or not isinstance(data.get(key), dict):
            raise ApiError(400, f"The request body must be an object with a '{key}' object")
        data = data[key]
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return data


#: The spellings of a boolean the OpenStack schemas take (Nova's parameter_types.boolean).
_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no"})


def boolean(value: Any, name: str) -> bool:
    """A body's boolean as the OpenStack APIs take it: JSON true/false or one of their string
    spellings ("True", "false", "1", ...); 400 otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ApiError(400, f"{name} must be a boolean, not {value!r}")


@dataclass(frozen=True, slots=True)
class Who:
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]
    expires: float

    @property
    def admin(self) -> bool:
        return "admin" in self.roles


async def whoami(request: web.Request) -> Who:
    """The caller (ValidateToken, remembered for a minute per token)."""
    s = stubs(request)
    token = s.md[0][1].removeprefix("Bearer ")
    cache: dict[str, Who] = request.app[WHO_CACHE]
    now = time.time()
    hit = cache.get(token)
    if hit is not None and hit.expires > now:
        return hit
    resp = await s.identity.ValidateToken(ir.ValidateTokenRequest(token=token), metadata=s.md,
                                          timeout=s.timeout)  # fmt: skip
    roles = tuple(display(identity_pb2.Role.DESCRIPTOR, r) for r in resp.roles)
    who = Who(resp.user.id, resp.user.name, resp.project.id, resp.project.name, roles, now + 60)
    if len(cache) > 10_000:
        cache.clear()
    cache[token] = who
    return who


#: Where a page that ended on a given item goes on: (scope, last id) -> the gRPC page token
#: after it. A marker found here resumes at once; one that is not (another replica answered
#: the page before, or it fell out) is found by listing from the start.
_RESUME: OrderedDict[tuple[str, str], str] = OrderedDict()
_RESUME_MAX = 10_000


def scope_of(request: web.Request) -> str:
    """What a resume token is valid for: the caller, the path, the filters."""
    who = hashlib.sha256(request.headers.get("X-Auth-Token", "").encode()).hexdigest()[:16]
    query = sorted((k, v) for k, v in request.query.items() if k not in ("marker", "limit"))
    return f"{who}|{request.path}|{query}"


#: The page size of a walk over a whole gRPC list (every_page).
WALK_PAGE = 1000


async def every_page(fetch: Callable[[str], Awaitable[Any]]) -> AsyncIterator[Any]:
    """Each answer of a gRPC List from its first page to its last: `fetch(page_token)` asks
    for one page (of WALK_PAGE items) and returns the answer, whose next_page_token says
    whether another follows."""
    token = ""
    while True:
        resp = await fetch(token)
        yield resp
        token = resp.next_page_token
        if not token:
            return


async def page_after(
    fetch: Callable[[str, int], Awaitable[tuple[Sequence[T], str]]],
    *,
    limit: int | None,
    marker: str | None,
    key: Callable[[T], str],
    keep: Callable[[T], bool] | None = None,
    max_limit: int = 1000,
    scope: str = "",
) -> tuple[list[T], bool]:
    """OpenStack paging (limit, marker = the last id seen) over a gRPC List (page tokens):
    the items after `marker` that `keep` accepts (all of them without `keep`), at most
    `limit`; and whether more may follow. `fetch(page_token, page_size)` returns (items,
    next_page_token)."""
    want = min(limit, max_limit) if limit is not None else max_limit
    if want == 0:  # limit=0: an empty page, as Nova answers
        return [], False
    out: list[T] = []
    token = ""
    seen = not marker
    if marker and (scope, marker) in _RESUME:
        token, seen = _RESUME[(scope, marker)], True
    size = want if seen else 1000
    while True:
        items, token = await fetch(token, size)
        start = 0
        if not seen:
            start = next((i + 1 for i, item in enumerate(items) if key(item) == marker), -1)
            if start < 0:
                if not token:
                    break
                continue
            seen = True
        if keep is None:  # no filter: the page's items as they come (a list page's path)
            end = min(len(items), start + want - len(out))
            out.extend(items[start:end])
        else:
            end = start
            while end < len(items) and len(out) < want:
                if keep(items[end]):
                    out.append(items[end])
                end += 1
        if len(out) == want:
            if end < len(items):
                return out, True
            if token:
                _RESUME[(scope, key(out[-1]))] = token
                while len(_RESUME) > _RESUME_MAX:
                    _RESUME.popitem(last=False)
            return out, bool(token)
        if not token:
            break
    if not seen:
        raise ApiError(400, f"marker [{marker}] not found")
    return out, False


def query_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if value < 0:
        raise ApiError(400, f"{name} must be >= 0")
    return value


async def aiter_chunks(request: web.Request, size: int) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(size):
        yield chunk
