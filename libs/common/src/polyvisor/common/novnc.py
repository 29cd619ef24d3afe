"""Where noVNC is: Debian's novnc package's ES modules (core/, vendor/), vendored once by
scripts/vendor-web into this library's package data, for the two services that serve it to
browsers: the dashboard's console tab and the console proxy's own page (each from its own
origin, so each page loads it same-origin). Not in git: absent until vendor-web has run."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["novnc_dir"]


def novnc_dir() -> Path | None:
    """The directory holding core/rfb.js, or None when noVNC has not been vendored."""
    root = Path(str(files("polyvisor.common") / "static" / "novnc"))
    return root if (root / "core" / "rfb.js").is_file() else None
