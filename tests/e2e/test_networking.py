"""Networking through the public API on the stack `./dev up` starts: a KVM server that names no
network gets a port on the demo network (the one network of the admin's project), bound to its
host, and shows its address (network, IPv4, MAC); deleting it deletes the port it made."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bootdisk import make_disk
from tests.e2e.stack import Stack, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

DEMO_CIDR = ipaddress.ip_network("10.42.0.0/24")


def test_a_kvm_server_gets_an_address_on_the_demo_network(stack: Stack, workdir: Path) -> None:
    admin = stack.admin
    r = stack.cli("login", "--username", admin["username"], f"--password={admin['password']}",
                  "--project", admin["project"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    hyps = eventually(
        lambda: [h for h in stack.cli_json("hypervisor", "list") if h["state"] == "up"] or None,
        timeout=180,
        what="hypervisors up",
    )
    kvm = next(h["hypervisor_type"] for h in hyps if h["hypervisor_type"] != "vmware")
    if "e2e.net-tiny" not in {f["name"] for f in stack.cli_json("flavor", "list")}:
        stack.cli_json("flavor", "create", "e2e.net-tiny", "--vcpus", "1", "--ram", "64",
                       "--disk", "1")  # fmt: skip
    disk = make_disk(workdir, "netboot", "qcow2")
    stack.cli_json("image", "create", "e2e-netboot", "--file", str(disk),
                   "--disk-format", "qcow2", "--property", "architecture=x86_64")  # fmt: skip
    [demo] = [n for n in stack.cli_json("network", "list") if n["name"] == "demo"]

    r = stack.cli("server", "create", "e2e-net-kvm", "--image", "e2e-netboot", "--flavor",
                  "e2e.net-tiny", "--hint", f"hypervisor_type={kvm}", "--wait",
                  "--wait-timeout", "300", "-f", "json")  # fmt: skip
    shown = stack.cli("server", "show", "e2e-net-kvm", "-f", "json")
    if shown.returncode == 0:
        stack.created.add(json.loads(shown.stdout)["id"])
    assert r.returncode == 0, r.stderr + r.stdout
    server: dict[str, Any] = json.loads(r.stdout)
    assert server["state"] == "ACTIVE"

    ports = stack.cli_json("port", "list", "--device-id", server["id"])
    assert len(ports) == 1
    port = ports[0]
    assert port["network_id"] == demo["id"]
    [address] = server["addresses"]
    assert address["network"] == "demo"
    assert ipaddress.ip_address(address["address"]) in DEMO_CIDR
    assert address["mac_address"] == port["mac_address"]

    r = stack.cli("server", "delete", "e2e-net-kvm", "--wait")
    assert r.returncode == 0, r.stderr + r.stdout
    eventually(
        lambda: not stack.cli_json("port", "list", "--device-id", server["id"]) or None,
        timeout=120,
        what="the server's port deleted",
    )
