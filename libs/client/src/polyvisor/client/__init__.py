"""Polyvisor's Python SDK (`AsyncClient`, `Client`) and the `polyvisor` CLI (`polyvisor.client.cli`)."""

from polyvisor.client.aio import AsyncClient
from polyvisor.client.config import ClientConfig, Credentials
from polyvisor.client.errors import (
    AlreadyExists,
    ApiError,
    ConfigError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PolyvisorClientError,
    ServerFault,
    Unauthenticated,
    Unavailable,
    WaitTimeout,
)
from polyvisor.client.serialize import to_dict
from polyvisor.client.sync import Client

__all__ = [
    "AlreadyExists",
    "ApiError",
    "AsyncClient",
    "Client",
    "ClientConfig",
    "ConfigError",
    "Credentials",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "PolyvisorClientError",
    "ServerFault",
    "Unauthenticated",
    "Unavailable",
    "WaitTimeout",
    "to_dict",
]
