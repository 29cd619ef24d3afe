"""Keystone v3 (under /identity): version discovery, tokens (password, application
credential, token), the catalog, projects, users, roles and application credentials.

A Keystone token is the Polyvisor token itself (in `X-Subject-Token`), so every other API
of the gateway passes it to the gRPC services unchanged and they verify it. Application
credentials are Polyvisor API keys: the secret is the key.

One concern: Keystone v3's routes, one handler each, mapped onto the identity service.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.identity.v1 import identity_pb2 as ip
from polyvisor.identity.v1 import identity_requests_pb2 as ir
from polyvisor.osapi.convert import keystone as kc
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import (
    APIS,
    SETTINGS,
    WALK_PAGE,
    WHO_CACHE,
    base_url,
    body_of,
    every_page,
    stubs,
    whoami,
)

__all__ = ["routes"]

VERSION = "v3.14"
_UPDATED = "2020-04-07T00:00:00Z"
ROLES = ("admin", "member", "reader")
T = TypeVar("T")


def _version(base: str) -> dict[str, Any]:
    return {
        "id": VERSION,
        "status": "stable",
        "updated": _UPDATED,
        "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


async def versions(request: web.Request) -> web.Response:
    body = {"versions": {"values": [_version(base_url(request))]}}
    return web.json_response(body, status=300)


async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": _version(base_url(request))})


def _issued_at(token: str) -> str:
    """When the token was issued (its `iat`), so that every answer about one token says the
    same; the signature was checked by the identity service that answered for it."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        when = datetime.fromtimestamp(float(claims["iat"]), UTC)
    except (IndexError, KeyError, TypeError, ValueError):
        when = datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_domain(obj: dict[str, Any]) -> None:
    d = obj.get("domain")
    if isinstance(d, dict) and not (
        d.get("id") == "default" or d.get("name") in ("Default", "default")
    ):
        raise ApiError(401, "The request you have made requires authentication.")


def _scope_project(auth: dict[str, Any]) -> str:
    scope = auth.get("scope")
    if scope is None or scope == "unscoped":
        return ""
    if not isinstance(scope, dict):
        raise ApiError(400, "scope must be an object")
    if "project" not in scope:
        raise ApiError(401, "Only project scope is supported (no domains, no system scope)")
    proj = scope["project"]
    if not isinstance(proj, dict):
        raise ApiError(400, "scope.project must be an object")
    _check_domain(proj)
    return str(proj.get("id") or proj.get("name") or "")


async def issue_token(request: web.Request) -> web.Response:
    auth = await body_of(request, "auth")
    ident = auth.get("identity")
    if not isinstance(ident, dict) or not isinstance(ident.get("methods"), list):
        raise ApiError(400, "auth.identity.methods is required")
    methods = [str(m) for m in ident["methods"]]
    project = _scope_project(auth)
    s = request.app[APIS].as_user()
    if "password" in methods:
        user = (ident.get("password") or {}).get("user") or {}
        if not isinstance(user, dict) or not user.get("password"):
            raise ApiError(400, "auth.identity.password.user.password is required")
        _check_domain(user)
        creds = ip.PasswordCredentials(project=project, password=str(user["password"]),
                                       username=str(user.get("name") or user.get("id") or ""))  # fmt: skip
        req = ir.AuthenticateRequest(password=creds)
    elif "application_credential" in methods:
        ac = ident.get("application_credential") or {}
        if not isinstance(ac, dict) or not ac.get("secret"):
            raise ApiError(400, "auth.identity.application_credential.secret is required")
        req = ir.AuthenticateRequest(api_key=ip.ApiKeyCredentials(secret=str(ac["secret"])))
    elif "token" in methods:
        return await _rescope(request, ident, project)
    else:
        raise ApiError(401, f"Unsupported authentication methods: {', '.join(methods)}")
    resp = await s.identity.Authenticate(req, timeout=s.timeout)
    return _token_response(request, resp, resp.token, methods, status=201)


