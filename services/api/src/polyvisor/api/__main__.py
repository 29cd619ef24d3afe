"""python -m polyvisor.api"""

from __future__ import annotations

from polyvisor.api.app import lifespan
from polyvisor.api.config import ApiSettings
from polyvisor.common.lifespan import run_service


def main() -> None:
    run_service(ApiSettings(), lifespan)


if __name__ == "__main__":
    main()
