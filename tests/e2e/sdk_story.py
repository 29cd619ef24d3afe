"""The operator story through openstacksdk, run by the OpenStack clients' own interpreter
(tests/fixtures/osclients.py), never by the project's: `python sdk_story.py CONFIG_JSON`.
Prints one JSON object with what it saw; the test (test_openstack_clients.py) asserts on it.
"""

from __future__ import annotations

import json
import sys

import openstack
from openstack import exceptions


def main() -> None:
    cfg = json.loads(sys.argv[1])
    conn = openstack.connect(
        auth_url=cfg["auth_url"], username=cfg["username"], password=cfg["password"],
        project_name=cfg["project"], user_domain_name="Default", project_domain_name="Default",
        region_name="RegionOne",
    )  # fmt: skip
    out: dict[str, object] = {"token_project": conn.current_project_id}
    out["hypervisors"] = sorted({h.hypervisor_type for h in conn.compute.hypervisors(details=True)})
    image = conn.image.create_image(
        name=cfg["prefix"] + "img", filename=cfg["disk"], disk_format="qcow2",
        container_format="bare", hypervisor_type="vmware", vmware_adaptertype="lsiLogic",
        wait=True,
    )  # fmt: skip
    image = conn.image.get_image(image.id)
    out["image"] = {"status": image.status, "hypervisor_type": image.hypervisor_type,
                    "properties": image.properties}  # fmt: skip
    downloaded = conn.image.download_image(image).content
    out["download_bytes"] = len(downloaded)
    flavor = conn.compute.find_flavor(cfg["flavor"], ignore_missing=False)
    big = conn.compute.find_flavor(cfg["big_flavor"], ignore_missing=False)
    net = conn.network.find_network("demo", ignore_missing=False)
    servers = {}
    for name, img, flv, hints in (
        ("vmw", image.id, flavor.id, {}),
        ("kvm", cfg["any_image"], flavor.id, {"hypervisor_type": cfg["kvm_type"]}),
        ("big", cfg["any_image"], big.id, {"hypervisor_type": "vmware"}),
    ):
        s = conn.compute.create_server(
            name=cfg["prefix"] + name, image_id=img, flavor_id=flv,
            networks=[{"uuid": net.id}], scheduler_hints=hints,
        )  # fmt: skip
        try:
            s = conn.compute.wait_for_server(s, status="ACTIVE", failures=["ERROR"], wait=300)
        except exceptions.ResourceFailure:
            s = conn.compute.get_server(s.id)
        servers[name] = {"id": s.id, "status": s.status, "host": s.compute_host,
                         "fault": (s.fault or {}).get("message", ""),
                         "addresses": s.addresses}  # fmt: skip
    out["servers"] = servers
    listed = {s.name for s in conn.compute.servers()}
    out["listed"] = sorted(n for n in listed if n.startswith(cfg["prefix"]))
    console = conn.compute.create_console(servers["kvm"]["id"], console_type="novnc")
    out["console_url"] = console["url"]
    for s in servers.values():
        conn.compute.delete_server(s["id"])
    for s in servers.values():
        # find_server is None once it is gone; wait_for_delete ends on the 404 that follows.
        if (found := conn.compute.find_server(s["id"])) is not None:
            conn.compute.wait_for_delete(found, wait=300)
    out["left"] = sorted(s.name for s in conn.compute.servers() if s.name.startswith(cfg["prefix"]))
    conn.image.delete_image(image.id)
    out["flavor"] = _private_flavor(conn, cfg["prefix"] + "priv")
    out["volume"] = _volume(conn, cfg["prefix"] + "vol")
    print(json.dumps(out))


def _private_flavor(conn: openstack.connection.Connection, name: str) -> dict[str, object]:
    """A private flavor's extra specs and access list, changed and read back."""
    seen: dict[str, object] = {}
    if (old := conn.compute.find_flavor(name)) is not None:  # an earlier run's
        conn.compute.delete_flavor(old)
    flavor = conn.compute.create_flavor(name=name, ram=64, vcpus=1, disk=1, is_public=False)
    try:
        conn.compute.create_flavor_extra_specs(flavor, {"hw:cpu_policy": "shared", "k": "1"})
        seen["set"] = conn.compute.update_flavor_extra_specs_property(flavor, "k", "2")
        conn.compute.delete_flavor_extra_specs_property(flavor, "hw:cpu_policy")
        seen["specs"] = conn.compute.fetch_flavor_extra_specs(flavor).extra_specs
        conn.compute.flavor_add_tenant_access(flavor, conn.current_project_id)
        seen["access"] = [a["tenant_id"] for a in conn.compute.get_flavor_access(flavor)]
        try:
            conn.compute.flavor_add_tenant_access(flavor, conn.current_project_id)
            seen["twice"] = "accepted"
        except exceptions.ConflictException:
            seen["twice"] = "conflict"
        conn.compute.flavor_remove_tenant_access(flavor, conn.current_project_id)
        seen["access_after"] = conn.compute.get_flavor_access(flavor)
    finally:
        conn.compute.delete_flavor(flavor)
    return seen


def _volume(conn: openstack.connection.Connection, name: str) -> dict[str, object]:
    """A volume extended and snapshotted through the block-storage API, then deleted."""
    seen: dict[str, object] = {}
    if (old := conn.block_storage.find_volume(name)) is not None:  # an earlier run's
        for snap in conn.block_storage.snapshots(volume_id=old.id):
            conn.block_storage.delete_snapshot(snap)
        conn.block_storage.delete_volume(old)
    vol = conn.block_storage.create_volume(name=name, size=1)
    vol = conn.block_storage.wait_for_status(vol, "available", failures=["error"], wait=120)
    seen["made"] = vol.status
    conn.block_storage.extend_volume(vol, 2)
    vol = conn.block_storage.wait_for_status(vol, "available", failures=["error"], wait=120)
    seen["extended"] = conn.block_storage.get_volume(vol.id).size
    snap = conn.block_storage.create_snapshot(volume_id=vol.id, name=name + "-snap")
    snap = conn.block_storage.wait_for_status(snap, "available", failures=["error"], wait=120)
    seen["snapshot"] = snap.status
    seen["snapshots"] = len(list(conn.block_storage.snapshots(volume_id=vol.id)))
    quota = conn.block_storage.get_quota_set(conn.current_project_id, usage=True)
    seen["quota_counts_them"] = quota.usage["volumes"] >= 1 and quota.usage["snapshots"] >= 1
    conn.block_storage.delete_snapshot(snap)
    conn.block_storage.wait_for_delete(snap, wait=120)
    conn.block_storage.delete_volume(vol)
    conn.block_storage.wait_for_delete(vol, wait=120)
    seen["gone"] = conn.block_storage.find_volume(vol.id) is None
    return seen


if __name__ == "__main__":
    main()
