"""A small in-process Polyvisor for the client's tests: real gRPC servers (grpc's threaded
server) implementing the generated ComputeService, ImageService and IdentityService servicers
over in-memory state.

It checks the bearer token on every call, records what it received (requests, metadata,
upload chunk sizes), sends errors the way the real services do (status, message, JSON details
in the `polyvisor-error-details` trailing metadata, `x-request-id`), and moves servers through
their states deterministically: each server has a queue of pending steps, applied one per
streamed watch update, or one per GetServer when `advance_on_get` is set. Nothing depends on
wall time.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc

from polyvisor.compute.v1 import (
    compute_service_pb2_grpc,
    flavors_pb2,
    hypervisors_pb2,
    keypairs_pb2,
    quotas_pb2,
    server_actions_pb2,
    servers_pb2,
)
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2, identity_service_pb2_grpc
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
from polyvisor.types.v1 import disk_pb2, fault_pb2, hypervisor_pb2, resources_pb2, server_status_pb2

S = server_status_pb2
MiB = 1024 * 1024

ADMIN_USER = "admin"
ADMIN_PASSWORD = "s3cret"
PROJECT = "demo"
API_KEY = "pvk_test_key_123"


class Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


def _abort(context: grpc.ServicerContext, err: Abort) -> None:
    trailing = []
    if err.details:
        trailing.append(("polyvisor-error-details", json.dumps(err.details)))
    trailing.append(("x-request-id", "req-fake-1"))
    context.set_trailing_metadata(trailing)
    context.abort(err.code, err.message)


def _now(msg: Any) -> None:
    msg.GetCurrentTime()


NO_VALID_HOST_EXPLANATION = {
    "total_hosts": 3,
    "summary": "3 hosts: 1 wrong hypervisor_type, 2 no single ESXi host has 65536 MB",
    "filters": [
        {"filter": "ImagePropertiesFilter", "hosts_before": 3, "hosts_removed": 1,
         "examples": [{"host": "kvm-1", "reason": "image pinned to vmware"}]},
        {"filter": "EsxiHostFitFilter", "hosts_before": 2, "hosts_removed": 2,
         "examples": [{"host": "vmware:DC0_C0", "reason": "largest ESXi host has 32768 MB free"}]},
    ],
}  # fmt: skip


@dataclass
class FakeServer:
    server: servers_pb2.Server
    pending: list[servers_pb2.Server] = field(default_factory=list)


class FakeCloud:
    """The state and the knobs tests turn."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tokens: dict[str, float] = {}
        self.token_ttl = 3600.0
        self.auth_count = 0
        self.metadata_seen: list[dict[str, str]] = []
        self.calls: list[tuple[str, Any]] = []
        self.watch_enabled = True
        self.advance_on_get = False
        self.page_size = 100
        self.revision = itertools.count(1)
        self.servers: dict[str, FakeServer] = {}
        self.flavors: dict[str, flavors_pb2.Flavor] = {}
        self.keypairs: dict[str, keypairs_pb2.Keypair] = {}
        self.images: dict[str, images_pb2.Image] = {}
        self.image_data: dict[str, bytes] = {}
        self.upload_chunks: list[int] = []
        self.quota = quotas_pb2.Quota(
            project_id="p-demo",
            limits=quotas_pb2.QuotaLimits(instances=10, vcpus=20, ram_mb=51200),
        )
        self.hypervisors = self._seed_hypervisors()
        for fid, name, vcpus, ram, disk in (("1", "m1.small", 1, 512, 1), ("2", "m1.large", 4, 8192, 20),
                                            ("3", "m1.huge", 16, 65536, 40)):  # fmt: skip
            self.flavors[fid] = flavors_pb2.Flavor(
                id=fid, name=name, vcpus=vcpus, ram_mb=ram, disk_gb=disk, is_public=True
            )

    # ------------------------------------------------------------------ helpers

    def _seed_hypervisors(self) -> dict[str, hypervisors_pb2.Hypervisor]:
        kvm = hypervisors_pb2.Hypervisor(
            id="kvm-1", hostname="kvm-1", hypervisor_type=hypervisor_pb2.HYPERVISOR_TYPE_KVM,
            state=hypervisor_pb2.HOST_STATE_UP, status=hypervisor_pb2.HOST_STATUS_ENABLED,
            total=resources_pb2.Resources(vcpus=8, memory_mb=16384, disk_gb=100),
            used=resources_pb2.Resources(vcpus=1, memory_mb=512, disk_gb=1),
            features=hypervisor_pb2.HypervisorFeatures(
                console_types=[hypervisor_pb2.CONSOLE_TYPE_VNC],
                vnc_port_range=hypervisor_pb2.PortRange(min=5900, max=6000),
            ),
            supported_instances=[hypervisor_pb2.SupportedInstance(
                architecture="x86_64", hypervisor_type=hypervisor_pb2.HYPERVISOR_TYPE_KVM, vm_mode="hvm")],
        )  # fmt: skip
        vmw = hypervisors_pb2.Hypervisor(
            id="vmware:DC0_C0", hostname="DC0_C0", hypervisor_type=hypervisor_pb2.HYPERVISOR_TYPE_VMWARE,
            state=hypervisor_pb2.HOST_STATE_UP, status=hypervisor_pb2.HOST_STATUS_ENABLED,
            cluster_name="DC0_C0", drs_enabled=True,
            total=resources_pb2.Resources(vcpus=24, memory_mb=98304, disk_gb=1000),
            esxi_hosts=[
                hypervisor_pb2.EsxiHost(name=f"DC0_C0_H{i}", moref=f"host-{20 + i}", memory_mb=32768,
                                        connection_state=hypervisor_pb2.ESXI_CONNECTION_STATE_CONNECTED,
                                        cpu_cores=4, cpu_threads=8, cpu_mhz=9000)
                for i in range(2)
            ],
        )  # fmt: skip
        return {h.id: h for h in (kvm, vmw)}

    def issue_token(self) -> identity_requests_pb2.AuthenticateResponse:
        with self.lock:
            self.auth_count += 1
            token = f"tok-{self.auth_count}-{uuid.uuid4().hex[:6]}"
            expires = time.time() + self.token_ttl
            self.tokens[token] = expires
        resp = identity_requests_pb2.AuthenticateResponse(
            token=token,
            user=identity_pb2.User(id="u-admin", name=ADMIN_USER),
            project=identity_pb2.Project(id="p-demo", name=PROJECT),
            roles=[identity_pb2.ROLE_ADMIN],
        )
        resp.expire_time.FromSeconds(int(expires))
        return resp

    def revoke_all(self) -> None:
        with self.lock:
            self.tokens.clear()

    def check(self, context: grpc.ServicerContext, method: str, request: Any) -> None:
        md = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        with self.lock:
            self.metadata_seen.append(md)
            self.calls.append((method, request))
            auth = md.get("authorization", "")
            scheme, _, token = auth.partition(" ")
            if scheme != "Bearer" or self.tokens.get(token, 0) < time.time():
                raise Abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid token")

    def bump(self, server: servers_pb2.Server) -> None:
        server.revision = next(self.revision)
        _now(server.update_time)

    def step(self, sid: str) -> servers_pb2.Server | None:
        """Apply the next pending change of a server; returns it (None when nothing left)."""
        with self.lock:
            fs = self.servers.get(sid)
            if fs is None or not fs.pending:
                return None
            nxt = fs.pending.pop(0)
            fs.server.MergeFrom(nxt)
            fs.server.state = nxt.state
            fs.server.task = nxt.task
            self.bump(fs.server)
            return servers_pb2.Server.FromString(fs.server.SerializeToString())

    def get_server(self, sid: str) -> FakeServer:
        fs = self.servers.get(sid)
        if fs is None or fs.server.state == S.SERVER_STATE_DELETED:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"server {sid} not found", {"server_id": sid})
        return fs


