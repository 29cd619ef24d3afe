"""``python -m polyvisor.agent_vmware``: the VMware agent (one per vCenter cluster, HA)."""

from __future__ import annotations

from polyvisor.agent_vmware.app import lifespan
from polyvisor.agent_vmware.config import VmwareAgentSettings
from polyvisor.common.lifespan import run_service


def main() -> None:
    run_service(VmwareAgentSettings(), lifespan)  # type: ignore[call-arg]


if __name__ == "__main__":
    main()
