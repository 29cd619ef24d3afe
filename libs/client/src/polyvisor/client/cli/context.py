"""What every command gets: parsed arguments, the output, and a lazily opened client."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from polyvisor.client.aio import AsyncClient
from polyvisor.client.cli.output import Output, make_console
from polyvisor.client.config import ClientConfig, config_path

__all__ = ["Ctx", "UsageError", "parse_kv"]


class UsageError(ValueError):
    """Bad arguments found after parsing (exit code 2)."""


def parse_kv(items: list[str] | None, what: str) -> dict[str, str]:
    """["k=v", ...] -> {k: v}; a missing "=" is a usage error."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} must be KEY=VALUE, not {item!r}")
        out[key.strip()] = value
    return out


class Ctx:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Output(
            getattr(args, "format", "table") or "table", getattr(args, "columns", None) or ()
        )
        self.err: Console = make_console(stderr=True)
        self._client: AsyncClient | None = None

    @property
    def config_path(self) -> Path:
        explicit = getattr(self.args, "config", None)
        return Path(explicit).expanduser() if explicit else config_path()

    def load_config(self) -> ClientConfig:
        return ClientConfig.load(self.config_path)

    def client(self) -> AsyncClient:
        if self._client is None:
            self._client = AsyncClient(
                api_url=self.args.api_url,
                image_url=self.args.image_url,
                network_url=getattr(self.args, "network_url", None),
                volume_url=getattr(self.args, "volume_url", None),
                config=self.load_config(),
                timeout=self.args.timeout,
                poll_interval=self.args.poll_interval,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
