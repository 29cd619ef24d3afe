"""Bare-metal resource classes, named as Ironic and Placement name them.

A node of class ``small`` (``baremetal-small`` and ``baremetal.small`` too) offers
``CUSTOM_BAREMETAL_SMALL``; a flavor asks for it with the extra spec
``resources:CUSTOM_BAREMETAL_SMALL=1``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["requested_class", "resource_class_label", "resource_class_name"]

_PREFIX = "CUSTOM_BAREMETAL_"
_SPEC = "resources:"


def resource_class_name(node_class: str) -> str:
    """``small`` -> ``CUSTOM_BAREMETAL_SMALL`` (a name already in that form is kept)."""
    n = re.sub(r"[^A-Z0-9]", "_", node_class.strip().upper())
    if n.startswith(_PREFIX):
        return n
    return _PREFIX + n.removeprefix("BAREMETAL_")


def resource_class_label(name: str) -> str:
    """``CUSTOM_BAREMETAL_SMALL`` -> ``small``."""
    return name.removeprefix(_PREFIX).lower()


def requested_class(extra_specs: Mapping[str, str]) -> str | None:
    """The bare-metal class a flavor asks for (``resources:CUSTOM_BAREMETAL_X`` with a
    non-zero amount), as its resource class name; None when it asks for none."""
    for key, value in extra_specs.items():
        if not key.startswith(_SPEC + _PREFIX):
            continue
        if value.strip() in ("", "0"):
            continue
        return resource_class_name(key.removeprefix(_SPEC))
    return None
