"""`python -m polyvisor.common.migrate SERVICE`: apply a service's schema migrations, then exit.

For a Kubernetes init container (deploy/k8s): the migrations run before the service's
container starts, so a long migration never counts against its probes, and the service's
own start-up `migrate` then finds nothing left to do. `migrate` holds an advisory lock keyed
by the schema, so the init containers of several replicas starting together apply each
migration once, one after the other.

SERVICE is the service's package under `polyvisor.` (api, scheduler, imagesvc, networksvc,
volumesvc);
SCHEMAS names its schema, and its migrations are the package's `migrations/` directory. The
database is `POLYVISOR_DATABASE_URL`, as for the service itself.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from polyvisor.common.config import ServiceSettings
from polyvisor.common.db import migrate
from polyvisor.common.errors import PolyvisorError
from polyvisor.common.logging import configure_logging, get_logger

__all__ = ["SCHEMAS", "main"]

log = get_logger(__name__)

#: The services that own a schema, and its name (each service's `app.SCHEMA`).
SCHEMAS = {
    "api": "api",
    "scheduler": "scheduler",
    "imagesvc": "imagesvc",
    "networksvc": "network",
    "volumesvc": "volume",
}


async def _run(service: str, database_url: str) -> list[int]:
    return await migrate(database_url, SCHEMAS[service], f"polyvisor.{service}.migrations")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m polyvisor.common.migrate")
    parser.add_argument("service", choices=sorted(SCHEMAS))
    args = parser.parse_args(argv)
    settings = ServiceSettings(service_name=f"{args.service}-migrate")
    configure_logging(settings)
    try:
        applied = asyncio.run(_run(args.service, settings.database_url))
    except PolyvisorError as e:
        log.error("migration failed", schema=SCHEMAS[args.service], error=str(e))
        return 1
    log.info("schema up to date", schema=SCHEMAS[args.service], applied=applied)
    return 0


if __name__ == "__main__":
    sys.exit(main())
