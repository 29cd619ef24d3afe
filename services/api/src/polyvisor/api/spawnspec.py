"""What a server's build needs after the create call returned: kept with the server (column
`spawn`) as JSON, read when it is scheduled and when its spawn command is built."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from polyvisor.api import models as m
from polyvisor.api.lifecycle import Command


def build(
    image: m.ImageInfo,
    public_keys: list[str],
    hostname: str,
    hints: dict[str, Any],
    console_type: str = "VNC",
) -> dict[str, Any]:
    return {
        "image": asdict(image),
        "public_keys": public_keys,
        "hostname": hostname,
        "hints": hints,
        "console_type": console_type,
    }


def image_of(spawn: dict[str, Any]) -> m.ImageInfo:
    data = dict(spawn.get("image") or {})
    data["renditions"] = tuple(tuple(r) for r in data.get("renditions") or ())
    return m.ImageInfo(**data)


def command_payload(cmd: Command, attempt: int = 0) -> dict[str, Any]:
    return {
        "verb": cmd.verb,
        "host": cmd.host,
        "generation": cmd.generation,
        "deadline": cmd.deadline.isoformat() if cmd.deadline else None,
        "hard": cmd.hard,
        "reason": cmd.reason,
        "request_id": cmd.request_id,
        "attempt": attempt,
    }


def hostname_for(name: str) -> str:
    """A guest hostname from a display name (RFC 1123 label, at most 63 characters)."""
    out = []
    for ch in name.lower():
        if ch.isascii() and (ch.isalnum() or ch == "-"):
            out.append(ch)
        elif ch in " _.":
            out.append("-")
    label = "".join(out).strip("-")[:63].strip("-")
    return label or "server"
