"""python -m polyvisor.api.agentkey HOST [HOST...]: print each host's agent key.

The key is derived from ``POLYVISOR_AGENT_KEY_SECRET`` (the api's secret) and names its host:
give each agent only its own (``POLYVISOR_AGENT_API_KEY``); a key cannot act for another host.
Changing the secret retires every agent key at once.

``service:polyvisor-console`` prints the console proxy's service key instead
(``POLYVISOR_CONSOLE_API_KEY``): its token may only redeem console tokens.
"""

from __future__ import annotations

import os
import sys

from polyvisor.common.derived_keys import derive_agent_key, derive_service_key


def main(argv: list[str] | None = None) -> int:
    hosts = sys.argv[1:] if argv is None else argv
    secret = os.environ.get("POLYVISOR_AGENT_KEY_SECRET", "")
    if not hosts or not secret:
        print(
            "usage: POLYVISOR_AGENT_KEY_SECRET=... python -m polyvisor.api.agentkey HOST...",
            file=sys.stderr,
        )
        return 2
    for host in hosts:
        if host.startswith("service:"):
            print(f"{host}\t{derive_service_key(secret, host.removeprefix('service:'))}")
        else:
            print(f"{host}\t{derive_agent_key(secret, host)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
