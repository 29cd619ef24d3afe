"""Enrolled machines: what the agent knows of each, and where their secrets live.

A node is enrolled once (``python -m polyvisor.agent_baremetal enroll ...``): its BMC's
Redfish address and system, its resource class, optionally the root device the agent
writes disk images to; the enrollment inspects it over Redfish first, so a wrong address or
credential is refused at once. The node list (``POLYVISOR_NODES_FILE``, JSON) holds no
secret. The BMC username and password, and the node's agent key, are files of the
credentials directory (``POLYVISOR_BMC_CREDENTIALS_DIR``), mode 0600, the way every other
Polyvisor secret reaches a process: a file from a mounted Secret, never an environment
value or a database row.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "BmcCredentials",
    "EnrollmentError",
    "Node",
    "load_nodes",
    "read_credentials",
    "save_node",
    "write_secret",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CLASS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class EnrollmentError(ValueError):
    """A node or its secrets are missing or malformed."""


@dataclass(frozen=True, slots=True)
class Node:
    #: The node's name, also its host id.
    name: str
    #: The BMC's Redfish service root, e.g. ``https://10.0.0.5`` (``/redfish/v1`` appended).
    bmc_url: str
    #: The ComputerSystem's path, e.g. ``/redfish/v1/Systems/1`` ("" when the BMC has one).
    system_id: str
    #: Ironic's resource class, e.g. ``small``: flavors ask for CUSTOM_BAREMETAL_SMALL.
    resource_class: str
    #: Where the agent writes disk images (the machine's disk exported to it: an iSCSI LUN,
    #: or an emulated machine's disk file). "": the node boots ISO images only.
    root_device: str = ""
    #: Verify the BMC's TLS certificate.
    verify_tls: bool = True

    def check(self) -> None:
        if not _NAME.match(self.name):
            raise EnrollmentError(f"node name {self.name!r}: lower case letters, digits, - and _")
        if not self.bmc_url.startswith(("http://", "https://")):
            raise EnrollmentError(f"node {self.name}: BMC address {self.bmc_url!r} is not a URL")
        if not _CLASS.match(self.resource_class):
            raise EnrollmentError(
                f"node {self.name}: resource class {self.resource_class!r}: lower case "
                "letters, digits, - and _"
            )


@dataclass(frozen=True, slots=True)
class BmcCredentials:
    username: str
    password: str
    agent_key: str

    def __repr__(self) -> str:
        return f"BmcCredentials(username={self.username!r}, password=***, agent_key=***)"


def load_nodes(path: Path) -> list[Node]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except json.JSONDecodeError as e:
        raise EnrollmentError(f"{path}: not JSON: {e}") from e
    if not isinstance(raw, list):
        raise EnrollmentError(f"{path}: expected a list of nodes")
    nodes: list[Node] = []
    fields = set(Node.__dataclass_fields__)
    for item in raw:
        if not isinstance(item, dict) or not {"name", "bmc_url", "resource_class"} <= set(item):
            raise EnrollmentError(f"{path}: each node needs name, bmc_url and resource_class")
        node = Node(**{k: v for k, v in item.items() if k in fields})
        node.check()
        nodes.append(node)
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise EnrollmentError(f"{path}: a node name appears twice")
    return nodes


def save_node(path: Path, node: Node) -> None:
    """Add the node (or replace the one of that name), atomically."""
    node.check()
    nodes = [n for n in load_nodes(path) if n.name != node.name] + [node]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(n) for n in nodes], indent=2) + "\n")
    tmp.replace(path)


def write_secret(directory: Path, name: str, value: str) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = directory / name
    tmp = directory / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    tmp.replace(target)


def _read(directory: Path, name: str, *, required: bool = True) -> str:
    try:
        return (directory / name).read_text().rstrip("\r\n")
    except FileNotFoundError:
        if required:
            raise EnrollmentError(f"secret {name} is missing from {directory}") from None
        return ""


def read_credentials(directory: Path, node: str, *, agent_key: bool = True) -> BmcCredentials:
    return BmcCredentials(
        username=_read(directory, f"{node}.username"),
        password=_read(directory, f"{node}.password"),
        agent_key=_read(directory, f"{node}.agent-key", required=agent_key),
    )
