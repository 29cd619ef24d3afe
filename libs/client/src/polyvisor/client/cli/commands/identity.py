"""`polyvisor project|user|role|api key ...`: what the IdentityService allows (projects and
users for admins; role assignments; each user's own API keys)."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli.context import Ctx
from polyvisor.client.serialize import to_dict
from polyvisor.identity.v1 import identity_pb2

__all__ = ["register"]

PROJECT_COLUMNS = {"id": "ID", "name": "Name", "enabled": "Enabled", "description": "Description"}
USER_COLUMNS = {"id": "ID", "name": "Name", "email": "Email", "enabled": "Enabled",
                "default_project_id": "Default project"}  # fmt: skip
ROLE_COLUMNS = {"user_id": "User", "project_id": "Project", "role": "Role"}
KEY_COLUMNS = {"id": "ID", "name": "Name", "project_id": "Project", "prefix": "Prefix",
               "expire_time": "Expires"}  # fmt: skip
ROLES = ("admin", "member", "reader")


def _flat(msg: Any) -> dict[str, Any]:
    """The message's fields by name (enums by name, without their prefix)."""
    data = to_dict(msg)
    if "role" in data:
        data["role"] = str(data["role"]).removeprefix("ROLE_").lower()
    return data


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    g = groups.add_parser("project", help="projects (admin)")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("list", parents=[out], help="list projects")
    p.set_defaults(handler=project_list)
    p = sub.add_parser("show", parents=[out], help="show a project")
    p.add_argument("project", help="name or id")
    p.set_defaults(handler=project_show)
    p = sub.add_parser("create", parents=[out], help="create a project")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(handler=project_create)
    p = sub.add_parser("delete", parents=[out], help="delete projects")
    p.add_argument("projects", nargs="+", metavar="project", help="name or id")
    p.set_defaults(handler=project_delete)

    g = groups.add_parser("user", help="users (admin)")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("list", parents=[out], help="list users")
    p.add_argument("--project", default="", help="only users with a role on this project")
    p.set_defaults(handler=user_list)
    p = sub.add_parser("show", parents=[out], help="show a user")
    p.add_argument("user", help="name or id")
    p.set_defaults(handler=user_show)
    p = sub.add_parser("create", parents=[out], help="create a user")
    p.add_argument("name")
    p.add_argument("--password", default="", help="(none: the user logs in with API keys only)")
    p.add_argument("--email", default="")
    p.add_argument("--project", default="", help="default project (name or id)")
    p.set_defaults(handler=user_create)
    p = sub.add_parser("delete", parents=[out], help="delete users")
    p.add_argument("users", nargs="+", metavar="user", help="name or id")
    p.set_defaults(handler=user_delete)

    g = groups.add_parser("role", help="role assignments: a user's role on a project")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("list", parents=[out], help="list role assignments")
    p.add_argument("--user", default="", help="name or id")
    p.add_argument("--project", default="", help="name or id")
    p.set_defaults(handler=role_list)
    for action, text in (("add", "grant a role"), ("remove", "revoke a role")):
        p = sub.add_parser(action, parents=[out], help=f"{text} (admin)")
        p.add_argument("role", choices=ROLES)
        p.add_argument("--user", required=True, help="name or id")
        p.add_argument("--project", required=True, help="name or id")
        p.set_defaults(handler=role_change, grant=action == "add")

    g = groups.add_parser("api", help="API keys (`api key ...`)")
    gs = g.add_subparsers(dest="api_what", metavar="WHAT")
    gs.required = True
    k = gs.add_parser("key", help="your API keys (log in with --api-key)")
    sub = k.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("list", parents=[out], help="list your API keys")
    p.add_argument("--user", default="", help="another user's (admin; name or id)")
    p.set_defaults(handler=key_list)
    p = sub.add_parser("create", parents=[out], help="create an API key (its secret is shown once)")
    p.add_argument("name")
    p.add_argument("--project", default="", help="its project (default: the current one)")
    p.set_defaults(handler=key_create)
    p = sub.add_parser("delete", parents=[out], help="delete API keys (revokes their tokens)")
    p.add_argument("keys", nargs="+", metavar="key", help="name or id")
    p.set_defaults(handler=key_delete)


# ---------------------------------------------------------------------- projects


async def _project_id(ctx: Ctx, ref: str) -> str:
    return (await ctx.client().identity.get_project(ref)).id if ref else ""


async def project_list(ctx: Ctx, args: argparse.Namespace) -> int:
    items = [_flat(x) for x in await ctx.client().identity.list_projects()]
    ctx.out.rows(items, items, PROJECT_COLUMNS)
    return 0


