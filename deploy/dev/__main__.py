"""`python -m deploy.dev COMMAND`: what `./dev` runs once the workspace is installed."""

from __future__ import annotations

import sys

USAGE = """usage: ./dev COMMAND [ARGS]

  up             start the whole stack (PostgreSQL, NATS, vcsim, libvirtd, services, agents)
  down           stop everything `up` started
  status         what runs: pid, endpoint, health
  logs [NAME]    follow the logs (all, or one process)
  test [ARGS]    run the whole suite (pytest ARGS pass through), lint-imports, ruff, mypy
  bench [NAME]   run bench/NAME (lists the benchmarks without NAME)
"""


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    command, args = argv[0], argv[1:]
    if command == "up":
        from deploy.dev.stack import up

        return up()
    if command == "down":
        from deploy.dev.stack import down

        return down()
    if command == "status":
        from deploy.dev.status import status

        return status()
    if command == "logs":
        from deploy.dev.runner import logs

        return logs(args)
    if command == "test":
        from deploy.dev.runner import test

        return test(args)
    if command == "bench":
        from deploy.dev.runner import bench

        return bench(args)
    print(f"unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
