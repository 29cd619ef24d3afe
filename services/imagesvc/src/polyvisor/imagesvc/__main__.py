"""`python -m polyvisor.imagesvc`: the image service."""

from __future__ import annotations

from polyvisor.common.lifespan import run_service
from polyvisor.imagesvc.app import lifespan
from polyvisor.imagesvc.config import ImageSettings


def main() -> None:
    run_service(ImageSettings(), lifespan)


if __name__ == "__main__":
    main()
