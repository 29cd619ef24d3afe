"""The `polyvisor` command line: argument parsing and dispatch."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from polyvisor.client.cli import completion, exitcodes
from polyvisor.client.cli.commands import (
    flavors,
    hypervisors,
    identity,
    images,
    keypairs,
    login,
    network,
    quotas,
    servers,
    volumes,
)
from polyvisor.client.cli.context import Ctx
from polyvisor.client.cli.output import FORMATS, make_console
from polyvisor.client.errors import PolyvisorClientError

__all__ = ["build_parser", "main", "run"]

DESCRIPTION = """\
Polyvisor: one cloud, KVM hosts and VMware clusters side by side.

Start with `polyvisor login`; then e.g.
  polyvisor image create cirros --file cirros.qcow2 --disk-format qcow2
  polyvisor server create web-1 --image cirros --flavor m1.small --wait
"""

ENVIRONMENT = """\
environment:
  POLYVISOR_API_URL, POLYVISOR_IMAGE_URL   endpoints (host:port; grpcs:// for TLS)
  POLYVISOR_NETWORK_URL                    the network service's endpoint
  POLYVISOR_VOLUME_URL                     the volume service's endpoint
  POLYVISOR_CONFIG                         config file (default ~/.config/polyvisor/config.yaml)
  POLYVISOR_API_KEY | POLYVISOR_USERNAME + POLYVISOR_PASSWORD [+ POLYVISOR_PROJECT]
  POLYVISOR_TOKEN                          credentials overriding the config file
"""


def _output_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("output")
    g.add_argument("-f", "--format", choices=FORMATS, default="table",
                   help="output format (default: table)")  # fmt: skip
    g.add_argument("-c", "--column", dest="columns", action="append", metavar="FIELD",
                   help="print only this field (repeatable; dotted paths in json/yaml)")  # fmt: skip
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polyvisor",
        description=DESCRIPTION,
        epilog=ENVIRONMENT + "\n" + exitcodes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--api-url", metavar="URL", help="api endpoint (compute, identity)")
    parser.add_argument("--image-url", metavar="URL", help="image service endpoint")
    parser.add_argument("--network-url", metavar="URL", help="network service endpoint")
    parser.add_argument("--volume-url", metavar="URL", help="volume service endpoint")
    parser.add_argument("--config", metavar="PATH", help="config file to read and write")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="deadline of each API call in seconds (default 60)")  # fmt: skip
    parser.add_argument("--poll-interval", type=float, default=1.0, metavar="S",
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND")
    groups.required = True
    out = _output_parent()
    for module in (
        login,
        servers,
        images,
        flavors,
        keypairs,
        hypervisors,
        quotas,
        network,
        volumes,
        identity,
    ):
        module.register(groups, out)
    completion.register(groups, parser)
    return parser


async def run(args: argparse.Namespace) -> int:
    ctx = Ctx(args)
    try:
        result = await args.handler(ctx, args)
        return int(result or 0)
    except (PolyvisorClientError, ValueError) as e:
        if args.debug:
            ctx.err.print_exception()
        return exitcodes.print_error(ctx.err, e)
    finally:
        await ctx.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        make_console(stderr=True).print("interrupted")
        return exitcodes.INTERRUPTED
    finally:
        sys.stdout.flush()
