"""python -m polyvisor.scheduler"""

from __future__ import annotations

from polyvisor.common.lifespan import run_service
from polyvisor.scheduler.app import lifespan
from polyvisor.scheduler.config import SchedulerSettings


def main() -> None:
    run_service(SchedulerSettings(), lifespan)


if __name__ == "__main__":
    main()