async def _rescope(request: web.Request, ident: dict[str, Any], project: str) -> web.Response:
    """A token for a token: the same token, when the scope asked for is its own (a
    Polyvisor token names one project; another project needs the credentials again)."""
    tok = str((ident.get("token") or {}).get("id") or "")
    if not tok:
        raise ApiError(400, "auth.identity.token.id is required")
    s = request.app[APIS].as_user(tok)
    resp = await s.identity.ValidateToken(ir.ValidateTokenRequest(token=tok), metadata=s.md,
                                          timeout=s.timeout)  # fmt: skip
    if project and project not in (resp.project.id, resp.project.name):
        raise ApiError(401, "A token can only be rescoped to its own project here")
    return _token_response(request, resp, tok, ["token"], status=201)


def _token_response(
    request: web.Request, resp: Any, token: str, methods: list[str], status: int
) -> web.Response:
    settings = request.app[SETTINGS]
    body = kc.token(resp, token, methods, base_url(request), settings.region, _issued_at(token),
                    bool(settings.volumesvc_address))  # fmt: skip
    return web.json_response(body, status=status, headers={"X-Subject-Token": token})


def _subject(request: web.Request) -> str:
    subject = request.headers.get("X-Subject-Token", "").strip()
    if not subject:
        raise ApiError(400, "X-Subject-Token header is required")
    return subject


