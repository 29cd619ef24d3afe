"""`python -m polyvisor.imagesvc`: the image service."""

from __future__ import annotations

import os

# This process starts qemu-img; gRPC's fork handlers must not run in those children (they
# can crash them before exec). Set before gRPC is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from polyvisor.common.lifespan import run_service
from polyvisor.imagesvc.app import lifespan
from polyvisor.imagesvc.config import ImageSettings


def main() -> None:
    run_service(ImageSettings(), lifespan)


if __name__ == "__main__":
    main()
