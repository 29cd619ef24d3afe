"""Rebuild keeps the server on its host, so the new image is checked by the scheduler's image
filters against that host: refused with the scheduler's explanation (FAILED_PRECONDITION,
nothing started) when the host cannot run it, accepted otherwise. It keeps the server's power
state, as Nova's does: a running server is rebuilt running, a stopped one is rebuilt stopped
(the host is told to leave it off, and it is never seen running)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

from polyvisor.compute.v1 import flavors_pb2, server_actions_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import fault_pb2, hypervisor_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, Stack, eventually, wait_hosts
from tests.api.test_lifecycle import HOSTS, Env


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    agent = await stack.start_agent(*HOSTS)
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="small", name="small", vcpus=1, ram_mb=512, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    image = await admin.upload_image("boot", visibility=images_pb2.VISIBILITY_PUBLIC)
    member = await stack.new_project_user(admin, "member")
    await wait_hosts(admin, *HOSTS)
    return Env(stack, admin, member, agent, image.id)


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        ({"architecture": "aarch64"}, "architecture"),
        ({"hypervisor_type": hypervisor_pb2.HYPERVISOR_TYPE_VMWARE}, "hypervisor_type"),
    ],
    ids=["arm-image", "vmware-image"],
)
async def test_a_rebuild_to_an_image_the_host_cannot_run_is_refused_with_why(
    env: Env, props: dict[str, object], reason: str
) -> None:
    c = env.member
    s = await c.wait((await c.create_server(f"rb-{reason}", env.image_id, "small")).id,
                     st.SERVER_STATE_ACTIVE)  # fmt: skip
    other = await c.upload_image(f"other-{reason}", **props)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await c.compute.RebuildServer(
            servers_pb2.RebuildServerRequest(
                server_id=s.id,
                image_id=other.id,
                name="renamed",
                metadata_patch=servers_pb2.MetadataPatch(set={"k": "v"}),
            ),
            metadata=c.md,
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    text = exc.value.details() or ""
    assert f"stays on {s.host}" in text and f"{s.host} cannot run image {other.id}" in text
    assert reason in text
    after = await c.get(s.id)
    assert (after.state, after.task, after.image_id, after.name, dict(after.metadata)) == (
        st.SERVER_STATE_ACTIVE,
        st.SERVER_TASK_NONE,
        env.image_id,
        f"rb-{reason}",
        {},
    )  # refused: neither renamed nor its metadata changed
    assert not [x for x in env.commands(s.id) if x["verb"] == "rebuild"]
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)


async def test_a_rebuild_to_an_image_the_host_runs_starts(env: Env) -> None:
    """... renamed and with its metadata replaced in the same step, when asked (Nova's
    rebuild takes a name and metadata)."""
    c = env.member
    s = await c.wait((await c.create_server("rb-ok", env.image_id, "small",
                                            metadata={"old": "1", "kept": "2"})).id,
                     st.SERVER_STATE_ACTIVE)  # fmt: skip
    other = await c.upload_image("other-ok", architecture="x86_64")
    patch = servers_pb2.MetadataPatch(set={"new": "3"}, replace=True, keep=["kept"])
    resp = await c.compute.RebuildServer(
        servers_pb2.RebuildServerRequest(
            server_id=s.id, image_id=other.id, name="rb-ok-2", metadata_patch=patch
        ),
        metadata=c.md,
    )
    assert resp.server.task == st.SERVER_TASK_REBUILDING
    assert (resp.server.name, dict(resp.server.metadata)) == ("rb-ok-2", {"new": "3", "kept": "2"})
    bad = servers_pb2.RebuildServerRequest(server_id=s.id, image_id=other.id, name="")
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await c.compute.RebuildServer(bad, metadata=c.md)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)


async def _cli(env: Env, *argv: str, user: Client | None = None) -> tuple[int, Any, str]:
    """The `polyvisor` CLI as the member (or `user`): exit code, its JSON out, stderr."""
    stack = env.stack
    assert stack.imagesvc is not None
    os_env = {
        **os.environ,
        "POLYVISOR_API_URL": stack.apis[0].address,
        "POLYVISOR_IMAGE_URL": stack.imagesvc.address,
        "POLYVISOR_TOKEN": (user or env.member).token,
        "POLYVISOR_CONFIG": str(stack.root / "cli-rebuild.yaml"),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "polyvisor"), *argv, "-f", "json"],
        capture_output=True,
        text=True,
        env=os_env,
    )
    return done.returncode, json.loads(done.stdout or "null"), done.stderr


async def _actions(c: Client, server_id: str) -> list[server_actions_pb2.ServerAction]:
    resp = await c.compute.ListServerActions(
        server_actions_pb2.ListServerActionsRequest(server_id=server_id), metadata=c.md
    )
    return list(resp.actions)


async def _changes_since(c: Client, server_id: str, revision: int) -> list[servers_pb2.Server]:
    """The server as each change since `revision` left it, up to its settled rebuild."""
    seen: list[servers_pb2.Server] = []
    watch = c.compute.WatchServers(
        servers_pb2.WatchServersRequest(server_id=server_id, from_revision=revision),
        metadata=c.md,
    )

    async def read() -> None:
        async for change in watch:
            seen.append(change.server)
            if change.server.task == st.SERVER_TASK_NONE and seen[0].task != st.SERVER_TASK_NONE:
                return

    try:
        await asyncio.wait_for(read(), 30)
    finally:
        watch.cancel()
    return seen


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
async def test_a_rebuild_keeps_the_servers_power_state(env: Env, stopped: bool) -> None:
    c = env.member
    name = f"rb-power-{'off' if stopped else 'on'}"
    s = await c.wait((await c.create_server(name, env.image_id, "small")).id,
                     st.SERVER_STATE_ACTIVE)  # fmt: skip
    if stopped:
        await c.compute.StopServer(servers_pb2.StopServerRequest(server_id=s.id), metadata=c.md)
        s = await c.wait(s.id, st.SERVER_STATE_SHUTOFF)
    other = await c.upload_image(f"{name}-new", architecture="x86_64")
    resp = await c.compute.RebuildServer(
        servers_pb2.RebuildServerRequest(server_id=s.id, image_id=other.id, request_id=name),
        metadata=c.md,
    )
    assert resp.server.task == st.SERVER_TASK_REBUILDING
    assert resp.server.state == s.state  # in flight, it stays where it was
    changes = await _changes_since(c, s.id, s.revision)
    done = changes[-1]
    want_state = st.SERVER_STATE_SHUTOFF if stopped else st.SERVER_STATE_ACTIVE
    want_power = (
        hypervisor_pb2.POWER_STATE_SHUTDOWN if stopped else hypervisor_pb2.POWER_STATE_RUNNING
    )
    assert (done.state, done.power_state, done.image_id) == (want_state, want_power, other.id)
    assert {x.task for x in changes[:-1]} == {st.SERVER_TASK_REBUILDING}
    if stopped:  # never shown running on the way
        assert {x.state for x in changes} == {st.SERVER_STATE_SHUTOFF}
        assert hypervisor_pb2.POWER_STATE_RUNNING not in {x.power_state for x in changes}
    # The host was told to rebuild it off (or on), and nothing else: no start, no stop after.
    sent = env.commands(s.id)
    rebuilds = [x for x in sent if x["verb"] == "rebuild"]
    assert [(x["image_id"], x["powered_off"]) for x in rebuilds] == [(other.id, stopped)]
    assert sent[-1]["verb"] == "rebuild"
    # (the stop's power-off may have been sent again after a timeout on a loaded machine)
    assert {x["verb"] for x in sent if x["verb"] in ("power_on", "power_off")} == (
        {"power_off"} if stopped else set()
    )
    # One rebuild action, closed successfully; nothing else was started for it.
    actions = await eventually(
        lambda: _actions(c, s.id), lambda got: all(a.HasField("finish_time") for a in got)
    )
    want = ["rebuild", "stop", "create"] if stopped else ["rebuild", "create"]
    assert [a.action for a in actions] == want
    assert actions[0].request_id == name
    assert actions[0].result == server_actions_pb2.SERVER_ACTION_RESULT_SUCCESS
    # The CLI's --wait ends there too (it waits for ACTIVE or SHUTOFF, settled).
    code, out, err = await _cli(env, "server", "rebuild", s.id, "--image", env.image_id, "--wait")
    assert code == 0, err
    assert (out["state"], out["image_id"]) == ("SHUTOFF" if stopped else "ACTIVE", env.image_id)
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)


async def test_a_server_whose_rebuild_failed_is_rebuilt_again_and_comes_back(env: Env) -> None:
    """A failed rebuild leaves the server ERROR on its host (its old disk may be gone); as
    Nova's, a new rebuild is the way back, not only a delete: ACTIVE on the new image, on the
    same host."""
    c = env.member
    s = await c.wait((await c.create_server("rb-again", env.image_id, "small",
                                            metadata={"fake.power": "fail_first"})).id,
                     st.SERVER_STATE_ACTIVE)  # fmt: skip
    first = await c.upload_image("rb-again-1", architecture="x86_64")
    await c.compute.RebuildServer(
        servers_pb2.RebuildServerRequest(server_id=s.id, image_id=first.id), metadata=c.md
    )
    failed = await c.wait(s.id, st.SERVER_STATE_ERROR)
    assert failed.fault.code == fault_pb2.FAULT_CODE_REBUILD_FAILED, failed.fault
    assert (failed.host, failed.task) == (s.host, st.SERVER_TASK_NONE)
    second = await c.upload_image("rb-again-2", architecture="x86_64")
    resp = await c.compute.RebuildServer(
        servers_pb2.RebuildServerRequest(server_id=s.id, image_id=second.id), metadata=c.md
    )
    assert resp.server.task == st.SERVER_TASK_REBUILDING
    back = await c.wait(s.id, st.SERVER_STATE_ACTIVE)
    assert (back.image_id, back.host, back.power_state) == (
        second.id,
        s.host,
        hypervisor_pb2.POWER_STATE_RUNNING,
    )
    assert not back.HasField("fault")
    rebuilds = [x for x in env.commands(s.id) if x["verb"] == "rebuild"]
    assert [(x["image_id"], x["powered_off"]) for x in rebuilds] == [
        (first.id, False),
        (second.id, False),
    ]
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)


async def test_an_admin_resets_a_servers_state_then_it_is_rebuilt_from_error(env: Env) -> None:
    """Nova's os-resetState (admin): ERROR, then a rebuild brings it back; ACTIVE again by
    hand. A member may not; only ACTIVE and ERROR are states to reset to."""
    c, admin = env.member, env.admin
    s = await c.wait((await c.create_server("rb-reset", env.image_id, "small")).id,
                     st.SERVER_STATE_ACTIVE)  # fmt: skip

    def reset(state: int) -> servers_pb2.ResetServerStateRequest:
        return servers_pb2.ResetServerStateRequest(server_id=s.id, state=state)  # type: ignore[arg-type]

    for who, state, code in (
        (c, st.SERVER_STATE_ERROR, grpc.StatusCode.PERMISSION_DENIED),
        (admin, st.SERVER_STATE_SHUTOFF, grpc.StatusCode.INVALID_ARGUMENT),
        (admin, st.SERVER_STATE_UNSPECIFIED, grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await who.compute.ResetServerState(reset(state), metadata=who.md)
        assert exc.value.code() == code, (state, exc.value.details())
    assert (await c.get(s.id)).state == st.SERVER_STATE_ACTIVE  # a refusal changes nothing

    r = await admin.compute.ResetServerState(reset(st.SERVER_STATE_ERROR), metadata=admin.md)
    assert (r.server.state, r.server.task, r.server.host) == (
        st.SERVER_STATE_ERROR,
        st.SERVER_TASK_NONE,
        s.host,
    )
    other = await c.upload_image("rb-reset-new", architecture="x86_64")
    await c.compute.RebuildServer(
        servers_pb2.RebuildServerRequest(server_id=s.id, image_id=other.id), metadata=c.md
    )
    back = await c.wait(s.id, st.SERVER_STATE_ACTIVE)
    assert (back.image_id, back.host) == (other.id, s.host)
    # The CLI, as `openstack server set --state`: the admin's, then the member's (refused).
    for state in ("error", "active"):
        code, out, err = await _cli(env, "server", "set", s.id, "--state", state, user=admin)
        assert code == 0, err
        assert out["state"] == state.upper()
    code, _, err = await _cli(env, "server", "set", s.id, "--state", "error")
    assert code != 0 and "admin" in err.lower(), err
    assert (await c.get(s.id)).state == st.SERVER_STATE_ACTIVE
    # Each reset is in the history, done; the rebuild between them too.
    actions = await eventually(
        lambda: _actions(c, s.id), lambda got: all(a.HasField("finish_time") for a in got)
    )
    assert [a.action for a in actions] == [  # newest first
        "reset_state",
        "reset_state",
        "rebuild",
        "reset_state",
        "create",
    ]
    assert {a.result for a in actions} == {server_actions_pb2.SERVER_ACTION_RESULT_SUCCESS}
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)
