"""The dev stack's bare-metal pool (``POLYVISOR_DEV_BAREMETAL=1 ./dev up``): three emulated
machines (libvirt domains of class ``small``: 1 vCPU, 1 GiB, 1 GiB disk) behind sushy-tools'
Redfish emulator, enrolled in one bare-metal agent. ``./dev down`` stops the emulator and
removes the domains, their disks and their storage pool.

It needs the real libvirtd (``qemu:///system``): the emulator and the machines live there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

from deploy.dev.layout import Layout
from tests.fixtures.redfish import SMALL, EmulatedPool

__all__ = ["NODES", "RESOURCE_CLASS", "down", "enabled", "up"]

NODES = 3
RESOURCE_CLASS = "small"


def enabled() -> bool:
    return os.environ.get("POLYVISOR_DEV_BAREMETAL", "").lower() in ("1", "true", "yes", "on")


def _pool(layout: Layout, uri: str) -> EmulatedPool:
    prefix = "pvbm-" + hashlib.sha256(str(layout.root).encode()).hexdigest()[:6]
    return EmulatedPool(layout.root / "baremetal", uri, [SMALL] * NODES, prefix=prefix)


def node_names() -> list[str]:
    return [f"bm-{i}" for i in range(NODES)]


def up(layout: Layout, uri: str, agent_key: object) -> tuple[Path, Path]:
    """Start the pool (or find it running) and enroll its machines. ``agent_key(host)`` gives
    a node's agent key. Returns the agent's nodes file and credentials directory."""
    from polyvisor.agent_baremetal.enrollment import Node, save_node, write_secret

    pool = _pool(layout, uri)
    for d in [layout.root, *layout.root.parents]:  # QEMU (libvirt-qemu) reaches the disks
        mode = d.stat().st_mode
        if not mode & stat.S_IXOTH:
            d.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    machines = pool.start()
    data = layout.data("agent_baremetal")
    nodes_file, secrets = data / "nodes.json", data / "bmc-credentials"
    for name, m in zip(node_names(), machines, strict=True):
        save_node(
            nodes_file,
            Node(name, m.bmc_url, m.system_id, RESOURCE_CLASS, root_device=str(m.disk_path)),
        )
        write_secret(secrets, f"{name}.username", m.username)
        write_secret(secrets, f"{name}.password", m.password)
        write_secret(secrets, f"{name}.agent-key", agent_key(name))  # type: ignore[operator]
    return nodes_file, secrets


def down(layout: Layout, uri: str) -> bool:
    """Remove the pool if this stack made one; True when it did."""
    if not (layout.root / "baremetal").is_dir():
        return False
    _pool(layout, uri).close()
    shutil.rmtree(layout.root / "baremetal", ignore_errors=True)
    return True
