"""Errors of the api that polyvisor.common.errors has no class for."""

from __future__ import annotations

import grpc

from polyvisor.common.errors import PolyvisorError


class OutOfRange(PolyvisorError):
    """A Watch asked to resume from a revision older than the retained change log."""

    code = grpc.StatusCode.OUT_OF_RANGE
