"""`python -m polyvisor.volumesvc`: the volume service (contract polyvisor.volume.v1)."""

from __future__ import annotations

from polyvisor.common.lifespan import run_service
from polyvisor.volumesvc.app import lifespan
from polyvisor.volumesvc.config import VolumeSettings


def main() -> None:
    run_service(VolumeSettings(), lifespan)


if __name__ == "__main__":
    main()