def _step(state: int, task: int = S.SERVER_TASK_NONE, **fields: Any) -> servers_pb2.Server:
    return servers_pb2.Server(state=state, task=task, **fields)


def _handled(fn: Any) -> Any:
    """Turn Abort into a proper gRPC error (works for unary and streaming handlers)."""
    import functools
    import inspect

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from fn(self, request, context)
            except Abort as e:
                _abort(context, e)

        return gen

    @functools.wraps(fn)
    def call(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Abort as e:
            _abort(context, e)

    return call


class FakeIdentity(identity_service_pb2_grpc.IdentityServiceServicer):
    def __init__(self, cloud: FakeCloud) -> None:
        self.c = cloud

    @_handled
    def Authenticate(self, request: Any, context: Any) -> Any:
        kind = request.WhichOneof("credentials")
        if kind == "password":
            p = request.password
            if (p.username, p.password) != (ADMIN_USER, ADMIN_PASSWORD) or p.project not in (
                "",
                PROJECT,
            ):
                raise Abort(
                    grpc.StatusCode.UNAUTHENTICATED, "invalid user name, password or project"
                )
        elif kind == "api_key":
            if request.api_key.secret != API_KEY:
                raise Abort(grpc.StatusCode.UNAUTHENTICATED, "invalid API key")
        else:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "credentials are required")
        return self.c.issue_token()


