"""`python -m polyvisor.networksvc`: the network service (contract polyvisor.network.v1)."""

from __future__ import annotations

from polyvisor.common.lifespan import run_service
from polyvisor.networksvc.app import lifespan
from polyvisor.networksvc.config import NetworkSettings


def main() -> None:
    run_service(NetworkSettings(), lifespan)


if __name__ == "__main__":
    main()
