"""vSphere faults and transport errors, mapped to the driver's errors at one boundary.

Everything pyvmomi raises is either a vmodl fault (``vmodl.MethodFault`` and its many
subclasses) or a transport error (refused, reset, timed out, HTTP errors of the SOAP layer).
``classify`` turns any of them into a ``DriverError``; ``is_connection_error`` tells the
session that vCenter went away (so the host report flips to disconnected at once).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from pyVmomi import vim, vmodl

from polyvisor.agentkit.driver import (
    DriverError,
    HypervisorUnavailable,
    InstanceNotFound,
    SpawnFailed,
)

__all__ = ["classify", "fault_name", "fault_text", "is_connection_error", "mapped"]

# vCenter cannot be reached or our session is gone: try again after reconnecting.
_UNAVAILABLE_FAULTS: tuple[type[BaseException], ...] = (
    vim.fault.NotAuthenticated,
    vim.fault.InvalidLogin,
    vmodl.fault.HostCommunication,
    vmodl.fault.HostNotConnected,
    vmodl.fault.RequestCanceled,
    vmodl.fault.SecurityError,
)
# Transient conflicts inside vCenter: the same call may succeed a moment later.
_RETRYABLE_FAULTS: tuple[type[BaseException], ...] = (
    vim.fault.TaskInProgress,
    vim.fault.ConcurrentAccess,
    vim.fault.ResourceInUse,
    vim.fault.InvalidState,
    vim.fault.FileLocked,
)
_NOT_FOUND_FAULTS: tuple[type[BaseException], ...] = (vmodl.fault.ManagedObjectNotFound,)
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.timeout,
    socket.gaierror,
    ssl.SSLError,
    http.client.HTTPException,
    EOFError,
)


def fault_name(exc: BaseException) -> str:
    """``vim.fault.FileNotFound`` style name of a vmodl fault, else the class name."""
    wsdl = getattr(type(exc), "_wsdlName", None)
    return str(wsdl or type(exc).__name__)


def fault_text(exc: BaseException) -> str:
    msg = getattr(exc, "msg", None) or ""
    if not msg:
        faults = getattr(exc, "faultMessage", None) or []
        msg = "; ".join(str(getattr(m, "message", "") or "") for m in faults)
    text = f"{fault_name(exc)}: {msg}" if msg else fault_name(exc)
    file = getattr(exc, "file", None)
    return f"{text} ({file})" if file else text


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, _UNAVAILABLE_FAULTS):
        return True
    if isinstance(exc, vmodl.MethodFault):
        return False
    if isinstance(exc, _TRANSPORT_ERRORS):
        return True
    # pyvmomi raises OSError subclasses (and a bare Exception for HTTP 503) on the wire.
    if isinstance(exc, OSError):
        return True
    return "503" in str(exc) and "Service Unavailable" in str(exc)


def classify(exc: BaseException, *, spawning: bool = False) -> DriverError:
    """The driver error for ``exc`` (already a DriverError: itself)."""
    if isinstance(exc, DriverError):
        return exc
    if is_connection_error(exc):
        return HypervisorUnavailable(f"vCenter unreachable: {fault_text(exc)}")
    if isinstance(exc, _NOT_FOUND_FAULTS):
        return InstanceNotFound(fault_text(exc))
    retryable = isinstance(exc, _RETRYABLE_FAULTS)
    if spawning:
        return SpawnFailed(fault_text(exc), retryable=retryable)
    return DriverError(fault_text(exc), retryable=retryable)


_MAPPED: tuple[type[BaseException], ...] = (vmodl.MethodFault, *_TRANSPORT_ERRORS, OSError)


@contextmanager
def mapped(*, spawning: bool = False) -> Iterator[None]:
    """Re-raise whatever pyvmomi raises inside as a driver error."""
    try:
        yield
    except DriverError:
        raise
    except _MAPPED as exc:
        raise classify(exc, spawning=spawning) from exc
