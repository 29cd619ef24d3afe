"""Normalising the discrete traits hosts and images are matched on.

Architecture and vm_mode names have historical aliases (amd64, i386, pv, hv...); both sides
are normalised the same way before they meet in the index. Hypervisor versions are turned into
one comparable number so a version predicate runs over an array.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ARCHITECTURES",
    "VM_MODES",
    "VersionPredicate",
    "normalize_arch",
    "normalize_vm_mode",
    "parse_version",
    "version_key",
]

ARCHITECTURES = frozenset(
    {
        "x86_64", "i686", "aarch64", "armv7l", "armv6l", "ppc", "ppc64", "ppc64le",
        "s390", "s390x", "mips", "mipsel", "mips64", "mips64el", "riscv64", "sparc",
        "sparc64", "alpha", "ia64", "loongarch64",
    }
)  # fmt: skip
_ARCH_ALIASES = {
    "amd64": "x86_64",
    "x64": "x86_64",
    "x86-64": "x86_64",
    "i386": "i686",
    "i486": "i686",
    "i586": "i686",
    "x86": "i686",
    "x86_32": "i686",
    "x86_32p": "i686",
    "arm64": "aarch64",
    "armhf": "armv7l",
}
VM_MODES = frozenset({"hvm", "xen", "exe", "uml"})
_MODE_ALIASES = {"hv": "hvm", "baremetal": "hvm", "pv": "xen"}


def normalize_arch(name: str) -> str:
    """Canonical architecture name ("" stays ""). Raises ValueError for an unknown one."""
    n = name.strip().lower()
    if not n:
        return ""
    n = _ARCH_ALIASES.get(n, n)
    if n not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}")
    return n


def normalize_vm_mode(name: str) -> str:
    """Canonical vm_mode ("" stays ""). Raises ValueError for an unknown one."""
    n = name.strip().lower()
    if not n:
        return ""
    n = _MODE_ALIASES.get(n, n)
    if n not in VM_MODES:
        raise ValueError(f"unknown vm_mode {name!r}")
    return n


_VERSION = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) from "8.0.2", "10.1", "7.0.3-build123"; None if no number."""
    m = _VERSION.match(text or "")
    if m is None:
        return None
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


def version_key(text: str) -> float:
    """One number ordered like the version (NaN when the text has no version)."""
    v = parse_version(text)
    if v is None:
        return math.nan
    major, minor, patch = (min(x, 999_999) for x in v)
    return float(major) * 1e12 + float(minor) * 1e6 + float(patch)


_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|=|>|<)?\s*([0-9][0-9.]*)\s*$")


@dataclass(frozen=True, slots=True)
class VersionPredicate:
    """ ">=8.0,<10": every comma-separated clause must hold (a bare version means ==)."""

    text: str
    clauses: tuple[tuple[str, float], ...]

    @classmethod
    def parse(cls, text: str) -> VersionPredicate:
        clauses: list[tuple[str, float]] = []
        for part in text.split(","):
            m = _CLAUSE.match(part)
            if m is None:
                raise ValueError(
                    f"bad version requirement {part.strip()!r} in {text!r}: "
                    "expected e.g. '>=8.0' or '>=8.0,<10'"
                )
            clauses.append((m.group(1) or "==", version_key(m.group(2))))
        return cls(text.strip(), tuple(clauses))

    def mask(self, keys: np.ndarray) -> np.ndarray:
        """True where the version key satisfies every clause (NaN never does)."""
        ok: np.ndarray = ~np.isnan(keys)
        for op, value in self.clauses:
            ok &= _OPS[op](keys, value)
        return ok
