"""What a server on a bare-metal node does not get: a flavor asking for a bare-metal resource
class (``resources:CUSTOM_BAREMETAL_<CLASS>=1``, as Ironic's flavors do) places the server on
a whole machine, driven over its BMC. Polyvisor gives such a server no VNC console (the
BMC's console is the operator's) and plumbs no network into it: it is cabled where it is,
so naming no network means none (naming one the machine does not reach is refused by the
scheduler, with the reason)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["asks_for_baremetal"]

_PREFIX = "resources:CUSTOM_BAREMETAL_"


def asks_for_baremetal(extra_specs: Mapping[str, str]) -> bool:
    return any(k.startswith(_PREFIX) and v.strip() not in ("", "0") for k, v in extra_specs.items())
