"""The same story once through grpcurl alone: server reflection, no proto files, JSON in
and out (grpcurl prints proto field names; it reads them too). It proves a client in any language gets everything the CLI gets: tokens, image
upload (client streaming), servers on both hypervisors, the watch stream, consoles,
renditions, hypervisors with their ESXi hosts, deletion.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bootdisk import make_disk
from tests.e2e.stack import (
    Stack,
    eventually,
    libvirt_domains,
    vcsim_vms,
    vm_of,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

COMPUTE = "polyvisor.compute.v1.ComputeService"
IDENTITY = "polyvisor.identity.v1.IdentityService"
IMAGES = "polyvisor.image.v1.ImageService"
CHUNK = 1024 * 1024


@pytest.fixture(scope="module")
def g() -> dict[str, Any]:
    """What the grpcurl story remembers between steps."""
    return {}


def call(stack: Stack, g: dict[str, Any], method: str, body: dict[str, Any] | None = None) -> Any:
    service = method.split("/")[0]
    address = stack.image if service == IMAGES else stack.api
    return stack.grpcurl_json(address, method, body or {}, token=g.get("token"))


def test_reflection_lists_the_public_services(stack: Stack) -> None:
    api = stack.grpcurl(stack.api, "list")
    assert api.returncode == 0, api.stderr
    for name in (COMPUTE, IDENTITY, "grpc.health.v1.Health"):
        assert name in api.stdout.split()
    image = stack.grpcurl(stack.image, "list")
    assert image.returncode == 0 and IMAGES in image.stdout.split()
    methods = stack.grpcurl(stack.image, "list", tail=(IMAGES,))
    assert methods.returncode == 0 and f"{IMAGES}.UploadImage" in methods.stdout.split(), (
        methods.stderr
    )
    described = stack.grpcurl(stack.api, "describe", tail=(COMPUTE,))
    assert described.returncode == 0 and "rpc CreateServer" in described.stdout, described.stderr
    health = stack.grpcurl_json(stack.api, "grpc.health.v1.Health/Check")
    assert health == {"status": "SERVING"}


def test_authenticate_and_an_anonymous_call_is_refused(stack: Stack, g: dict[str, Any]) -> None:
    anon = stack.grpcurl(stack.api, f"{COMPUTE}/ListFlavors", {})
    assert anon.returncode != 0 and "Unauthenticated" in anon.stderr, anon.stderr
    resp = stack.grpcurl_json(stack.api, f"{IDENTITY}/Authenticate", {"password": stack.admin})
    assert resp["token"] and "ROLE_ADMIN" in resp["roles"]
    g["token"] = resp["token"]
    hyps = call(stack, g, f"{COMPUTE}/ListHypervisors")["hypervisors"]
    kvm = [
        h for h in hyps if h["hypervisor_type"] in ("HYPERVISOR_TYPE_KVM", "HYPERVISOR_TYPE_QEMU")
    ]
    vmw = [h for h in hyps if h["hypervisor_type"] == "HYPERVISOR_TYPE_VMWARE"]
    assert kvm and len(vmw) == 2, hyps
    assert all(len(h["esxi_hosts"]) == 3 for h in vmw)
    g["kvm_type"] = kvm[0]["hypervisor_type"].removeprefix("HYPERVISOR_TYPE_").lower()
    g["kvm_host"] = kvm[0]["id"]
    g["clusters"] = {h["id"] for h in vmw}


def test_upload_an_image_by_client_streaming(
    stack: Stack, g: dict[str, Any], workdir: Path
) -> None:
    disk = make_disk(workdir / "grpcurl", "boot", "qcow2")
    data = disk.read_bytes()
    image = call(stack, g, f"{IMAGES}/CreateImage", {
        "request_id": str(uuid.uuid4()),
        "image": {"name": "grpcurl-any", "disk_format": "DISK_FORMAT_QCOW2",
                  "container_format": "CONTAINER_FORMAT_BARE", "architecture": "x86_64"},
    })["image"]  # fmt: skip
    assert image["status"] == "IMAGE_STATUS_QUEUED"
    messages = [{"header": {"image_id": image["id"], "size": str(len(data)),
                            "sha256": hashlib.sha256(data).hexdigest()}}]  # fmt: skip
    messages += [
        {"chunk": base64.b64encode(data[i : i + CHUNK]).decode()}
        for i in range(0, len(data), CHUNK)
    ]
    r = stack.grpcurl(stack.image, f"{IMAGES}/UploadImage", token=g["token"],
                      stdin="\n".join(json.dumps(m) for m in messages))  # fmt: skip
    assert r.returncode == 0, r.stderr
    uploaded = json.loads(r.stdout)["image"]
    assert uploaded["status"] == "IMAGE_STATUS_ACTIVE", uploaded
    assert int(uploaded["size"]) == len(data)
    g["image"] = uploaded["id"]


def test_flavor_and_keypair(stack: Stack, g: dict[str, Any]) -> None:
    flavor = call(stack, g, f"{COMPUTE}/CreateFlavor", {
        "request_id": str(uuid.uuid4()),
        "flavor": {"name": "grpcurl.tiny", "vcpus": 1, "ram_mb": "64", "disk_gb": "1", "is_public": True},
    })["flavor"]  # fmt: skip
    g["flavor"] = flavor["id"]
    kp = call(stack, g, f"{COMPUTE}/CreateKeypair", {"name": "grpcurl-key"})
    assert "PRIVATE KEY" in kp["private_key"] and kp["keypair"]["fingerprint"]


def _boot(stack: Stack, g: dict[str, Any], name: str, hypervisor_type: str) -> dict[str, Any]:
    created = call(stack, g, f"{COMPUTE}/CreateServer", {
        "request_id": str(uuid.uuid4()),
        "server": {"name": name, "image_id": g["image"], "flavor_id": g["flavor"], "key_name": "grpcurl-key",
                   "user_data": base64.b64encode(b"#cloud-config\n").decode(),
                   "scheduler_hints": {"hypervisor_type": hypervisor_type}},
    })["servers"]  # fmt: skip
    assert len(created) == 1 and created[0]["state"] in (
        "SERVER_STATE_BUILDING",
        "SERVER_STATE_ACTIVE",
    )
    sid = created[0]["id"]
    stack.created.add(sid)

    def active() -> dict[str, Any] | None:
        s = call(stack, g, f"{COMPUTE}/GetServer", {"server_id": sid})["server"]
        assert s["state"] != "SERVER_STATE_ERROR", s
        return s if s["state"] == "SERVER_STATE_ACTIVE" else None

    return eventually(active, timeout=300, what=f"{name} ACTIVE", interval=1.0)


def test_boot_on_kvm_and_on_vmware(stack: Stack, g: dict[str, Any]) -> None:
    kvm = _boot(stack, g, "grpcurl-kvm", g["kvm_type"])
    assert kvm["host"] == g["kvm_host"]
    vmw = _boot(stack, g, "grpcurl-vmw", "vmware")
    assert vmw["host"] in g["clusters"] and vmw["hypervisor_type"] == "HYPERVISOR_TYPE_VMWARE"
    g["servers"] = {"kvm": kvm, "vmw": vmw}
    assert vm_of(vcsim_vms(stack.endpoints["vcsim"]), vmw) is not None
    renditions = call(stack, g, f"{IMAGES}/ListRenditions", {"image_id": g["image"]})["renditions"]
    assert any(r["disk_format"] == "DISK_FORMAT_VMDK" and r["status"] == "RENDITION_STATUS_ACTIVE"
               for r in renditions), renditions  # fmt: skip


def test_watch_stream_replays_then_syncs(stack: Stack, g: dict[str, Any]) -> None:
    sid = g["servers"]["kvm"]["id"]
    # The stream stays open for live changes: grpcurl gives up after -max-time, having
    # printed the replay and the SYNCED marker.
    r = stack.grpcurl(stack.api, f"{COMPUTE}/WatchServers", {"server_id": sid}, token=g["token"],
                      extra=("-max-time", "5"))  # fmt: skip
    assert "SERVER_CHANGE_TYPE_CREATED" in r.stdout and sid in r.stdout, r.stdout + r.stderr
    assert "SERVER_CHANGE_TYPE_SYNCED" in r.stdout


def test_consoles_and_power(stack: Stack, g: dict[str, Any]) -> None:
    for key, ports in (("kvm", range(5900, 6001)), ("vmw", range(5900, 6106))):
        sid = g["servers"][key]["id"]
        console = call(
            stack, g, f"{COMPUTE}/GetServerConsole", {"server_id": sid, "type": "CONSOLE_TYPE_VNC"}
        )
        # The console opens through the proxy; the server says where its VNC listens.
        assert console["url"].startswith(stack.endpoints["console"]["url"]), console
        server = call(stack, g, f"{COMPUTE}/GetServer", {"server_id": sid})["server"]
        assert server["console"]["host"] and server["console"]["port"] in ports, server
        call(stack, g, f"{COMPUTE}/StopServer", {"server_id": sid, "request_id": str(uuid.uuid4())})

        def state_is(wanted: str, sid: str = sid) -> bool:
            s = call(stack, g, f"{COMPUTE}/GetServer", {"server_id": sid})["server"]
            return s["state"] == wanted and s.get("task", "SERVER_TASK_NONE") in (
                "SERVER_TASK_NONE",
            )

        eventually(
            lambda: state_is("SERVER_STATE_SHUTOFF"), timeout=120, what=f"{key} SHUTOFF", interval=1
        )
        call(
            stack, g, f"{COMPUTE}/StartServer", {"server_id": sid, "request_id": str(uuid.uuid4())}
        )
        eventually(
            lambda: state_is("SERVER_STATE_ACTIVE"), timeout=120, what=f"{key} ACTIVE", interval=1
        )


def test_delete_everything(stack: Stack, g: dict[str, Any]) -> None:
    ids = [s["id"] for s in g["servers"].values()]
    for sid in ids:
        call(
            stack, g, f"{COMPUTE}/DeleteServer", {"server_id": sid, "request_id": str(uuid.uuid4())}
        )

    def gone(sid: str) -> bool:
        r = stack.grpcurl(stack.api, f"{COMPUTE}/GetServer", {"server_id": sid}, token=g["token"])
        if r.returncode != 0:
            assert "NotFound" in r.stderr, r.stderr
            return True
        return json.loads(r.stdout)["server"]["state"] == "SERVER_STATE_DELETED"

    for sid in ids:
        eventually(lambda sid=sid: gone(sid), timeout=180, what=f"server {sid} gone", interval=1)
    listed = call(stack, g, f"{COMPUTE}/ListServers")
    assert not [s for s in listed.get("servers", []) if s["id"] in ids]
    domains = libvirt_domains(stack.libvirt_uri)
    if domains is not None:
        assert not [d for d in domains if any(sid in d for sid in ids)]
    vms = vcsim_vms(stack.endpoints["vcsim"])
    assert all(vm_of(vms, {"id": sid}) is None for sid in ids)
    call(stack, g, f"{IMAGES}/DeleteImage", {"image_id": g["image"]})
    call(stack, g, f"{COMPUTE}/DeleteFlavor", {"flavor_id": g["flavor"]})
    call(stack, g, f"{COMPUTE}/DeleteKeypair", {"name": "grpcurl-key"})
    r = stack.grpcurl(stack.image, f"{IMAGES}/GetImage", {"image_id": g["image"]}, token=g["token"])
    assert r.returncode != 0 and "NotFound" in r.stderr
    for sid in ids:
        stack.created.discard(sid)