class FakeCompute(compute_service_pb2_grpc.ComputeServiceServicer):
    def __init__(self, cloud: FakeCloud) -> None:
        self.c = cloud

    # servers
    @_handled
    def CreateServer(self, request: Any, context: Any) -> Any:
        self.c.check(context, "CreateServer", request)
        spec = request.server
        if not spec.name:
            raise Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "server name is required",
                {"field": "server.name"},
            )
        flavor = self.c.flavors.get(spec.flavor_id)
        if flavor is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"flavor {spec.flavor_id} not found")
        if spec.image_id not in self.c.images:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"image {spec.image_id} not found")
        if spec.scheduler_hints.get("refuse") == "rpc":
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION, "no valid host",
                        {"no_valid_host": NO_VALID_HOST_EXPLANATION})  # fmt: skip
        server = servers_pb2.Server(
            id=str(uuid.uuid4()), name=spec.name, project_id="p-demo", user_id="u-admin",
            image_id=spec.image_id, key_name=spec.key_name, availability_zone=spec.availability_zone,
            has_user_data=bool(spec.user_data), state=S.SERVER_STATE_BUILDING, task=S.SERVER_TASK_SCHEDULING,
            request_id=request.request_id, metadata=dict(spec.metadata), attempts=1,
            flavor=servers_pb2.ServerFlavor(id=flavor.id, name=flavor.name, resources=resources_pb2.Resources(
                vcpus=flavor.vcpus, memory_mb=flavor.ram_mb, disk_gb=flavor.disk_gb)),
        )  # fmt: skip
        _now(server.create_time)
        fs = FakeServer(server)
        htype = hypervisor_pb2.HYPERVISOR_TYPE_VMWARE if spec.scheduler_hints.get(
            "hypervisor_type") == "vmware" else hypervisor_pb2.HYPERVISOR_TYPE_KVM  # fmt: skip
        if flavor.ram_mb > 32768:
            server.state, server.task = S.SERVER_STATE_ERROR, S.SERVER_TASK_NONE
            server.fault.code = fault_pb2.FAULT_CODE_NO_VALID_HOST
            server.fault.message = "No valid host was found"
            server.fault.no_valid_host.total_hosts = 3
            server.fault.no_valid_host.summary = NO_VALID_HOST_EXPLANATION["summary"]
            for f in NO_VALID_HOST_EXPLANATION["filters"]:
                server.fault.no_valid_host.filters.add(
                    filter=f["filter"], hosts_before=f["hosts_before"], hosts_removed=f["hosts_removed"],
                    examples=[fault_pb2.HostRejection(**e) for e in f["examples"]],
                )  # fmt: skip
        elif self.c.images[spec.image_id].name == "broken":
            fs.pending = [
                _step(S.SERVER_STATE_BUILDING, S.SERVER_TASK_SPAWNING, host="kvm-1"),
                _step(S.SERVER_STATE_ERROR, fault=fault_pb2.Fault(
                    code=fault_pb2.FAULT_CODE_SPAWN_FAILED, message="disk is unreadable", host="kvm-1")),
            ]  # fmt: skip
        else:
            host = "vmware:DC0_C0" if htype == hypervisor_pb2.HYPERVISOR_TYPE_VMWARE else "kvm-1"
            fs.pending = [
                _step(S.SERVER_STATE_BUILDING, S.SERVER_TASK_SPAWNING, host=host, hypervisor_type=htype),
                _step(S.SERVER_STATE_ACTIVE, power_state=hypervisor_pb2.POWER_STATE_RUNNING,
                      console=hypervisor_pb2.ConsoleInfo(type=hypervisor_pb2.CONSOLE_TYPE_VNC,
                                                         host="127.0.0.1", port=5901)),
            ]  # fmt: skip
        with self.c.lock:
            self.c.bump(server)
            self.c.servers[server.id] = fs
        return servers_pb2.CreateServerResponse(servers=[server])

    @_handled
    def GetServer(self, request: Any, context: Any) -> Any:
        self.c.check(context, "GetServer", request)
        if not request.server_id:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "server_id is required")
        fs = self.c.get_server(request.server_id)
        if self.c.advance_on_get:
            self.c.step(request.server_id)
            fs = self.c.servers[request.server_id]
            if fs.server.state == S.SERVER_STATE_DELETED:
                raise Abort(grpc.StatusCode.NOT_FOUND, f"server {request.server_id} not found")
        return servers_pb2.GetServerResponse(server=fs.server)

    @_handled
    def ListServers(self, request: Any, context: Any) -> Any:
        self.c.check(context, "ListServers", request)
        with self.c.lock:
            items = [fs.server for fs in self.c.servers.values()
                     if (request.show_deleted or fs.server.state != S.SERVER_STATE_DELETED)
                     and request.name in fs.server.name
                     and (not request.state or fs.server.state == request.state)]  # fmt: skip
        start = int(request.page_token or 0)
        size = min(request.page_size or self.c.page_size, self.c.page_size)
        page = items[start : start + size]
        token = str(start + size) if start + size < len(items) else ""
        return servers_pb2.ListServersResponse(servers=page, next_page_token=token)

    def _action(self, context: Any, name: str, request: Any, now: Any, pending: list[Any]) -> Any:
        self.c.check(context, name, request)
        fs = self.c.get_server(request.server_id)
        with self.c.lock:
            fs.server.state, fs.server.task = now
            fs.pending = pending
            self.c.bump(fs.server)
            return fs.server

    @_handled
    def StartServer(self, request: Any, context: Any) -> Any:
        s = self._action(context, "StartServer", request, (S.SERVER_STATE_SHUTOFF, S.SERVER_TASK_POWERING_ON),
                         [_step(S.SERVER_STATE_ACTIVE, power_state=hypervisor_pb2.POWER_STATE_RUNNING)])  # fmt: skip
        return servers_pb2.StartServerResponse(server=s)

    @_handled
    def StopServer(self, request: Any, context: Any) -> Any:
        s = self._action(context, "StopServer", request, (S.SERVER_STATE_ACTIVE, S.SERVER_TASK_POWERING_OFF),
                         [_step(S.SERVER_STATE_SHUTOFF, power_state=hypervisor_pb2.POWER_STATE_SHUTDOWN)])  # fmt: skip
        return servers_pb2.StopServerResponse(server=s)

    @_handled
    def RebootServer(self, request: Any, context: Any) -> Any:
        task = (
            S.SERVER_TASK_REBOOTING_HARD
            if request.type == servers_pb2.REBOOT_TYPE_HARD
            else S.SERVER_TASK_REBOOTING
        )
        s = self._action(context, "RebootServer", request, (S.SERVER_STATE_REBOOTING, task),
                         [_step(S.SERVER_STATE_ACTIVE)])  # fmt: skip
        return servers_pb2.RebootServerResponse(server=s)

    @_handled
    def PauseServer(self, request: Any, context: Any) -> Any:
        s = self._action(context, "PauseServer", request, (S.SERVER_STATE_ACTIVE, S.SERVER_TASK_PAUSING),
                         [_step(S.SERVER_STATE_PAUSED, power_state=hypervisor_pb2.POWER_STATE_PAUSED)])  # fmt: skip
        return servers_pb2.PauseServerResponse(server=s)

    @_handled
    def UnpauseServer(self, request: Any, context: Any) -> Any:
        s = self._action(context, "UnpauseServer", request, (S.SERVER_STATE_PAUSED, S.SERVER_TASK_UNPAUSING),
                         [_step(S.SERVER_STATE_ACTIVE, power_state=hypervisor_pb2.POWER_STATE_RUNNING)])  # fmt: skip
        return servers_pb2.UnpauseServerResponse(server=s)

    @_handled
    def SuspendServer(self, request: Any, context: Any) -> Any:
        # Like a host without the capability: the action ends back in ACTIVE with a fault.
        fault = fault_pb2.Fault(message="host h1 cannot suspend servers")
        s = self._action(context, "SuspendServer", request, (S.SERVER_STATE_ACTIVE, S.SERVER_TASK_SUSPENDING),
                         [_step(S.SERVER_STATE_ACTIVE, fault=fault)])  # fmt: skip
        return servers_pb2.SuspendServerResponse(server=s)

    @_handled
    def ResizeServer(self, request: Any, context: Any) -> Any:
        fs = self.c.get_server(request.server_id)
        flavor = self.c.flavors.get(request.flavor_id)
        if flavor is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"flavor {request.flavor_id} not found")
        if flavor.vcpus > 8:  # more than any host has: the scheduler's explanation
            fault = fault_pb2.Fault(
                code=fault_pb2.FAULT_CODE_NO_VALID_HOST,
                message=f"no host fits flavor {flavor.name}: 1 hosts: 1 not enough VCPU",
            )
            after = [_step(S.SERVER_STATE_ACTIVE, fault=fault)]
        else:
            new = servers_pb2.ServerFlavor(
                id=flavor.id,
                name=flavor.name,
                resources=resources_pb2.Resources(
                    vcpus=flavor.vcpus, memory_mb=flavor.ram_mb, disk_gb=flavor.disk_gb
                ),
            )
            resize = servers_pb2.ServerResize(
                old_flavor=fs.server.flavor, source_host=fs.server.host, dest_host=fs.server.host
            )
            after = [
                _step(S.SERVER_STATE_ACTIVE, S.SERVER_TASK_RESIZE_MIGRATING),
                _step(S.SERVER_STATE_VERIFY_RESIZE, flavor=new, resize=resize),
            ]
        s = self._action(context, "ResizeServer", request,
                         (S.SERVER_STATE_ACTIVE, S.SERVER_TASK_RESIZE_PREP), after)  # fmt: skip
        return servers_pb2.ResizeServerResponse(server=s)

    @_handled
    def MigrateServer(self, request: Any, context: Any) -> Any:
        fs = self.c.get_server(request.server_id)
        if request.live:
            self.c.check(context, "MigrateServer", request)
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION, "live migration is not available")
        resize = servers_pb2.ServerResize(
            old_flavor=fs.server.flavor,
            source_host=fs.server.host,
            dest_host=request.host or "host-2",
        )
        after = [
            _step(S.SERVER_STATE_ACTIVE, S.SERVER_TASK_RESIZE_MIGRATING),
            _step(S.SERVER_STATE_VERIFY_RESIZE, resize=resize),
        ]
        s = self._action(context, "MigrateServer", request,
                         (S.SERVER_STATE_ACTIVE, S.SERVER_TASK_RESIZE_PREP), after)  # fmt: skip
        return servers_pb2.MigrateServerResponse(server=s)

    @_handled
    def ConfirmResize(self, request: Any, context: Any) -> Any:
        s = self._action(context, "ConfirmResize", request,
                         (S.SERVER_STATE_VERIFY_RESIZE, S.SERVER_TASK_RESIZE_CONFIRMING),
                         [_step(S.SERVER_STATE_ACTIVE)])  # fmt: skip
        return servers_pb2.ConfirmResizeResponse(server=s)

    @_handled
    def RevertResize(self, request: Any, context: Any) -> Any:
        s = self._action(context, "RevertResize", request,
                         (S.SERVER_STATE_VERIFY_RESIZE, S.SERVER_TASK_RESIZE_REVERTING),
                         [_step(S.SERVER_STATE_ACTIVE)])  # fmt: skip
        return servers_pb2.RevertResizeResponse(server=s)

    @_handled
    def AddServerTag(self, request: Any, context: Any) -> Any:
        self.c.check(context, "AddServerTag", request)
        fs = self.c.get_server(request.server_id)
        with self.c.lock:
            if request.tag not in fs.server.tags:
                fs.server.tags.append(request.tag)
            return servers_pb2.AddServerTagResponse(server=fs.server)

    @_handled
    def UpdateServer(self, request: Any, context: Any) -> Any:
        self.c.check(context, "UpdateServer", request)
        fs = self.c.get_server(request.server.id)
        with self.c.lock:
            for path in request.update_mask.paths:
                if path == "name":
                    fs.server.name = request.server.name
                elif path == "metadata":  # replaced as a whole, as the api does
                    fs.server.ClearField("metadata")
                    fs.server.metadata.update(request.server.metadata)
            patch = request.metadata_patch  # applied to the metadata as it stands, as the api
            for key in patch.remove:
                fs.server.metadata.pop(key, None)
            fs.server.metadata.update(patch.set)
            return servers_pb2.UpdateServerResponse(server=fs.server)

    @_handled
    def RemoveServerTag(self, request: Any, context: Any) -> Any:
        self.c.check(context, "RemoveServerTag", request)
        fs = self.c.get_server(request.server_id)
        with self.c.lock:
            if request.tag not in fs.server.tags:
                raise Abort(grpc.StatusCode.NOT_FOUND, f"no tag {request.tag}", {})
            fs.server.tags.remove(request.tag)
            return servers_pb2.RemoveServerTagResponse(server=fs.server)

    @_handled
    def ListServerActions(self, request: Any, context: Any) -> Any:
        self.c.check(context, "ListServerActions", request)
        fs = self.c.get_server(request.server_id)
        done = server_actions_pb2.SERVER_ACTION_RESULT_SUCCESS
        out = [
            server_actions_pb2.ServerAction(
                request_id=f"req-{i}", server_id=fs.server.id, action=m, result=done,
                user_id=fs.server.user_id,
            )
            for i, (m, _) in enumerate(self.c.calls)
            if m.endswith("Server") and m not in ("GetServer", "UpdateServer")
        ]  # fmt: skip
        return server_actions_pb2.ListServerActionsResponse(actions=out[::-1])

    @_handled
    def DeleteServer(self, request: Any, context: Any) -> Any:
        s = self._action(context, "DeleteServer", request, (S.SERVER_STATE_DELETING, S.SERVER_TASK_DELETING),
                         [_step(S.SERVER_STATE_DELETED)])  # fmt: skip
        return servers_pb2.DeleteServerResponse(server=s)

    @_handled
    def GetServerConsoleOutput(self, request: Any, context: Any) -> Any:
        self.c.check(context, "GetServerConsoleOutput", request)
        fs = self.c.get_server(request.server_id)
        text = "".join(f"{fs.server.name} boot line {i}\n" for i in range(1, 11))
        keep = text.splitlines(keepends=True)[-(request.lines or 10) :]
        return servers_pb2.GetServerConsoleOutputResponse(output="".join(keep))

    @_handled
    def GetServerConsole(self, request: Any, context: Any) -> Any:
        self.c.check(context, "GetServerConsole", request)
        fs = self.c.get_server(request.server_id)
        if fs.server.state != S.SERVER_STATE_ACTIVE:
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION, "server is not ACTIVE")
        resp = servers_pb2.GetServerConsoleResponse(
            type=request.type or hypervisor_pb2.CONSOLE_TYPE_VNC,
            host="127.0.0.1",
            port=5901,
            token="ctok",
        )
        return resp

    @_handled
    def WatchServers(self, request: Any, context: Any) -> Iterator[Any]:
        self.c.check(context, "WatchServers", request)
        if not self.c.watch_enabled:
            raise Abort(grpc.StatusCode.UNIMPLEMENTED, "watch is not implemented here")
        with self.c.lock:
            ids = [
                sid for sid in self.c.servers if not request.server_id or sid == request.server_id
            ]
            replay = [
                self.c.servers[sid].server
                for sid in ids
                if self.c.servers[sid].server.state != S.SERVER_STATE_DELETED
            ]
        for s in replay:
            yield servers_pb2.WatchServersResponse(
                revision=s.revision, type=servers_pb2.SERVER_CHANGE_TYPE_CREATED, server=s
            )
        yield servers_pb2.WatchServersResponse(type=servers_pb2.SERVER_CHANGE_TYPE_SYNCED)
        for sid in ids:
            while (s := self.c.step(sid)) is not None:
                kind = (servers_pb2.SERVER_CHANGE_TYPE_DELETED if s.state == S.SERVER_STATE_DELETED
                        else servers_pb2.SERVER_CHANGE_TYPE_UPDATED)  # fmt: skip
                yield servers_pb2.WatchServersResponse(revision=s.revision, type=kind, server=s)

    # flavors
    @_handled
    def CreateFlavor(self, request: Any, context: Any) -> Any:
        self.c.check(context, "CreateFlavor", request)
        f = flavors_pb2.Flavor()
        f.CopyFrom(request.flavor)
        if f.vcpus <= 0 or f.ram_mb <= 0:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "vcpus and ram_mb must be positive",
                        {"field": "flavor.vcpus"})  # fmt: skip
        if any(x.name == f.name for x in self.c.flavors.values()):
            raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"flavor {f.name} exists")
        f.id = f.id or str(uuid.uuid4())
        self.c.flavors[f.id] = f
        return flavors_pb2.CreateFlavorResponse(flavor=f)

    @_handled
    def GetFlavor(self, request: Any, context: Any) -> Any:
        self.c.check(context, "GetFlavor", request)
        f = self.c.flavors.get(request.flavor_id)
        if f is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"flavor {request.flavor_id} not found")
        return flavors_pb2.GetFlavorResponse(flavor=f)

    @_handled
    def ListFlavors(self, request: Any, context: Any) -> Any:
        self.c.check(context, "ListFlavors", request)
        items = [f for f in self.c.flavors.values() if f.vcpus >= request.min_vcpus]
        return flavors_pb2.ListFlavorsResponse(flavors=items)

    @_handled
    def DeleteFlavor(self, request: Any, context: Any) -> Any:
        self.c.check(context, "DeleteFlavor", request)
        if self.c.flavors.pop(request.flavor_id, None) is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"flavor {request.flavor_id} not found")
        return flavors_pb2.DeleteFlavorResponse()

    # keypairs
    @_handled
    def CreateKeypair(self, request: Any, context: Any) -> Any:
        self.c.check(context, "CreateKeypair", request)
        if request.name in self.c.keypairs:
            raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"keypair {request.name} exists")
        kp = keypairs_pb2.Keypair(name=request.name, public_key="ssh-ed25519 AAAAfake test",
                                  fingerprint="SHA256:fake", type=keypairs_pb2.KEYPAIR_TYPE_SSH)  # fmt: skip
        self.c.keypairs[kp.name] = kp
        private = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n"
        return keypairs_pb2.CreateKeypairResponse(keypair=kp, private_key=private)

    @_handled
    def ImportKeypair(self, request: Any, context: Any) -> Any:
        self.c.check(context, "ImportKeypair", request)
        if not request.public_key.startswith("ssh-"):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "not an OpenSSH public key")
        kp = keypairs_pb2.Keypair(name=request.name, public_key=request.public_key,
                                  fingerprint="SHA256:imported", type=keypairs_pb2.KEYPAIR_TYPE_SSH)  # fmt: skip
        self.c.keypairs[kp.name] = kp
        return keypairs_pb2.ImportKeypairResponse(keypair=kp)

    @_handled
    def GetKeypair(self, request: Any, context: Any) -> Any:
        self.c.check(context, "GetKeypair", request)
        if request.name not in self.c.keypairs:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"keypair {request.name} not found")
        return keypairs_pb2.GetKeypairResponse(keypair=self.c.keypairs[request.name])

    @_handled
    def ListKeypairs(self, request: Any, context: Any) -> Any:
        self.c.check(context, "ListKeypairs", request)
        return keypairs_pb2.ListKeypairsResponse(keypairs=list(self.c.keypairs.values()))

    @_handled
    def DeleteKeypair(self, request: Any, context: Any) -> Any:
        self.c.check(context, "DeleteKeypair", request)
        if self.c.keypairs.pop(request.name, None) is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"keypair {request.name} not found")
        return keypairs_pb2.DeleteKeypairResponse()

    # hypervisors
    @_handled
    def ListHypervisors(self, request: Any, context: Any) -> Any:
        self.c.check(context, "ListHypervisors", request)
        items = [h for h in self.c.hypervisors.values()
                 if not request.hypervisor_type or h.hypervisor_type == request.hypervisor_type]  # fmt: skip
        return hypervisors_pb2.ListHypervisorsResponse(hypervisors=items)

    @_handled
    def GetHypervisor(self, request: Any, context: Any) -> Any:
        self.c.check(context, "GetHypervisor", request)
        h = self.c.hypervisors.get(request.hypervisor_id)
        if h is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"hypervisor {request.hypervisor_id} not found")
        return hypervisors_pb2.GetHypervisorResponse(hypervisor=h)

    # quotas
    @_handled
    def GetQuota(self, request: Any, context: Any) -> Any:
        self.c.check(context, "GetQuota", request)
        q = quotas_pb2.Quota()
        q.CopyFrom(self.c.quota)
        with self.c.lock:
            live = [
                fs.server
                for fs in self.c.servers.values()
                if fs.server.state != S.SERVER_STATE_DELETED
            ]
        q.usage.instances = len(live)
        q.usage.vcpus = sum(s.flavor.resources.vcpus for s in live)
        q.usage.ram_mb = sum(s.flavor.resources.memory_mb for s in live)
        return quotas_pb2.GetQuotaResponse(quota=q)

    @_handled
    def UpdateQuota(self, request: Any, context: Any) -> Any:
        self.c.check(context, "UpdateQuota", request)
        if not request.project_id:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "project_id is required")
        paths = list(request.update_mask.paths) or ["instances", "vcpus", "ram_mb"]
        for p in paths:
            setattr(self.c.quota.limits, p, getattr(request.limits, p))
        return quotas_pb2.UpdateQuotaResponse(quota=self.c.quota)


