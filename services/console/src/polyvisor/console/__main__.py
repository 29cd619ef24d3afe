"""`python -m polyvisor.console`: the console proxy."""

from __future__ import annotations

from polyvisor.common.lifespan import run_service
from polyvisor.console.app import lifespan
from polyvisor.console.config import ConsoleSettings


def main() -> None:
    run_service(ConsoleSettings(), lifespan)


if __name__ == "__main__":
    main()
