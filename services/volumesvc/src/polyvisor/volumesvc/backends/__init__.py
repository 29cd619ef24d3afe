"""Volume backends, by kind. ``base.VolumeBackend`` is the protocol; each module here is one
backend and registers its factory in ``BACKENDS``.

A deployment configures named backends (``POLYVISOR_VOLUME_BACKENDS``, JSON):

    {"local": {"kind": "file", "directory": "/var/lib/polyvisor/volumes"},
     "vsan":  {"kind": "vmdk", "url": "https://vc/sdk", "datastore_regex": "^vsan"}}

and a volume type names one of them. A factory takes the backend's options (strings) and
answers the backend, raising ``InvalidArgument`` for a bad option.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from polyvisor.common.errors import InvalidArgument
from polyvisor.volumesvc.backends.base import VolumeBackend

__all__ = ["BACKENDS", "BackendFactory", "build_backend", "register"]

BackendFactory = Callable[[Mapping[str, str]], VolumeBackend]

#: kind -> factory
BACKENDS: dict[str, BackendFactory] = {}


def register(kind: str) -> Callable[[BackendFactory], BackendFactory]:
    def deco(factory: BackendFactory) -> BackendFactory:
        BACKENDS[kind] = factory
        return factory

    return deco


def build_backend(options: Mapping[str, str]) -> VolumeBackend:
    """The backend ``options["kind"]`` names, built from the rest of ``options``."""
    kind = str(options.get("kind", ""))
    _load_builtin()
    factory = BACKENDS.get(kind)
    if factory is None:
        raise InvalidArgument(
            f"unknown volume backend kind {kind!r} (known: {', '.join(sorted(BACKENDS))})"
        )
    return factory({k: str(v) for k, v in options.items() if k != "kind"})


def _load_builtin() -> None:
    # importing a backend module registers it; a backend whose library is missing here
    # (librbd on a machine without Ceph) is simply not offered
    import importlib

    for name in ("file", "vmdk", "rbd"):
        try:
            importlib.import_module(f"polyvisor.volumesvc.backends.{name}")
        except ImportError:
            continue
