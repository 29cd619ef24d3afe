"""The CLI's identity and server group commands against the real api: projects, users, role
assignments, API keys, server groups; list, create, delete, as the IdentityService allows."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api.stack import Client, Stack

CLI = Path(sys.executable).parent / "polyvisor"


async def run(stack: Stack, c: Client, tmp: Path, *argv: str) -> tuple[int, Any, str]:
    env = {
        **os.environ,
        "POLYVISOR_API_URL": stack.apis[0].address,
        "POLYVISOR_IMAGE_URL": stack.imagesvc.address if stack.imagesvc else "127.0.0.1:1",
        "POLYVISOR_TOKEN": c.token,
        "POLYVISOR_CONFIG": str(tmp / "config.yaml"),
    }
    done = await asyncio.to_thread(
        subprocess.run, [str(CLI), *argv, "-f", "json"], capture_output=True, text=True, env=env
    )
    out = json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else None
    return done.returncode, out, done.stderr


@pytest.fixture(scope="module")
async def admin(stack: Stack) -> Client:
    return await stack.admin()


async def test_projects_users_roles(stack: Stack, admin: Client, tmp_path: Path) -> None:
    code, project, err = await run(stack, admin, tmp_path, "project", "create", "blue")
    assert code == 0, err
    code, user, err = await run(stack, admin, tmp_path, "user", "create", "ann",
                                "--password", "a-long-password-1", "--project", "blue")  # fmt: skip
    assert code == 0, err
    assert user["name"] == "ann" and user["default_project_id"] == project["id"]
    code, _, err = await run(stack, admin, tmp_path, "role", "add", "member",
                             "--user", "ann", "--project", "blue")  # fmt: skip
    assert code == 0, err
    code, roles, _ = await run(stack, admin, tmp_path, "role", "list", "--project", "blue")
    assert [(r["user_id"], r["role"]) for r in roles] == [(user["id"], "member")]
    code, users, _ = await run(stack, admin, tmp_path, "user", "list", "--project", "blue")
    assert [u["name"] for u in users] == ["ann"]
    code, projects, _ = await run(stack, admin, tmp_path, "project", "list")
    assert "blue" in [p["name"] for p in projects]
    code, _, err = await run(stack, admin, tmp_path, "role", "remove", "member",
                             "--user", "ann", "--project", "blue")  # fmt: skip
    assert code == 0, err
    code, roles, _ = await run(stack, admin, tmp_path, "role", "list", "--project", "blue")
    assert roles == []
    # a private flavor given to the project by name, with a property, then both taken back
    code, _, err = await run(stack, admin, tmp_path, "flavor", "create", "blue-only", "--vcpus",
                             "1", "--ram", "64", "--private")  # fmt: skip
    assert code == 0, err
    code, f, err = await run(stack, admin, tmp_path, "flavor", "set", "blue-only", "--project",
                             "blue", "--property", "k=v", "--description", "for blue")  # fmt: skip
    assert code == 0, err
    assert (f["project_ids"], f["extra_specs"], f["description"]) == (
        [project["id"]], {"k": "v"}, "for blue"
    )  # fmt: skip
    code, f, err = await run(stack, admin, tmp_path, "flavor", "unset", "blue-only", "--project",
                             "blue", "--property", "k")  # fmt: skip
    assert code == 0 and not f.get("project_ids") and not f.get("extra_specs"), (f, err)
    code, _, err = await run(
        stack, admin, tmp_path, "flavor", "unset", "blue-only", "--property", "k"
    )
    assert code == 3, err  # not found: it has no such property any more
    assert (await run(stack, admin, tmp_path, "flavor", "delete", "blue-only"))[0] == 0
    assert (await run(stack, admin, tmp_path, "user", "delete", "ann"))[0] == 0
    assert (await run(stack, admin, tmp_path, "project", "delete", "blue"))[0] == 0
    code, projects, _ = await run(stack, admin, tmp_path, "project", "list")
    assert "blue" not in [p["name"] for p in projects]
    code, _, err = await run(stack, admin, tmp_path, "user", "show", "ann")
    assert code == 3, err  # not found


async def test_api_keys_and_server_groups(stack: Stack, admin: Client, tmp_path: Path) -> None:
    member = await stack.new_project_user(admin, "member")
    code, key, err = await run(stack, member, tmp_path, "api", "key", "create", "ci")
    assert code == 0 and key["secret"] and key["name"] == "ci", err
    code, keys, _ = await run(stack, member, tmp_path, "api", "key", "list")
    assert [k["name"] for k in keys] == ["ci"]
    assert (await run(stack, member, tmp_path, "api", "key", "delete", "ci"))[0] == 0
    assert (await run(stack, member, tmp_path, "api", "key", "list"))[1] == []

    code, group, err = await run(stack, member, tmp_path, "server", "group", "create", "web",
                                 "--policy", "anti-affinity")  # fmt: skip
    assert code == 0 and group["policy"] == "anti_affinity", err
    code, groups, _ = await run(stack, member, tmp_path, "server", "group", "list")
    assert [(g["name"], g["members"]) for g in groups] == [("web", [])]
    code, shown, _ = await run(stack, member, tmp_path, "server", "group", "show", "web")
    assert shown["id"] == group["id"]
    assert (await run(stack, member, tmp_path, "server", "group", "delete", "web"))[0] == 0
    assert (await run(stack, member, tmp_path, "server", "group", "list"))[1] == []
