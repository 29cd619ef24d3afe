"""Nova v2.1 server actions (POST /servers/{id}/action): start, stop, reboot, pause,
unpause, suspend, resume, shelve, unshelve, resize, confirmResize, revertResize,
createImage, rebuild, os-resetState (admin), os-getConsoleOutput,
os-getVNCConsole; remote consoles; os-instance-actions."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from polyvisor.compute.v1 import server_actions_pb2 as sa
from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.convert import nova as nc
from polyvisor.osapi.convert.common import iso
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import MV, base_url, body_of, request_id, stubs
from polyvisor.osapi.handlers.nova_create_args import user_metadata
from polyvisor.osapi.handlers.nova_server_groups_of import groups_of
from polyvisor.types.v1 import hypervisor_pb2 as hv
from polyvisor.types.v1 import server_status_pb2 as st

__all__ = ["routes"]

#: Nova action -> (RPC name, request class): the actions that take only the server.
_SIMPLE = {
    "os-start": ("StartServer", sp.StartServerRequest),
    "os-stop": ("StopServer", sp.StopServerRequest),
    "pause": ("PauseServer", sp.PauseServerRequest),
    "unpause": ("UnpauseServer", sp.UnpauseServerRequest),
    "suspend": ("SuspendServer", sp.SuspendServerRequest),
    "resume": ("ResumeServer", sp.ResumeServerRequest),
    "shelve": ("ShelveServer", sp.ShelveServerRequest),
    "unshelve": ("UnshelveServer", sp.UnshelveServerRequest),
    "confirmResize": ("ConfirmResize", sp.ConfirmResizeRequest),
    "revertResize": ("RevertResize", sp.RevertResizeRequest),
}
_RESET_STATES = {"active": st.SERVER_STATE_ACTIVE, "error": st.SERVER_STATE_ERROR}
_CONSOLES = {"novnc": hv.CONSOLE_TYPE_VNC, "xvpvnc": hv.CONSOLE_TYPE_VNC,
             "spice-html5": hv.CONSOLE_TYPE_SPICE, "serial": hv.CONSOLE_TYPE_SERIAL,
             "webmks": hv.CONSOLE_TYPE_WEBMKS}  # fmt: skip


async def action(request: web.Request) -> web.Response:
    body = await body_of(request)
    if len(body) != 1:
        raise ApiError(400, "An action body names exactly one action")
    name, args = next(iter(body.items()))
    args = args if isinstance(args, dict) else {}
    sid = request.match_info["id"]
    s = stubs(request)
    rid = request_id(request)
    call: dict[str, Any] = {"metadata": s.md, "timeout": s.timeout}
    if name in _SIMPLE:
        rpc, cls = _SIMPLE[name]
        await getattr(s.compute, rpc)(cls(server_id=sid, request_id=rid), **call)
        return web.Response(status=204 if name == "confirmResize" else 202)
    if name == "reboot":
        kind = str(args.get("type", "SOFT")).upper()
        if kind not in ("SOFT", "HARD"):
            raise ApiError(400, "reboot type must be SOFT or HARD")
        rt = sp.REBOOT_TYPE_HARD if kind == "HARD" else sp.REBOOT_TYPE_SOFT
        await s.compute.RebootServer(
            sp.RebootServerRequest(server_id=sid, type=rt, request_id=rid), **call
        )
        return web.Response(status=202)
    if name == "resize":
        flavor = str(args.get("flavorRef") or "").rstrip("/").rsplit("/", 1)[-1]
        if not flavor:
            raise ApiError(400, "resize needs a flavorRef")
        await s.compute.ResizeServer(
            sp.ResizeServerRequest(server_id=sid, flavor_id=flavor, request_id=rid), **call
        )
        return web.Response(status=202)
    if name == "createImage":
        image_name = str(args.get("name") or "").strip()
        if not image_name:
            raise ApiError(400, "createImage needs a name")
        props = {str(k): str(v) for k, v in (args.get("metadata") or {}).items()}
        resp = await s.compute.CreateServerImage(
            sp.CreateServerImageRequest(server_id=sid, name=image_name, request_id=rid, properties=props),
            **call,
        )  # fmt: skip
        href = f"{base_url(request)}/image/v2/images/{resp.image_id}"
        out = {"image_id": resp.image_id} if request[MV] >= (2, 45) else None
        if out is None:
            return web.Response(status=202, headers={"Location": href})
        return web.json_response(out, status=202, headers={"Location": href})
    if name == "rebuild":
        image = str(args.get("imageRef") or "").rstrip("/").rsplit("/", 1)[-1]
        if not image:
            raise ApiError(400, "rebuild needs an imageRef")
        req = sp.RebuildServerRequest(server_id=sid, image_id=image, request_id=rid)
        _rebuild_changes(req, args)
        resp = await s.compute.RebuildServer(req, **call)
        out = nc.server_rebuilt(resp.server, base_url(request), request[MV])
        if (groups := await groups_of(request, resp.server)) is not None:
            out["server_groups"] = groups
        return web.json_response({"server": out}, status=202)
    if name == "os-resetState":
        state = _RESET_STATES.get(str(args.get("state")))
        if state is None:
            raise ApiError(400, "os-resetState: state must be 'active' or 'error'")
        await s.compute.ResetServerState(
            sp.ResetServerStateRequest(server_id=sid, state=state, request_id=rid), **call
        )
        return web.Response(status=202)
    if name == "os-getConsoleOutput":
        length = args.get("length")
        try:
            lines = int(length) if length not in (None, "") else 0
        except (TypeError, ValueError):
            raise ApiError(400, "length must be an integer") from None
        resp = await s.compute.GetServerConsoleOutput(
            sp.GetServerConsoleOutputRequest(server_id=sid, lines=max(lines, 0)), **call
        )
        return web.json_response({"output": resp.output})
    if name in ("os-getVNCConsole", "os-getSPICEConsole", "os-getSerialConsole"):
        kind = str(args.get("type") or "novnc")
        url = await _console_url(request, sid, kind)
        return web.json_response({"console": {"type": kind, "url": url}})
    raise ApiError(400, f"There is no such action: {name}")


def _rebuild_changes(req: Any, args: dict[str, Any]) -> None:
    """What a Nova rebuild changes beside the disk, made with it in the api: the name, the
    metadata (replaced, the access addresses kept unless the body sets them too)."""
    if "name" in args:
        if not isinstance(args["name"], str) or not args["name"].strip():
            raise ApiError(400, "name must be a non-empty string")
        req.name = args["name"]
    items: dict[str, str] = {}
    replace = "metadata" in args
    if replace:
        items = user_metadata(args["metadata"], "metadata")
    access = nc.access_ips(args)
    items |= {k: v for k, v in access.items() if v}
    gone = [k for k, v in access.items() if not v]
    if replace or access:
        req.metadata_patch.CopyFrom(sp.MetadataPatch(
            set=items, remove=gone, replace=replace, keep=sorted(nc.ACCESS_IP_KEYS.values())
        ))  # fmt: skip


async def _console_url(request: web.Request, sid: str, kind: str) -> str:
    if kind not in _CONSOLES:
        raise ApiError(400, f"Unsupported console type {kind}")
    s = stubs(request)
    resp = await s.compute.GetServerConsole(
        sp.GetServerConsoleRequest(server_id=sid, type=_CONSOLES[kind]), metadata=s.md,
        timeout=s.timeout,
    )  # fmt: skip
    if kind == "novnc" and resp.page_url:
        return resp.page_url  # Nova's novnc URL is a page a browser opens: the proxy's
    return resp.url or f"vnc://{resp.host}:{resp.port}"


async def remote_console(request: web.Request) -> web.Response:
    if request[MV] < (2, 6):
        raise ApiError(404, "Remote consoles need microversion 2.6 or later")
    body = await body_of(request, "remote_console")
    protocol, kind = str(body.get("protocol") or "vnc"), str(body.get("type") or "novnc")
    url = await _console_url(request, request.match_info["id"], kind)
    return web.json_response({"remote_console": {"protocol": protocol, "type": kind, "url": url}})


#: Polyvisor's action names that Nova names otherwise (a hard reboot is a "reboot" too).
_NOVA_ACTIONS = {"reboot_hard": "reboot", "confirm_resize": "confirmResize",
                 "revert_resize": "revertResize", "create_image": "createImage",
                 "add_port": "attach_interface", "remove_port": "detach_interface"}  # fmt: skip


def _action(a: Any, mv: Any, events: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": _NOVA_ACTIONS.get(a.action, a.action),
        "instance_uuid": a.server_id,
        "message": a.fault.message if a.HasField("fault") and a.fault.message else None,
        "project_id": a.project_id,
        "request_id": a.request_id,
        "start_time": iso(a.start_time),
        "user_id": a.user_id,
    }
    if mv >= (2, 58):
        out["updated_at"] = iso(a.finish_time) or iso(a.start_time)
    if events:
        result = {sa.SERVER_ACTION_RESULT_SUCCESS: "Success",
                  sa.SERVER_ACTION_RESULT_ERROR: "Error"}.get(a.result)  # fmt: skip
        out["events"] = [{"event": f"compute_{a.action}", "start_time": iso(a.start_time),
                          "finish_time": iso(a.finish_time), "result": result,
                          "traceback": None}]  # fmt: skip
    return out


async def list_actions(request: web.Request) -> web.Response:
    s = stubs(request)
    resp = await s.compute.ListServerActions(
        sa.ListServerActionsRequest(server_id=request.match_info["id"], page_size=1000),
        metadata=s.md, timeout=s.timeout,
    )  # fmt: skip
    return web.json_response({"instanceActions": [_action(a, request[MV]) for a in resp.actions]})


async def show_action(request: web.Request) -> web.Response:
    s = stubs(request)
    resp = await s.compute.GetServerAction(
        sa.GetServerActionRequest(server_id=request.match_info["id"],
                                  request_id=request.match_info["request_id"]),
        metadata=s.md, timeout=s.timeout,
    )  # fmt: skip
    return web.json_response({"instanceAction": _action(resp.action, request[MV], events=True)})


def routes(p: str) -> list[web.RouteDef]:
    one = f"{p}/servers/{{id}}"
    return [
        web.post(f"{one}/action", action),
        web.post(f"{one}/remote-consoles", remote_console),
        web.get(f"{one}/os-instance-actions", list_actions),
        web.get(f"{one}/os-instance-actions/{{request_id}}", show_action),
    ]
