"""`python -m polyvisor.dashboard`: the web dashboard."""

from __future__ import annotations

from polyvisor.common.lifespan import run_service
from polyvisor.dashboard.app import lifespan
from polyvisor.dashboard.config import DashboardSettings


def main() -> None:
    run_service(DashboardSettings(), lifespan)


if __name__ == "__main__":
    main()
