"""The metadata service guests reach at http://169.254.169.254 (OpenStack's layout).

    service = MetadataService(resolve)              # resolve(network_id, ip) -> InstanceMeta
    await service.serve(network_id, namespace)      # listen inside the network's namespace
    await service.stop(network_id) / close()

The caller is identified by the network its request arrived on (each network's DHCP
namespace has its own listening socket) and by its source address, which the firewall's
anti-spoofing ties to the port's MAC on that network: never by anything the guest says (no
header, no path, no instance id in the request is believed).

The listening socket is made inside the namespace by a short-lived thread that enters it
(``setns`` changes only the calling thread) and leaves again; the agent's own event loop
then serves it with aiohttp, the project's one HTTP framework.

Where the answers come from: ``resolve`` gives the instance's meta data (its uuid, name,
hostname, keys, user data: what the api put in the instance's spawn command, kept by the
agent beside the instance) and the binding specs of its ports (network_data.json). No
database, no extra credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from polyvisor.agent_kvm.net.shell import NetError
from polyvisor.common.logging import get_logger

__all__ = ["METADATA_IP", "InstanceMeta", "MetadataService", "meta_data_json"]

log = get_logger(__name__)

METADATA_IP = "169.254.169.254"
_VERSIONS = ("2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30", "latest")


@dataclass(frozen=True, slots=True)
class InstanceMeta:
    uuid: str
    name: str
    hostname: str
    public_keys: tuple[str, ...] = ()
    user_data: bytes = b""
    project_id: str = ""
    availability_zone: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)
    network_data: Mapping[str, Any] = field(default_factory=dict)


def meta_data_json(m: InstanceMeta) -> dict[str, Any]:
    keys = [k for k in m.public_keys if k.strip()]
    return {
        "uuid": m.uuid,
        "name": m.name,
        "hostname": m.hostname,
        "launch_index": 0,
        "availability_zone": m.availability_zone,
        "project_id": m.project_id,
        "meta": dict(m.meta),
        "public_keys": {f"key{i}": k for i, k in enumerate(keys)},
        "keys": [{"name": f"key{i}", "type": "ssh", "data": k} for i, k in enumerate(keys)],
        "devices": [],
    }


Resolve = Callable[[str, str], Awaitable[InstanceMeta | None]]


_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    """setns(2) for network namespaces (os.setns is Python 3.12+)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _listen_in(namespace: str, port: int) -> socket.socket:
    """A listening TCP socket on METADATA_IP:port inside ``namespace`` (run in its own thread)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    except OSError:
        os.close(own)
        raise
    try:
        _setns(target)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((METADATA_IP, port))
            sock.listen(128)
            sock.setblocking(False)
            return sock
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


class MetadataService:
    def __init__(self, resolve: Resolve, port: int = 80) -> None:
        self._resolve = resolve
        self._port = port
        self._runners: dict[str, web.AppRunner] = {}

    def _app(self, network_id: str) -> web.Application:
        app = web.Application()

        async def who(request: web.Request) -> InstanceMeta:
            peer = request.remote or ""
            meta = await self._resolve(network_id, peer)
            if meta is None:
                log.info("metadata request from an unknown address", network_id=network_id, ip=peer)
                raise web.HTTPNotFound(text="no instance has this address on this network\n")
            return meta

        async def versions(request: web.Request) -> web.Response:
            await who(request)
            return web.Response(text="\n".join(_VERSIONS) + "\n")

        async def listing(request: web.Request) -> web.Response:
            meta = await who(request)
            names = ["meta_data.json", "network_data.json", "vendor_data.json"]
            if meta.user_data:
                names.append("user_data")
            return web.Response(text="\n".join(names) + "\n")

        async def meta_data(request: web.Request) -> web.Response:
            return web.json_response(meta_data_json(await who(request)))

        async def net_data(request: web.Request) -> web.Response:
            return web.json_response(dict((await who(request)).network_data))

        async def vendor_data(request: web.Request) -> web.Response:
            await who(request)
            return web.json_response({})

        async def user_data(request: web.Request) -> web.Response:
            meta = await who(request)
            if not meta.user_data:
                raise web.HTTPNotFound(text="no user data\n")
            return web.Response(body=meta.user_data, content_type="application/octet-stream")

        for base in ("/openstack", "/openstack/"):
            app.router.add_get(base, versions)
        for v in _VERSIONS:
            root = f"/openstack/{v}"
            app.router.add_get(root, listing)
            app.router.add_get(root + "/", listing)
            app.router.add_get(root + "/meta_data.json", meta_data)
            app.router.add_get(root + "/network_data.json", net_data)
            app.router.add_get(root + "/vendor_data.json", vendor_data)
            app.router.add_get(root + "/user_data", user_data)
        return app

    async def serve(self, network_id: str, namespace: str) -> None:
        """Listen in ``namespace`` for ``network_id`` (idempotent)."""
        if network_id in self._runners:
            return
        loop = asyncio.get_running_loop()
        try:
            # a fresh thread: a thread that entered a namespace never serves anything else
            sock = await loop.run_in_executor(
                None, _in_own_thread, _listen_in, namespace, self._port
            )
        except OSError as exc:
            raise NetError(f"metadata service in namespace {namespace}: {exc}") from exc
        runner = web.AppRunner(self._app(network_id), access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runners[network_id] = runner

    async def stop(self, network_id: str) -> None:
        runner = self._runners.pop(network_id, None)
        if runner is not None:
            await runner.cleanup()

    async def close(self) -> None:
        for network_id in list(self._runners):
            with contextlib.suppress(Exception):
                await self.stop(network_id)


def _in_own_thread(fn: Callable[..., socket.socket], *args: Any) -> socket.socket:
    import threading

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["ok"] = fn(*args)
        except BaseException as exc:  # handed to the caller
            box["err"] = exc

    t = threading.Thread(target=target, name="netns-socket", daemon=True)
    t.start()
    t.join()
    if "err" in box:
        raise box["err"]
    return box["ok"]
