"""``python -m polyvisor.agent_baremetal``: the bare-metal agent (a pool of enrolled machines).

    python -m polyvisor.agent_baremetal                 # run (settings: config.py)
    python -m polyvisor.agent_baremetal enroll NAME --bmc URL [--system PATH] \\
        --username USER --password-file FILE --resource-class CLASS \\
        [--root-device PATH] [--agent-key-file FILE] [--insecure] \\
        --nodes-file FILE --credentials-dir DIR

``enroll`` inspects the machine over Redfish (so a wrong address or credential is refused
now, not at the first server), then adds it to the node list and writes its secrets, mode
0600, to the credentials directory. It prints what inspection found.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from polyvisor.agent_baremetal.enrollment import EnrollmentError, Node, save_node, write_secret
from polyvisor.agent_baremetal.redfish import Bmc
from polyvisor.agentkit.driver import DriverError


def enroll(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m polyvisor.agent_baremetal enroll")
    p.add_argument("name")
    p.add_argument("--bmc", required=True, help="the BMC's address, e.g. https://10.0.0.5")
    p.add_argument("--system", default="", help="the ComputerSystem's path (default: the only one)")
    p.add_argument("--username", required=True)
    p.add_argument("--password-file", type=Path, required=True)
    p.add_argument("--resource-class", required=True)
    p.add_argument("--root-device", default="")
    p.add_argument("--agent-key-file", type=Path, default=None)
    p.add_argument("--insecure", action="store_true", help="do not verify the BMC's certificate")
    p.add_argument("--nodes-file", type=Path, required=True)
    p.add_argument("--credentials-dir", type=Path, required=True)
    a = p.parse_args(argv)
    password = a.password_file.read_text().rstrip("\r\n")
    node = Node(
        name=a.name,
        bmc_url=a.bmc.rstrip("/"),
        system_id=a.system,
        resource_class=a.resource_class,
        root_device=a.root_device,
        verify_tls=not a.insecure,
    )
    try:
        node.check()
        bmc = Bmc(node.bmc_url, node.system_id, a.username, password, verify=node.verify_tls)
        try:
            hw = bmc.inspect()
        finally:
            bmc.close()
    except (EnrollmentError, DriverError) as e:
        print(f"enroll {a.name}: {e}", file=sys.stderr)
        return 1
    write_secret(a.credentials_dir, f"{a.name}.username", a.username)
    write_secret(a.credentials_dir, f"{a.name}.password", password)
    if a.agent_key_file is not None:
        write_secret(a.credentials_dir, f"{a.name}.agent-key", a.agent_key_file.read_text().strip())
    save_node(a.nodes_file, node)
    print(
        f"{a.name}: {hw.cpus} CPUs, {hw.memory_mb} MiB, {hw.disk_gb} GiB disk, "
        f"{hw.architecture}, class {a.resource_class}"
    )
    return 0


def main() -> None:
    if sys.argv[1:2] == ["enroll"]:
        sys.exit(enroll(sys.argv[2:]))
    from polyvisor.agent_baremetal.app import lifespan
    from polyvisor.agent_baremetal.config import BaremetalAgentSettings
    from polyvisor.common.lifespan import run_service

    run_service(BaremetalAgentSettings(), lifespan)  # type: ignore[call-arg]


if __name__ == "__main__":
    main()
