"""``python -m polyvisor.agent_kvm``: the KVM agent."""

from __future__ import annotations

import os

# This process starts qemu-img; gRPC's fork handlers must not run in those children (they
# can crash them before exec). Set before gRPC is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from polyvisor.agent_kvm.app import lifespan
from polyvisor.agent_kvm.config import KvmSettings
from polyvisor.common.lifespan import run_service


def main() -> None:
    run_service(KvmSettings(), lifespan)


if __name__ == "__main__":
    main()
