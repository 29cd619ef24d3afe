"""`polyvisor login`: authenticate once, save endpoints, credentials and token."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from polyvisor.client.aio import AsyncClient
from polyvisor.client.cli.context import Ctx, UsageError
from polyvisor.client.config import (
    ENV_PASSWORD,
    ClientConfig,
    Credentials,
    dev_admin_credentials,
    dev_endpoints,
    iso_time,
    resolve_endpoints,
)


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    p = groups.add_parser(
        "login",
        parents=[out],
        help="authenticate and save the endpoints and credentials",
        description="Authenticate with a password or an API key, then save the endpoints, the "
        "credentials and the token (with its expiry) in the config file (mode 0600).",
    )
    p.add_argument("--api", metavar="URL", help="api endpoint (default: as resolved now)")
    p.add_argument("--image", metavar="URL", help="image service endpoint")
    p.add_argument("--project", default="", help="project name or id (default: the user's)")
    p.add_argument("--username", default="")
    cred = p.add_mutually_exclusive_group()
    cred.add_argument("--password", help=f"password (default: ${ENV_PASSWORD}, else prompt)")
    cred.add_argument("--api-key", help="an API key secret instead of a user name and password")
    cred.add_argument("--dev", action="store_true",
                      help="as the admin `./dev up` bootstrapped, on the stack's current endpoints "
                           "(from .polyvisor/endpoints.json)")  # fmt: skip
    p.set_defaults(handler=login)


async def login(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.dev:
        dev = dev_admin_credentials()
        if dev is None:
            raise UsageError(
                "--dev: no dev stack admin found (run ./dev up; see .polyvisor/endpoints.json)"
            )
        creds = dev
    elif args.api_key:
        creds = Credentials(api_key=args.api_key)
    else:
        if not args.username:
            raise UsageError("give --username (with --password) or --api-key")
        password = args.password or os.environ.get(ENV_PASSWORD, "")
        if not password and sys.stdin.isatty():
            password = getpass.getpass(f"Password for {args.username}: ")
        if not password:
            raise UsageError(
                "no password: give --password, set POLYVISOR_PASSWORD, or use a terminal"
            )
        creds = Credentials(username=args.username, password=password, project=args.project)
    previous = ctx.load_config()
    api_arg, image_arg = args.api or args.api_url, args.image or args.image_url
    if args.dev:
        # The stack running now, not the endpoints saved by an earlier login (its ports may
        # have changed since), nor the environment's; explicit arguments still win.
        dev_api, dev_image = dev_endpoints()
        if not (api_arg or dev_api):
            raise UsageError("--dev: the dev stack's api is not running (see ./dev status)")
        api_arg, image_arg = api_arg or dev_api, image_arg or dev_image
    api, image = resolve_endpoints(api_arg, image_arg, previous)
    client = AsyncClient(
        api_url=str(api),
        image_url=str(image),
        username=creds.username or None,
        password=creds.password or None,
        project=creds.project or None,
        api_key=creds.api_key or None,
        config=ClientConfig(path=None),
        timeout=args.timeout,
    )
    try:
        token = await client.authenticate()
    finally:
        await client.close()
    saved = ClientConfig(
        api_url=str(api), image_url=str(image), credentials=creds, token=token, path=ctx.config_path
    )
    path = saved.save()
    view = {
        "user": token.user,
        "project": token.project,
        "project_id": token.project_id,
        "roles": list(token.roles),
        "expires_at": iso_time(token.expires_at),
        "api_url": str(api),
        "image_url": str(image),
        "config": str(path),
    }
    ctx.out.show(view, view)
    return 0
