"""A model of the server lifecycle, checked against the api, the real scheduler and the fake
agent: Hypothesis runs programs of creates, starts, stops, soft and hard reboots, pauses,
suspends and deletes on a few servers, in random order and with random pauses between them
(so actions land while others are in flight), and checks after each step and at the end that
the api agrees with the model:

- an action the api accepts is one the model allows from the state the server settles in;
- an action the api refuses on a server known to be settled is one the model forbids, and
  the refusal is FAILED_PRECONDITION (a server in flight may refuse anything that way), or
  NOT_FOUND once a deleted server is gone;
- every server settles (nothing in flight, no transitional state) in the state the model
  says, never ERROR;
- the project's quota counts exactly the servers the model has not deleted;
- the last command the fake agent got for a deleted server that had a host is `destroy`.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import grpc
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from polyvisor.compute.v1 import compute_service_pb2_grpc, quotas_pb2, servers_pb2
from polyvisor.types.v1 import server_status_pb2 as st_pb
from tests.fuzz.conftest import PROFILE, FuzzEnv

# Real processes on a shared machine: more than the suite's default per test.
pytestmark = pytest.mark.timeout(1200)

S = st_pb
#: (action, status) of every action the programs sent, over the whole run.
OUTCOMES: Counter[tuple[str, str]] = Counter()
SETTLED = {
    S.SERVER_STATE_ACTIVE,
    S.SERVER_STATE_SHUTOFF,
    S.SERVER_STATE_PAUSED,
    S.SERVER_STATE_SUSPENDED,
    S.SERVER_STATE_DELETED,
    S.SERVER_STATE_ERROR,
}
SETTLE_WITHIN_S = 60.0
MAX_SERVERS = 3

# Each action: the RPC, the states it may start in and the state it ends in.
ACTIONS: dict[str, tuple[str, frozenset[int], int]] = {
    "start": ("StartServer", frozenset({S.SERVER_STATE_SHUTOFF}), S.SERVER_STATE_ACTIVE),
    "stop": ("StopServer", frozenset({S.SERVER_STATE_ACTIVE}), S.SERVER_STATE_SHUTOFF),
    "reboot": ("RebootServer", frozenset({S.SERVER_STATE_ACTIVE}), S.SERVER_STATE_ACTIVE),
    "reboot_hard": (
        "RebootServer",
        frozenset({S.SERVER_STATE_ACTIVE, S.SERVER_STATE_SHUTOFF}),
        S.SERVER_STATE_ACTIVE,
    ),
    "pause": ("PauseServer", frozenset({S.SERVER_STATE_ACTIVE}), S.SERVER_STATE_PAUSED),
    "unpause": ("UnpauseServer", frozenset({S.SERVER_STATE_PAUSED}), S.SERVER_STATE_ACTIVE),
    "suspend": ("SuspendServer", frozenset({S.SERVER_STATE_ACTIVE}), S.SERVER_STATE_SUSPENDED),
    "resume": ("ResumeServer", frozenset({S.SERVER_STATE_SUSPENDED}), S.SERVER_STATE_ACTIVE),
}
_REQUESTS = {
    "StartServer": servers_pb2.StartServerRequest,
    "StopServer": servers_pb2.StopServerRequest,
    "RebootServer": servers_pb2.RebootServerRequest,
    "PauseServer": servers_pb2.PauseServerRequest,
    "UnpauseServer": servers_pb2.UnpauseServerRequest,
    "SuspendServer": servers_pb2.SuspendServerRequest,
    "ResumeServer": servers_pb2.ResumeServerRequest,
}


def name_of(state: int) -> str:
    return str(S.ServerState.Name(state))


@dataclass
class Modelled:
    id: str
    # The state the server settles in once what was accepted is done.
    target: int
    # Seen settled in `target` since the last accepted action (refusals must then be right).
    settled: bool = False


class Api:
    """The compute service with a member's token, synchronously (Hypothesis drives it)."""

    def __init__(self, address: str, token: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stub = compute_service_pb2_grpc.ComputeServiceStub(self.channel)
        self.md = (("authorization", f"Bearer {token}"),)

    def call(self, method: str, request: Any) -> Any:
        return getattr(self.stub, method)(request, metadata=self.md, timeout=30)

    def get(self, server_id: str) -> servers_pb2.Server:
        return self.call("GetServer", servers_pb2.GetServerRequest(server_id=server_id)).server

    def settle(self, server_id: str) -> servers_pb2.Server:
        """The server once nothing is in flight and its state is not transitional."""
        deadline = time.monotonic() + SETTLE_WITHIN_S
        while True:
            s = self.get(server_id)
            if s.task == S.SERVER_TASK_NONE and s.state in SETTLED:
                return s
            assert time.monotonic() < deadline, (
                f"server {server_id} not settled within {SETTLE_WITHIN_S}s: "
                f"{name_of(s.state)} {S.ServerTask.Name(s.task)}"
            )
            time.sleep(0.05)


class Lifecycle(RuleBasedStateMachine):
    env: ClassVar[FuzzEnv]
    api: ClassVar[Api]
    image_id: ClassVar[str]
    flavor_id: ClassVar[str]

    servers = Bundle("servers")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, Modelled] = {}

    @initialize()
    def nothing_left_from_before(self) -> None:
        assert self.usage() == 0

    def usage(self) -> int:
        return int(self.api.call("GetQuota", quotas_pb2.GetQuotaRequest()).quota.usage.instances)

    @precondition(lambda self: len(self.model) < MAX_SERVERS)
    @rule(target=servers)
    def create(self) -> str:
        resp = self.api.call(
            "CreateServer",
            servers_pb2.CreateServerRequest(
                request_id=uuid.uuid4().hex,
                server=servers_pb2.ServerSpec(
                    name=f"model-{len(self.model)}",
                    image_id=self.image_id,
                    flavor_id=self.flavor_id,
                ),
            ),
        )
        server = resp.servers[0]
        self.model[server.id] = Modelled(server.id, S.SERVER_STATE_ACTIVE)
        return str(server.id)

    @rule(server=servers, action=st.sampled_from(sorted(ACTIONS)))
    def act_once_settled(self, server: str, action: str) -> None:
        """The action on a server that settled first (its answer is then determined)."""
        self.wait(server)
        self.act(server, action)

    @rule(server=servers, action=st.sampled_from(sorted(ACTIONS)))
    def act(self, server: str, action: str) -> None:
        """The action now, whatever the server is doing."""
        m = self.model[server]
        method, allowed, ends = ACTIONS[action]
        request = _REQUESTS[method](server_id=server, request_id=uuid.uuid4().hex)
        if action == "reboot_hard":
            request.type = servers_pb2.REBOOT_TYPE_HARD
        try:
            self.api.call(method, request)
        except grpc.RpcError as e:
            code = e.code()  # type: ignore[attr-defined]
            refusals = {grpc.StatusCode.FAILED_PRECONDITION}
            if m.target == S.SERVER_STATE_DELETED:
                refusals.add(grpc.StatusCode.NOT_FOUND)  # once it is gone
            assert code in refusals, (action, code, e.details())  # type: ignore[attr-defined]
            assert not (m.settled and m.target in allowed), (
                f"{action} refused on a server settled in {name_of(m.target)}: {e.details()}"  # type: ignore[attr-defined]
            )
            OUTCOMES[(action, code.name)] += 1
            return
        assert m.target in allowed, f"{action} accepted while the model has {name_of(m.target)}"
        m.target, m.settled = ends, False
        OUTCOMES[(action, "OK")] += 1

    @rule(server=servers)
    def delete(self, server: str) -> None:
        m = self.model[server]
        try:
            self.api.call(
                "DeleteServer",
                servers_pb2.DeleteServerRequest(server_id=server, request_id=uuid.uuid4().hex),
            )
        except grpc.RpcError as e:
            # Deleting again: accepted while it is DELETING, NOT_FOUND once it is gone.
            assert m.target == S.SERVER_STATE_DELETED, (e.code(), e.details())  # type: ignore[attr-defined]
            assert e.code() == grpc.StatusCode.NOT_FOUND, (e.code(), e.details())  # type: ignore[attr-defined]
            return
        if m.target != S.SERVER_STATE_DELETED:
            m.target, m.settled = S.SERVER_STATE_DELETED, False

    @rule(server=servers)
    def wait(self, server: str) -> None:
        m = self.model[server]
        s = self.api.settle(server)
        assert s.state == m.target, (
            f"settled {name_of(s.state)}, model {name_of(m.target)}; fault: {s.fault.message}"
        )
        m.settled = True

    @rule(seconds=st.sampled_from((0.0, 0.02, 0.1, 0.3)))
    def pause_for(self, seconds: float) -> None:
        time.sleep(seconds)

    def teardown(self) -> None:
        try:
            for m in self.model.values():
                s = self.api.settle(m.id)
                assert s.state == m.target, (
                    f"{m.id} settled {name_of(s.state)}, model {name_of(m.target)}; "
                    f"fault: {s.fault.message}"
                )
            live = sum(1 for m in self.model.values() if m.target != S.SERVER_STATE_DELETED)
            assert self.usage() == live
            commands = self.env.agent.commands()
            for m in self.model.values():
                if m.target != S.SERVER_STATE_DELETED:
                    continue
                mine = [c["verb"] for c in commands if c.get("server_id") == m.id]
                if mine:  # it reached a host
                    assert mine[-1] == "destroy", (m.id, mine)
        finally:
            for m in self.model.values():
                if m.target != S.SERVER_STATE_DELETED:
                    self.api.call(
                        "DeleteServer",
                        servers_pb2.DeleteServerRequest(
                            server_id=m.id, request_id=uuid.uuid4().hex
                        ),
                    )
            for m in self.model.values():
                self.api.settle(m.id)


