"""``python -m polyvisor.agent_kvm``: the KVM agent."""

from __future__ import annotations

from polyvisor.agent_kvm.app import lifespan
from polyvisor.agent_kvm.config import KvmSettings
from polyvisor.common.lifespan import run_service


def main() -> None:
    run_service(KvmSettings(), lifespan)


if __name__ == "__main__":
    main()
