"""The dashboard's pages (aiohttp, Jinja2 templates, htmx), each calling the public gRPC APIs
with the logged-in user's token.

Nothing here keeps state: the session (token, CSRF token) lives encrypted in the cookie.
Every POST checks the session's CSRF token (form field `csrf`, or the `X-CSRF-Token` header
htmx sends). Live server states come from ComputeService.WatchServers as Server-Sent Events.

One concern: the plumbing every page shares (session, CSRF, errors, rendering), the login,
the overview and the servers' pages, and the routes; the catalogue's pages are in
`catalog`, the shared helpers in `common`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any

import grpc
import jinja2
from aiohttp import web

from polyvisor.common.logging import get_logger
from polyvisor.common.novnc import novnc_dir
from polyvisor.compute.v1 import (
    flavors_pb2,
    hypervisors_pb2,
    quotas_pb2,
    servers_pb2,
)
from polyvisor.dashboard.clients import Apis, Stubs
from polyvisor.dashboard.sessions import COOKIE, Session, SessionBox
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.network.v1 import networks_pb2
from polyvisor.types.v1 import hypervisor_pb2

__all__ = ["Dashboard", "make_app"]

log = get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


from polyvisor.dashboard.handlers.catalog import Catalog  # noqa: E402
from polyvisor.dashboard.handlers.common import _http_status, as_dict, human_bytes, pct, short  # noqa: E402


class Dashboard(Catalog):
    def __init__(self, apis: Apis, box: SessionBox, *, secure_cookies: bool = False) -> None:
        self.apis = apis
        self.box = box
        self.secure = secure_cookies
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("polyvisor.dashboard", "templates"),
            autoescape=jinja2.select_autoescape(("html",)),
            enable_async=False,
        )
        self.env.filters["short"] = short
        self.env.filters["pct"] = pct
        self.env.filters["bytes"] = human_bytes

    # ------------------------------------------------------------------ plumbing

    def render(
        self, request: web.Request, name: str, status: int = 200, **ctx: Any
    ) -> web.Response:
        s: Session | None = request.get("session")  # type: ignore[assignment]
        html = self.env.get_template(name).render(session=s, path=request.path, **ctx)
        resp = web.Response(text=html, content_type="text/html", status=status)
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def stubs(self, request: web.Request) -> Stubs:
        s: Session = request["session"]
        return self.apis.as_user(s.token)

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Sessions, CSRF on every POST, security headers on every answer."""
        if request.path.startswith("/static/") or request.path in ("/healthz",):
            return await handler(request)
        session = self.box.open(request.cookies.get(COOKIE))
        request["session"] = session
        if request.path not in ("/login",) and session is None:
            if request.headers.get("HX-Request"):
                return web.Response(status=401, headers={"HX-Redirect": "/login"})
            raise web.HTTPSeeOther("/login")
        if request.method == "POST" and request.path != "/login":
            presented = request.headers.get("X-CSRF-Token", "")
            if not presented and request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                presented = request.query.get("csrf", "")
                if not presented and request.content_type == "application/x-www-form-urlencoded":
                    presented = str((await request.post()).get("csrf", ""))
            if session is None or not session.csrf_ok(presented):
                raise web.HTTPForbidden(text="CSRF token missing or wrong\n")
        try:
            resp = await handler(request)
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.UNAUTHENTICATED:
                resp = web.HTTPSeeOther("/login")
                resp.del_cookie(COOKIE)
                return resp
            resp = self.render(
                request, "error.html", status=_http_status(e.code()),
                code=e.code().name, message=e.details() or "",
            )  # fmt: skip
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    def set_session(self, resp: web.StreamResponse, s: Session) -> None:
        resp.set_cookie(
            COOKIE, self.box.seal(s), httponly=True, samesite="Strict", secure=self.secure,
            path="/", max_age=max(60, int(s.expires_at - time.time())),
        )  # fmt: skip

    # ------------------------------------------------------------------ login

    async def login_form(self, request: web.Request) -> web.Response:
        return self.render(request, "login.html", error="")

    async def _authenticate(self, username: str, password: str, project: str) -> Session:
        resp = await self.apis.as_user().identity.Authenticate(
            identity_requests_pb2.AuthenticateRequest(
                password=identity_pb2.PasswordCredentials(
                    username=username, password=password, project=project
                )
            ),
            timeout=15,
        )
        exp = resp.expire_time.ToSeconds() if resp.HasField("expire_time") else time.time() + 3600
        return Session(
            token=resp.token,
            username=resp.user.name,
            user_id=resp.user.id,
            project_id=resp.project.id,
            project_name=resp.project.name,
            is_admin=identity_pb2.ROLE_ADMIN in resp.roles,
            csrf=SessionBox.new_csrf(),
            expires_at=float(exp),
        )

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            s = await self._authenticate(
                str(form.get("username", "")), str(form.get("password", "")),
                str(form.get("project", "")),
            )  # fmt: skip
        except grpc.aio.AioRpcError as e:
            return self.render(request, "login.html", status=401, error=e.details() or "refused")
        resp = web.HTTPSeeOther("/")
        self.set_session(resp, s)
        raise resp

    async def logout(self, request: web.Request) -> web.Response:
        resp = web.HTTPSeeOther("/login")
        resp.del_cookie(COOKIE, path="/")
        raise resp

    async def switch_project(self, request: web.Request) -> web.Response:
        """Like Horizon's project switch: a token for another project of the same user
        (tokens are scoped to one project, so the password is asked again)."""
        s: Session = request["session"]
        form = await request.post()
        try:
            new = await self._authenticate(
                s.username, str(form.get("password", "")), str(form.get("project", ""))
            )
        except grpc.aio.AioRpcError as e:
            return self.render(
                request, "error.html", status=403, code="SWITCH", message=e.details()
            )
        resp = web.HTTPSeeOther("/")
        self.set_session(resp, new)
        raise resp

    # ------------------------------------------------------------------ overview

    async def overview(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        hvs: list[dict[str, Any]] = []
        error = ""
        try:
            resp = await st.compute.ListHypervisors(
                hypervisors_pb2.ListHypervisorsRequest(page_size=1000), metadata=st.md
            )
            hvs = [as_dict(h) for h in resp.hypervisors]
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.PERMISSION_DENIED:
                raise
            error = "hypervisors are shown to admins"
        by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for h in hvs:
            by_type[short(h["hypervisor_type"])].append(h)
        servers = await st.compute.ListServers(
            servers_pb2.ListServersRequest(page_size=1000), metadata=st.md
        )
        quota = await st.compute.GetQuota(quotas_pb2.GetQuotaRequest(), metadata=st.md)
        return self.render(
            request, "overview.html", by_type=dict(sorted(by_type.items())), error=error,
            servers=len(servers.servers), quota=as_dict(quota.quota),
        )  # fmt: skip

    # ------------------------------------------------------------------ servers

    async def _choices(self, st: Stubs) -> dict[str, Any]:
        images, flavors = await asyncio.gather(
            st.images.ListImages(images_pb2.ListImagesRequest(page_size=1000), metadata=st.md),
            st.compute.ListFlavors(flavors_pb2.ListFlavorsRequest(page_size=1000), metadata=st.md),
        )
        networks: list[dict[str, Any]] = []
        try:
            nets = await st.network.ListNetworks(
                networks_pb2.ListNetworksRequest(page_size=1000), metadata=st.md, timeout=5
            )
            networks = [as_dict(n) for n in nets.networks]
        except grpc.aio.AioRpcError:
            networks = []
        return {
            "images": [
                as_dict(i) for i in images.images if i.status == images_pb2.IMAGE_STATUS_ACTIVE
            ],
            "flavors": [as_dict(f) for f in flavors.flavors],
            "networks": networks,
        }

    async def servers(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        resp = await st.compute.ListServers(
            servers_pb2.ListServersRequest(page_size=1000), metadata=st.md
        )
        return self.render(
            request, "servers.html", servers=[as_dict(s) for s in resp.servers],
            **(await self._choices(st)), form={}, error="",
        )  # fmt: skip

    async def create_server(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        form = await request.post()
        hints: dict[str, str] = {}
        if form.get("hypervisor_type"):
            hints["hypervisor_type"] = str(form["hypervisor_type"])
        for line in str(form.get("hints", "")).replace(",", "\n").splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                hints[k.strip()] = v.strip()
        metadata = {}
        if form.get("network_id"):
            metadata["network_id"] = str(form["network_id"])
        spec = servers_pb2.ServerSpec(
            name=str(form.get("name", "")),
            image_id=str(form.get("image_id", "")),
            flavor_id=str(form.get("flavor_id", "")),
            key_name=str(form.get("key_name", "")),
            scheduler_hints=hints,
            metadata=metadata,
        )
        try:
            resp = await st.compute.CreateServer(
                servers_pb2.CreateServerRequest(request_id=uuid.uuid4().hex, server=spec),
                metadata=st.md,
            )
        except grpc.aio.AioRpcError as e:
            if e.code() in (grpc.StatusCode.UNAUTHENTICATED,):
                raise
            listed = await st.compute.ListServers(
                servers_pb2.ListServersRequest(page_size=1000), metadata=st.md
            )
            return self.render(
                request, "servers.html", status=_http_status(e.code()),
                servers=[as_dict(s) for s in listed.servers], **(await self._choices(st)),
                form=dict(form), error=e.details() or e.code().name,
            )  # fmt: skip
        raise web.HTTPSeeOther(f"/servers/{resp.servers[0].id}")

    async def _server(self, st: Stubs, sid: str) -> servers_pb2.Server:
        resp = await st.compute.GetServer(
            servers_pb2.GetServerRequest(server_id=sid), metadata=st.md
        )
        return resp.server

    async def server(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        s = await self._server(st, request.match_info["id"])
        return self.render(request, "server.html", s=as_dict(s))

    async def server_summary(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        s = await self._server(st, request.match_info["id"])
        return self.render(request, "_server_summary.html", s=as_dict(s))

    async def server_action(self, request: web.Request) -> web.Response:
        st = self.stubs(request)
        sid, action = request.match_info["id"], request.match_info["action"]
        rid = uuid.uuid4().hex
        if action == "start":
            await st.compute.StartServer(
                servers_pb2.StartServerRequest(server_id=sid, request_id=rid), metadata=st.md
            )
        elif action == "stop":
            await st.compute.StopServer(
                servers_pb2.StopServerRequest(server_id=sid, request_id=rid), metadata=st.md
            )
        elif action in ("reboot", "reboot-hard"):
            kind = servers_pb2.REBOOT_TYPE_HARD if action == "reboot-hard" else 1
            await st.compute.RebootServer(
                servers_pb2.RebootServerRequest(server_id=sid, type=kind, request_id=rid),
                metadata=st.md,
            )
        elif action == "delete":
            await st.compute.DeleteServer(
                servers_pb2.DeleteServerRequest(server_id=sid, request_id=rid), metadata=st.md
            )
        else:
            raise web.HTTPNotFound()
        if request.headers.get("HX-Request"):
            return await self.server_summary(request)
        raise web.HTTPSeeOther(f"/servers/{sid}")

    async def console(self, request: web.Request) -> web.Response:
        """The console tab: noVNC, pointed at the console proxy with a fresh single-use token
        (the browser never learns the VNC password)."""
        st = self.stubs(request)
        sid = request.match_info["id"]
        s = await self._server(st, sid)
        c = await st.compute.GetServerConsole(
            servers_pb2.GetServerConsoleRequest(server_id=sid), metadata=st.md
        )
        return self.render(request, "console.html", s=as_dict(s), url=c.url)

    async def watch(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: one `server` event per change the Watch stream pushes."""
        st = self.stubs(request)
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await resp.prepare(request)
        call = st.compute.WatchServers(
            servers_pb2.WatchServersRequest(server_id=request.query.get("server_id", "")),
            metadata=st.md,
        )
        try:
            async for change in call:
                if not change.HasField("server"):
                    continue
                s = change.server
                data = {
                    "id": s.id,
                    "name": s.name,
                    "state": short(
                        servers_pb2.Server.DESCRIPTOR.fields_by_name["state"]
                        .enum_type.values_by_number[s.state]
                        .name
                    ),
                    "task": short(
                        servers_pb2.Server.DESCRIPTOR.fields_by_name["task"]
                        .enum_type.values_by_number[s.task]
                        .name
                    ),
                    "power": short(
                        servers_pb2.Server.DESCRIPTOR.fields_by_name["power_state"]
                        .enum_type.values_by_number[s.power_state]
                        .name
                    ),
                    "host": s.host,
                    "type": short(hypervisor_pb2.HypervisorType.Name(s.hypervisor_type)),
                    "change": servers_pb2.ServerChangeType.Name(change.type),
                }
                await resp.write(f"event: server\ndata: {json.dumps(data)}\n\n".encode())
        except ConnectionResetError:  # the browser left
            pass
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                log.info("watch ended", code=e.code().name)
        finally:
            call.cancel()
        return resp


def make_app(d: Dashboard) -> web.Application:
    app = web.Application(middlewares=[d.guard], client_max_size=1 << 20)
    r = app.router
    r.add_get("/login", d.login_form)
    r.add_post("/login", d.login)
    r.add_post("/logout", d.logout)
    r.add_post("/project", d.switch_project)
    r.add_get("/projects", d.projects)
    r.add_get("/", d.overview)
    r.add_get("/servers", d.servers)
    r.add_post("/servers", d.create_server)
    r.add_get("/servers/watch", d.watch)
    r.add_get("/servers/{id}", d.server)
    r.add_get("/servers/{id}/summary", d.server_summary)
    r.add_get("/servers/{id}/console", d.console)
    r.add_post("/servers/{id}/{action}", d.server_action)
    r.add_get("/images", d.images)
    r.add_post("/images", d.upload_image)
    r.add_get("/images/{id}", d.image)
    r.add_get("/flavors", d.flavors)
    r.add_get("/keypairs", d.keypairs)
    r.add_get("/quotas", d.quotas)
    r.add_get("/networks", d.networks)
    r.add_get("/identity", d.identity)
    r.add_get("/healthz", d.healthz)
    if (novnc := novnc_dir()) is not None:  # shared with the console proxy's page
        r.add_static("/static/vendor/novnc/", novnc, follow_symlinks=False)
    r.add_static("/static/", str(files("polyvisor.dashboard") / "static"), follow_symlinks=False)
    return app