class FakeImages(image_service_pb2_grpc.ImageServiceServicer):
    def __init__(self, cloud: FakeCloud) -> None:
        self.c = cloud

    def _get(self, image_id: str) -> images_pb2.Image:
        img = self.c.images.get(image_id)
        if img is None:
            raise Abort(
                grpc.StatusCode.NOT_FOUND, f"image {image_id} not found", {"image_id": image_id}
            )
        return img

    @_handled
    def CreateImage(self, request: Any, context: Any) -> Any:
        self.c.check(context, "CreateImage", request)
        img = images_pb2.Image()
        img.CopyFrom(request.image)
        if not img.disk_format:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "disk_format is required")
        img.id = img.id or str(uuid.uuid4())
        img.status = images_pb2.IMAGE_STATUS_QUEUED
        img.owner = "p-demo"
        img.visibility = img.visibility or images_pb2.VISIBILITY_PRIVATE
        _now(img.create_time)
        self.c.images[img.id] = img
        return images_pb2.CreateImageResponse(image=img)

    def UploadImage(self, request_iterator: Any, context: Any) -> Any:
        try:
            return self._upload(request_iterator, context)
        except Abort as e:
            _abort(context, e)

    def _upload(self, request_iterator: Any, context: Any) -> Any:
        first = next(request_iterator)
        self.c.check(context, "UploadImage", first)
        if first.WhichOneof("payload") != "header":
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be the header")
        img = self._get(first.header.image_id)
        data = bytearray()
        for msg in request_iterator:
            if len(msg.chunk) > MiB:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "chunk larger than 1 MiB")
            self.c.upload_chunks.append(len(msg.chunk))
            data += msg.chunk
        digest = hashlib.sha256(data).hexdigest()
        if first.header.size and first.header.size != len(data):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "size mismatch")
        if first.header.sha256 and first.header.sha256 != digest:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "checksum mismatch")
        if data.startswith(b"BAD"):
            img.status = images_pb2.IMAGE_STATUS_KILLED
            img.status_message = "qcow2 with a backing file is refused"
        else:
            img.status = images_pb2.IMAGE_STATUS_ACTIVE
            img.size = len(data)
            img.os_hash_algo, img.os_hash_value = "sha256", digest
            img.renditions.add(disk_format=img.disk_format, status=images_pb2.RENDITION_STATUS_ACTIVE,
                               size=len(data), sha256=digest, original=True)  # fmt: skip
            self.c.image_data[img.id] = bytes(data)
        return images_pb2.UploadImageResponse(image=img)

    @_handled
    def GetImage(self, request: Any, context: Any) -> Any:
        self.c.check(context, "GetImage", request)
        return images_pb2.GetImageResponse(image=self._get(request.image_id))

    @_handled
    def ListImages(self, request: Any, context: Any) -> Any:
        self.c.check(context, "ListImages", request)
        items = [i for i in self.c.images.values() if not request.name or i.name == request.name]
        return images_pb2.ListImagesResponse(images=items)

    @_handled
    def UpdateImage(self, request: Any, context: Any) -> Any:
        self.c.check(context, "UpdateImage", request)
        img = self._get(request.image.id)
        for path in request.update_mask.paths:
            if path == "properties":
                img.properties.clear()
                img.properties.update(request.image.properties)
            else:
                setattr(img, path, getattr(request.image, path))
        return images_pb2.UpdateImageResponse(image=img)

    @_handled
    def DeleteImage(self, request: Any, context: Any) -> Any:
        self.c.check(context, "DeleteImage", request)
        img = self._get(request.image_id)
        if img.protected:
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION, "image is protected")
        del self.c.images[request.image_id]
        return images_pb2.DeleteImageResponse()

    @_handled
    def ListRenditions(self, request: Any, context: Any) -> Any:
        self.c.check(context, "ListRenditions", request)
        return images_pb2.ListRenditionsResponse(renditions=self._get(request.image_id).renditions)

    @_handled
    def DownloadImage(self, request: Any, context: Any) -> Iterator[Any]:
        self.c.check(context, "DownloadImage", request)
        img = self._get(request.image_id)
        data = self.c.image_data.get(img.id)
        if data is None:
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION, "image has no data")
        fmt = request.disk_format or img.disk_format
        if fmt != img.disk_format:
            data = b"CONVERTED:" + data  # a stand-in for qemu-img convert
            sub = request.vmware_disktype or (disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED
                                              if fmt == disk_pb2.DISK_FORMAT_VMDK else 0)  # fmt: skip
            if not any(r.disk_format == fmt for r in img.renditions):
                img.renditions.add(disk_format=fmt, vmware_disktype=sub, size=len(data),
                                   status=images_pb2.RENDITION_STATUS_ACTIVE,
                                   sha256=hashlib.sha256(data).hexdigest())  # fmt: skip
        rendition = next(r for r in img.renditions if r.disk_format == fmt)
        yield images_pb2.DownloadImageResponse(metadata=images_pb2.DownloadImageMetadata(
            image_id=img.id, rendition=rendition, size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), offset=request.offset))  # fmt: skip
        for i in range(request.offset, len(data), MiB):
            yield images_pb2.DownloadImageResponse(chunk=data[i : i + MiB])


@dataclass
class FakeEndpoints:
    cloud: FakeCloud
    api_url: str
    image_url: str
    servers: list[grpc.Server]

    def stop(self) -> None:
        for s in self.servers:
            s.stop(grace=None).wait()


def start_fake_cloud(cloud: FakeCloud | None = None) -> FakeEndpoints:
    """Start the api (compute + identity) and image servers on ephemeral ports."""
    cloud = cloud or FakeCloud()
    api = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    compute_service_pb2_grpc.add_ComputeServiceServicer_to_server(FakeCompute(cloud), api)
    identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(FakeIdentity(cloud), api)
    api_port = api.add_insecure_port("127.0.0.1:0")
    image = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    image_service_pb2_grpc.add_ImageServiceServicer_to_server(FakeImages(cloud), image)
    image_port = image.add_insecure_port("127.0.0.1:0")
    api.start()
    image.start()
    return FakeEndpoints(cloud, f"127.0.0.1:{api_port}", f"127.0.0.1:{image_port}", [api, image])