async def project_show(ctx: Ctx, args: argparse.Namespace) -> int:
    data = _flat(await ctx.client().identity.get_project(args.project))
    ctx.out.show(data, data)
    return 0


async def project_create(ctx: Ctx, args: argparse.Namespace) -> int:
    project = await ctx.client().identity.create_project(args.name, description=args.description)
    data = _flat(project)
    ctx.out.show(data, data)
    return 0


async def project_delete(ctx: Ctx, args: argparse.Namespace) -> int:
    identity = ctx.client().identity
    for ref in args.projects:
        project = await identity.get_project(ref)
        await identity.delete_project(project.id)
        ctx.out.message(f"deleted project {project.name} ({project.id})")
    return 0


# ---------------------------------------------------------------------- users


async def _user_id(ctx: Ctx, ref: str) -> str:
    return (await ctx.client().identity.get_user(ref)).id if ref else ""


async def user_list(ctx: Ctx, args: argparse.Namespace) -> int:
    users = await ctx.client().identity.list_users(project_id=await _project_id(ctx, args.project))
    items = [_flat(x) for x in users]
    ctx.out.rows(items, items, USER_COLUMNS)
    return 0


async def user_show(ctx: Ctx, args: argparse.Namespace) -> int:
    data = _flat(await ctx.client().identity.get_user(args.user))
    ctx.out.show(data, data)
    return 0


async def user_create(ctx: Ctx, args: argparse.Namespace) -> int:
    user = await ctx.client().identity.create_user(
        args.name,
        password=args.password,
        email=args.email,
        default_project_id=await _project_id(ctx, args.project),
    )
    data = _flat(user)
    ctx.out.show(data, data)
    return 0


async def user_delete(ctx: Ctx, args: argparse.Namespace) -> int:
    identity = ctx.client().identity
    for ref in args.users:
        user = await identity.get_user(ref)
        await identity.delete_user(user.id)
        ctx.out.message(f"deleted user {user.name} ({user.id})")
    return 0


# ---------------------------------------------------------------------- roles


async def role_list(ctx: Ctx, args: argparse.Namespace) -> int:
    found = await ctx.client().identity.list_role_assignments(
        user_id=await _user_id(ctx, args.user), project_id=await _project_id(ctx, args.project)
    )
    items = [_flat(x) for x in found]
    ctx.out.rows(items, items, ROLE_COLUMNS)
    return 0


async def role_change(ctx: Ctx, args: argparse.Namespace) -> int:
    identity = ctx.client().identity
    user_id = await _user_id(ctx, args.user)
    project_id = await _project_id(ctx, args.project)
    if args.grant:
        assignment = await identity.grant_role(user_id, project_id, args.role)
    else:
        await identity.revoke_role(user_id, project_id, args.role)
        assignment = identity_pb2.RoleAssignment(user_id=user_id, project_id=project_id)
        assignment.role = identity_pb2.Role.Value(f"ROLE_{args.role.upper()}")
    data = _flat(assignment)
    ctx.out.show(data, data, title="granted" if args.grant else "revoked")
    return 0


# ---------------------------------------------------------------------- API keys


async def key_list(ctx: Ctx, args: argparse.Namespace) -> int:
    keys = await ctx.client().identity.list_api_keys(user_id=await _user_id(ctx, args.user))
    items = [_flat(x) for x in keys]
    ctx.out.rows(items, items, KEY_COLUMNS)
    return 0


async def key_create(ctx: Ctx, args: argparse.Namespace) -> int:
    key, secret = await ctx.client().identity.create_api_key(
        args.name, project_id=await _project_id(ctx, args.project)
    )
    data = {**_flat(key), "secret": secret}
    ctx.out.show(data, data)
    ctx.err.print("the secret is shown only now: keep it (polyvisor login --api-key SECRET)",
                  markup=False)  # fmt: skip
    return 0


async def key_delete(ctx: Ctx, args: argparse.Namespace) -> int:
    identity = ctx.client().identity
    keys = await identity.list_api_keys()
    for ref in args.keys:
        matches = [k for k in keys if ref in (k.id, k.name)]
        if len(matches) != 1:
            raise ValueError(
                f"{len(matches)} of your API keys are named {ref!r}: use an id"
                if matches
                else f"no API key of yours with name or id {ref!r}"
            )
        await identity.delete_api_key(matches[0].id)
        ctx.out.message(f"deleted API key {matches[0].name} ({matches[0].id})")
    return 0
