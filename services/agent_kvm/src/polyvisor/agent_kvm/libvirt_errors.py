"""libvirtError mapped to the driver's errors, at the boundary.

    with mapped_errors("start domain"):
        dom.create()

No libvirtError leaves the driver: a missing domain becomes InstanceNotFound, a lost or
refused connection HypervisorUnavailable (retryable), anything else DriverError with
libvirt's message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import libvirt

from polyvisor.agentkit.driver import DriverError, HypervisorUnavailable, InstanceNotFound

__all__ = ["error_code", "is_no_domain", "mapped_errors", "to_driver_error"]

_UNAVAILABLE = {
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_INVALID_CONN,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_ERR_OPERATION_TIMEOUT,
    libvirt.VIR_ERR_AUTH_FAILED,
    libvirt.VIR_ERR_AUTH_UNAVAILABLE,
}
_NOT_FOUND = {libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_DOMAIN_METADATA}


def error_code(exc: libvirt.libvirtError) -> int:
    code = exc.get_error_code()
    return int(code) if code is not None else -1


def is_no_domain(exc: libvirt.libvirtError) -> bool:
    return error_code(exc) in _NOT_FOUND


def to_driver_error(exc: libvirt.libvirtError, action: str) -> DriverError:
    code = error_code(exc)
    message = f"{action}: {exc.get_error_message() or exc}"
    if code in _NOT_FOUND:
        return InstanceNotFound(message)
    if code in _UNAVAILABLE:
        return HypervisorUnavailable(message)
    return DriverError(message)


@contextlib.contextmanager
def mapped_errors(action: str) -> Iterator[None]:
    try:
        yield
    except libvirt.libvirtError as exc:
        raise to_driver_error(exc, action) from exc
