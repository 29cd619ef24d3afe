"""gRPC statuses to HTTP, in one table, and each API's own error body."""

from __future__ import annotations

import grpc
import pytest

from polyvisor.osapi.errors import Api, ApiError, from_rpc, render


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.ALREADY_EXISTS, 409),
        (grpc.StatusCode.FAILED_PRECONDITION, 409),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.INTERNAL, 500),
    ],
)
def test_status_mapping(code: grpc.StatusCode, status: int) -> None:
    assert from_rpc(code, "x").status == status


def test_a_server_fault_keeps_its_internals_out_of_the_answer() -> None:
    err = from_rpc(grpc.StatusCode.INTERNAL, "asyncpg.exceptions.UndefinedTableError: relation x")
    assert "asyncpg" not in err.message and err.status == 500


def test_user_mistakes_keep_their_message() -> None:
    assert (
        from_rpc(grpc.StatusCode.NOT_FOUND, "server web-1 not found").message
        == "server web-1 not found"
    )
    assert "Quota exceeded" in from_rpc(grpc.StatusCode.RESOURCE_EXHAUSTED, "10 instances").message


def test_each_api_has_its_own_shape() -> None:
    err = ApiError(404, "no such thing")
    assert render(Api.NOVA, err) == {"itemNotFound": {"code": 404, "message": "no such thing"}}
    assert render(Api.KEYSTONE, err) == {
        "error": {"code": 404, "message": "no such thing", "title": "Not Found"}
    }
    assert render(Api.NEUTRON, ApiError(404, "gone", "NetworkNotFound")) == {
        "NeutronError": {"type": "NetworkNotFound", "message": "gone", "detail": ""}
    }
    assert render(Api.GLANCE, err)["code"] == 404
    assert render(Api.NOVA, ApiError(409, "busy")) == {
        "conflictingRequest": {"code": 409, "message": "busy"}
    }
    assert "computeFault" in render(Api.NOVA, ApiError(500, "x"))
