"""`python -m polyvisor.osapi`: the OpenStack API gateway."""

from __future__ import annotations

from polyvisor.common.lifespan import run_service
from polyvisor.osapi.app import lifespan
from polyvisor.osapi.config import OsapiSettings


def main() -> None:
    run_service(OsapiSettings(), lifespan)


if __name__ == "__main__":
    main()
