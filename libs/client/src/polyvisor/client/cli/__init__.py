"""The `polyvisor` CLI (entry point `polyvisor.client.cli:main`)."""

from polyvisor.client.cli.app import main

__all__ = ["main"]
