"""Server operations: create (validated up front, idempotent, quota-checked), read, list,
update, the lifecycle actions and the console. Scheduling and commands happen after the
commit, from the outbox (see `orchestrator`).

The operations come in groups, one module each, over `server_base.ServerBase` (dependencies,
reading one server, doing one action): `server_create`, `server_reads`, `server_day2`,
`server_consoles`.
"""

from __future__ import annotations

from polyvisor.api.server_consoles import ConsoleAccess, ServerConsoles
from polyvisor.api.server_create import CreateRequest, ServerCreate
from polyvisor.api.server_day2 import ServerDay2
from polyvisor.api.server_reads import ServerReads

__all__ = ["ConsoleAccess", "CreateRequest", "Servers"]


class Servers(ServerCreate, ServerReads, ServerDay2, ServerConsoles):
    """Every server operation the handlers call."""