@pytest.fixture(scope="module")
async def model_env(fuzz_env: FuzzEnv) -> FuzzEnv:
    member = await fuzz_env.stack.new_project_user(fuzz_env.admin, "member")
    await fuzz_env.admin.compute.UpdateQuota(
        quotas_pb2.UpdateQuotaRequest(
            project_id=member.project_id,
            limits=quotas_pb2.QuotaLimits(instances=-1, vcpus=-1, ram_mb=-1),
        ),
        metadata=fuzz_env.admin.md,
    )
    Lifecycle.api = Api(fuzz_env.stack.apis[0].address, member.token)
    Lifecycle.env = fuzz_env
    return fuzz_env


#: A program every run starts with, through the same machine and checks: each action once
#: from a state that allows it and once from one that forbids it, so what the random programs
#: below happen to reach never decides whether a path was checked.
FIXED_PROGRAM = (
    "stop", "pause", "start", "unpause", "pause", "resume", "unpause", "suspend", "start",
    "resume", "reboot", "stop", "reboot", "suspend", "reboot_hard", "suspend", "stop",
    "reboot_hard",
)  # fmt: skip


def run_fixed_program() -> None:
    machine = Lifecycle()
    machine.nothing_left_from_before()
    server = machine.create()
    try:
        for action in FIXED_PROGRAM:
            machine.act_once_settled(server, action)
        machine.delete(server)
        machine.wait(server)
        machine.act(server, "start")  # NOT_FOUND once it is gone
    finally:
        machine.teardown()


def test_server_lifecycle_matches_the_model(model_env: FuzzEnv) -> None:
    Lifecycle.image_id = model_env.image_id
    Lifecycle.flavor_id = model_env.flavor_id
    OUTCOMES.clear()
    run_fixed_program()
    # Every action was accepted where the model allows it and refused where it forbids it.
    assert {a for (a, code) in OUTCOMES if code == "OK"} == set(ACTIONS), dict(OUTCOMES)
    assert {a for (a, code) in OUTCOMES if code == "FAILED_PRECONDITION"} == set(ACTIONS), dict(
        OUTCOMES
    )
    profile = settings.get_profile(PROFILE)
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            profile,
            max_examples=max(4, profile.max_examples // 3),
            stateful_step_count=15,
        ),
    )
    print(dict(OUTCOMES))