async def _about_subject(call: Awaitable[T]) -> T:
    """A call about the subject token: the caller's own token is checked before (whoami), so
    UNAUTHENTICATED here is the subject's, which Keystone answers 404 for."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise ApiError(404, f"Could not find token: {exc.details()}") from None
        raise


async def validate_token(request: web.Request) -> web.StreamResponse:
    s = stubs(request)
    subject = _subject(request)
    await whoami(request)
    resp = await _about_subject(s.identity.ValidateToken(
        ir.ValidateTokenRequest(token=subject), metadata=s.md, timeout=s.timeout))  # fmt: skip
    out = _token_response(request, resp, subject, ["password"], status=200)
    if request.method == "HEAD":
        return web.Response(status=200, headers={"X-Subject-Token": subject})
    return out


async def revoke_token(request: web.Request) -> web.Response:
    """Logout: the subject token stops working on every service (the revocation feed)."""
    s = stubs(request)
    subject = _subject(request)
    await whoami(request)
    await _about_subject(s.identity.RevokeToken(
        ir.RevokeTokenRequest(token=subject), metadata=s.md, timeout=s.timeout))  # fmt: skip
    request.app[WHO_CACHE].pop(subject, None)
    return web.Response(status=204)


async def auth_catalog(request: web.Request) -> web.Response:
    who = await whoami(request)
    settings = request.app[SETTINGS]
    return web.json_response({"catalog": kc.catalog(base_url(request), settings.region,
                                                    who.project_id, bool(settings.volumesvc_address)),
                              "links": {"self": str(request.url)}})  # fmt: skip


async def auth_projects(request: web.Request) -> web.Response:
    who = await whoami(request)
    projects = await _projects(request, user_id=who.user_id)
    return web.json_response({"projects": projects, "links": {"self": str(request.url)}})


async def _projects(request: web.Request, user_id: str = "") -> list[dict[str, Any]]:
    s = stubs(request)
    out: list[dict[str, Any]] = []
    async for resp in every_page(lambda token: s.identity.ListProjects(
            ir.ListProjectsRequest(page_size=WALK_PAGE, page_token=token, user_id=user_id),
            metadata=s.md, timeout=s.timeout)):  # fmt: skip
        out += [kc.project(p, base_url(request)) for p in resp.projects]
    return out


async def list_projects(request: web.Request) -> web.Response:
    projects = await _projects(request, user_id=request.query.get("user_id", ""))
    if name := request.query.get("name"):
        projects = [p for p in projects if p["name"] == name]
    return web.json_response({"projects": projects, "links": {"self": str(request.url)}})


async def user_projects(request: web.Request) -> web.Response:
    projects = await _projects(request, user_id=request.match_info["user_id"])
    return web.json_response({"projects": projects, "links": {"self": str(request.url)}})


async def get_project(request: web.Request) -> web.Response:
    s = stubs(request)
    resp = await s.identity.GetProject(ir.GetProjectRequest(project_id=request.match_info["id"]),
                                       metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response({"project": kc.project(resp.project, base_url(request))})


async def create_project(request: web.Request) -> web.Response:
    s = stubs(request)
    p = await body_of(request, "project")
    msg = ip.Project(name=str(p.get("name") or ""), description=str(p.get("description") or ""),
                     enabled=bool(p.get("enabled", True)))  # fmt: skip
    resp = await s.identity.CreateProject(ir.CreateProjectRequest(project=msg), metadata=s.md,
                                          timeout=s.timeout)  # fmt: skip
    return web.json_response({"project": kc.project(resp.project, base_url(request))}, status=201)


async def delete_project(request: web.Request) -> web.Response:
    s = stubs(request)
    await s.identity.DeleteProject(ir.DeleteProjectRequest(project_id=request.match_info["id"]),
                                   metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.Response(status=204)


async def list_users(request: web.Request) -> web.Response:
    s = stubs(request)
    out: list[dict[str, Any]] = []
    async for resp in every_page(lambda token: s.identity.ListUsers(
            ir.ListUsersRequest(page_size=WALK_PAGE, page_token=token),
            metadata=s.md, timeout=s.timeout)):  # fmt: skip
        out += [kc.user(u, base_url(request)) for u in resp.users]
    if name := request.query.get("name"):
        out = [u for u in out if u["name"] == name]
    return web.json_response({"users": out, "links": {"self": str(request.url)}})


async def get_user(request: web.Request) -> web.Response:
    s = stubs(request)
    resp = await s.identity.GetUser(ir.GetUserRequest(user_id=request.match_info["user_id"]),
                                    metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response({"user": kc.user(resp.user, base_url(request))})


async def create_user(request: web.Request) -> web.Response:
    s = stubs(request)
    u = await body_of(request, "user")
    _check_domain({"domain": {"id": u.get("domain_id", "default")}})
    msg = ip.User(name=str(u.get("name") or ""), email=str(u.get("email") or ""),
                  default_project_id=str(u.get("default_project_id") or ""),
                  enabled=bool(u.get("enabled", True)))  # fmt: skip
    resp = await s.identity.CreateUser(
        ir.CreateUserRequest(user=msg, password=str(u.get("password") or "")),
        metadata=s.md, timeout=s.timeout,
    )  # fmt: skip
    return web.json_response({"user": kc.user(resp.user, base_url(request))}, status=201)


async def delete_user(request: web.Request) -> web.Response:
    s = stubs(request)
    await s.identity.DeleteUser(ir.DeleteUserRequest(user_id=request.match_info["user_id"]),
                                metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.Response(status=204)


async def list_roles(request: web.Request) -> web.Response:
    await whoami(request)
    roles = [kc.role(r) for r in ROLES]
    if name := request.query.get("name"):
        roles = [r for r in roles if r["name"] == name]
    return web.json_response({"roles": roles, "links": {"self": str(request.url)}})


def _role_number(name: str) -> Any:
    if name not in ROLES:
        raise ApiError(404, f"Could not find role: {name}.")
    return ip.Role.Value(f"ROLE_{name.upper()}")


async def grant_role(request: web.Request) -> web.Response:
    s = stubs(request)
    m = request.match_info
    req = ir.GrantRoleRequest(user_id=m["user_id"], project_id=m["project_id"],
                              role=_role_number(m["role"]))  # fmt: skip
    await s.identity.GrantRole(req, metadata=s.md, timeout=s.timeout)
    return web.Response(status=204)


async def revoke_role(request: web.Request) -> web.Response:
    s = stubs(request)
    m = request.match_info
    req = ir.RevokeRoleRequest(user_id=m["user_id"], project_id=m["project_id"],
                               role=_role_number(m["role"]))  # fmt: skip
    await s.identity.RevokeRole(req, metadata=s.md, timeout=s.timeout)
    return web.Response(status=204)


async def domains(request: web.Request) -> web.Response:
    await whoami(request)
    return web.json_response({"domains": [kc.domain(base_url(request))],
                              "links": {"self": str(request.url)}})  # fmt: skip


async def get_domain(request: web.Request) -> web.Response:
    await whoami(request)
    if request.match_info["id"] not in ("default", "Default"):
        raise ApiError(404, f"Could not find domain: {request.match_info['id']}.")
    return web.json_response({"domain": kc.domain(base_url(request))})


async def create_app_cred(request: web.Request) -> web.Response:
    s = stubs(request)
    who = await whoami(request)
    if request.match_info["user_id"] != who.user_id:
        raise ApiError(403, "Application credentials are created for oneself")
    ac = await body_of(request, "application_credential")
    req = ir.CreateApiKeyRequest(name=str(ac.get("name") or ""), project_id=who.project_id)
    if ac.get("expires_at"):
        ts = Timestamp()
        try:
            ts.FromJsonString(str(ac["expires_at"]).replace("+00:00", "Z").rstrip("Z") + "Z")
        except ValueError:
            raise ApiError(400, f"Invalid expires_at {ac['expires_at']!r}") from None
        req.expire_time.CopyFrom(ts)
    resp = await s.identity.CreateApiKey(req, metadata=s.md, timeout=s.timeout)
    body = kc.app_cred(resp.api_key, list(who.roles), secret=resp.secret)
    return web.json_response({"application_credential": body}, status=201)


async def list_app_creds(request: web.Request) -> web.Response:
    s = stubs(request)
    who = await whoami(request)
    resp = await s.identity.ListApiKeys(
        ir.ListApiKeysRequest(page_size=1000, user_id=request.match_info["user_id"]),
        metadata=s.md, timeout=s.timeout,
    )  # fmt: skip
    creds = [kc.app_cred(k, list(who.roles)) for k in resp.api_keys]
    if name := request.query.get("name"):
        creds = [c for c in creds if c["name"] == name]
    return web.json_response({"application_credentials": creds,
                              "links": {"self": str(request.url)}})  # fmt: skip


async def delete_app_cred(request: web.Request) -> web.Response:
    s = stubs(request)
    await s.identity.DeleteApiKey(ir.DeleteApiKeyRequest(api_key_id=request.match_info["id"]),
                                  metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    p = "/identity/v3"
    users = f"{p}/users/{{user_id}}"
    return [
        web.get("/identity", versions),
        web.get("/identity/", versions),
        web.get(p, version),
        web.get(f"{p}/", version),
        web.post(f"{p}/auth/tokens", issue_token),
        web.get(f"{p}/auth/tokens", validate_token, allow_head=True),
        web.delete(f"{p}/auth/tokens", revoke_token),
        web.get(f"{p}/auth/catalog", auth_catalog),
        web.get(f"{p}/auth/projects", auth_projects),
        web.get(f"{p}/projects", list_projects),
        web.post(f"{p}/projects", create_project),
        web.get(f"{p}/projects/{{id}}", get_project),
        web.delete(f"{p}/projects/{{id}}", delete_project),
        web.get(f"{p}/users", list_users),
        web.post(f"{p}/users", create_user),
        web.get(users, get_user),
        web.delete(users, delete_user),
        web.get(f"{users}/projects", user_projects),
        web.get(f"{users}/application_credentials", list_app_creds),
        web.post(f"{users}/application_credentials", create_app_cred),
        web.delete(f"{users}/application_credentials/{{id}}", delete_app_cred),
        web.get(f"{p}/roles", list_roles),
        web.put(f"{p}/projects/{{project_id}}/users/{{user_id}}/roles/{{role}}", grant_role),
        web.delete(f"{p}/projects/{{project_id}}/users/{{user_id}}/roles/{{role}}", revoke_role),
        web.get(f"{p}/domains", domains),
        web.get(f"{p}/domains/{{id}}", get_domain),
    ]
