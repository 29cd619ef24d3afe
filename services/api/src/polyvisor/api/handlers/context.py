"""What handlers need from the call: the caller and their raw token."""

from __future__ import annotations

import grpc

from polyvisor.api import access
from polyvisor.common.auth import Principal, bearer_token
from polyvisor.common.interceptors import current_principal


def principal() -> Principal:
    return access.caller(current_principal())


def bearer(context: grpc.aio.ServicerContext) -> str:
    return bearer_token(context.invocation_metadata())
