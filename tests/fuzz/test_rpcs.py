"""Every RPC every service lists through server reflection, called with generated requests
(tests/fuzz/protofuzz.py) and a valid token: no answer is INTERNAL or UNKNOWN, no unary call
hangs, no process dies, and every service still answers SERVING (liveness and readiness)
after each method's examples. A method added to a service is fuzzed without editing this file.

Each service is called with the identities that call it (FuzzEnv.tokens_for): users (the
admin and a project member) on the public services, the api's service identity on the
scheduler and the network service as well, so that requests get past authorization into
the handlers.
"""

from __future__ import annotations

import traceback
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import PROFILE, FuzzEnv
from tests.fuzz.protofuzz import Rpc, discover, message_class, messages

# Real processes on a shared machine: more than the suite's default per test.
pytestmark = pytest.mark.timeout(1200)

UNARY_TIMEOUT_S = 30.0
STREAM_TIMEOUT_S = 0.5
STREAM_READ = 5
#: Codes that are never an answer to a request, however wrong: the server failed.
FAILURES = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNIMPLEMENTED)


class Finding(AssertionError):
    pass


def _serialize(message: Any) -> bytes:
    return bytes(message.SerializeToString())


def call(channel: grpc.Channel, rpc: Rpc, requests: list[Any], token: str) -> str:
    """One call of `rpc`: the name of the status it ended with; raises Finding when the
    server failed."""
    md = (("authorization", f"Bearer {token}"), ("x-request-id", f"fuzz-{uuid.uuid4().hex}"))
    out = message_class(rpc.output)
    kind = (rpc.client_streaming, rpc.server_streaming)
    factory = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[kind]
    stub = factory(rpc.path, request_serializer=_serialize, response_deserializer=out.FromString)
    payload: Any = iter(requests) if rpc.client_streaming else requests[0]
    try:
        if rpc.server_streaming:
            responses = stub(payload, metadata=md, timeout=STREAM_TIMEOUT_S)
            try:
                for i, _ in enumerate(responses):
                    if i + 1 >= STREAM_READ:
                        break
            finally:
                responses.cancel()
        else:
            stub(payload, metadata=md, timeout=UNARY_TIMEOUT_S)
    except grpc.RpcError as e:
        code = e.code()  # type: ignore[attr-defined]
        if code in FAILURES:
            raise Finding(f"{rpc} answered {code.name}: {e.details()}") from None  # type: ignore[attr-defined]
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and not rpc.server_streaming:
            raise Finding(f"{rpc} did not answer within {UNARY_TIMEOUT_S}s") from None
        return str(code.name)
    return "OK"


def health(address: str) -> list[str]:
    """What is wrong with the health of the service at `address` (nothing: [])."""
    problems = []
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for service in ("", "readiness"):
            try:
                status = stub.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=10
                ).status
            except grpc.RpcError as e:
                problems.append(f"{address} health {service!r}: {e.code().name}")  # type: ignore[attr-defined]
                continue
            if status != health_pb2.HealthCheckResponse.SERVING:
                problems.append(f"{address} health {service!r}: {status}")
    return problems


def fuzz_rpc(env: FuzzEnv, channel: grpc.Channel, rpc: Rpc, seen: Counter[str]) -> None:
    """Hypothesis over one method; raises (after shrinking) what it found. Counts the status
    codes of the answers in `seen`."""
    request = messages(rpc.input, lambda: env.ids)
    requests = st.lists(request, min_size=0 if rpc.client_streaming else 1, max_size=4)
    tokens = st.sampled_from(env.tokens_for(rpc.service))

    @settings(settings.get_profile(PROFILE))
    @given(requests=requests, token=tokens)
    def run(requests: list[Any], token: str) -> None:
        if not rpc.client_streaming:
            requests = requests[:1]
        seen[call(channel, rpc, requests, token)] += 1

    run()


def _services(env: FuzzEnv) -> Iterator[tuple[str, str]]:
    yield from env.addresses.items()


@pytest.mark.parametrize("service", ["api", "imagesvc", "scheduler", "network"])
def test_every_rpc_answers_without_internal_errors(fuzz_env: FuzzEnv, service: str) -> None:
    address = fuzz_env.addresses[service]
    findings: list[str] = []
    answered: dict[str, Counter[str]] = {}
    with grpc.insecure_channel(address) as channel:
        rpcs = discover(channel)
        assert rpcs, f"{service} lists no service through reflection"
        for rpc in rpcs:
            seen = answered[str(rpc)] = Counter()
            try:
                fuzz_rpc(fuzz_env, channel, rpc, seen)
            except Exception as e:
                notes = "\n".join(getattr(e, "__notes__", ()))
                text = str(e) if isinstance(e, Finding) else traceback.format_exc(limit=3)
                findings.append(f"{text}\n{notes}")
            dead = fuzz_env.dead()
            problems = [p for _, a in _services(fuzz_env) for p in health(a)]
            if dead or problems:
                findings.append(f"after {rpc}: dead {dead}, health {problems}")
                break
    for name, seen in answered.items():
        print(f"{name}: {dict(seen)}")
    assert not findings, "\n\n".join(findings)
    # The requests got past authentication and validation: the tokens were valid and some
    # generated requests were well-formed (else the suite would prove nothing).
    assert sum(seen["OK"] for seen in answered.values()) > 0, answered
