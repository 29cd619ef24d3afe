"""Nova's (and Cinder's) microversions: what a request asks for, what the gateway answers with.

A request names its version in `OpenStack-API-Version: compute 2.60` or the older
`X-OpenStack-Nova-API-Version: 2.60` (`latest` means MAX_VERSION); none means 2.1. A version
outside [MIN_VERSION, MAX_VERSION] is refused with 406, a malformed one with 400, as Nova
does. The answer names the version it was made for in both headers.

Cinder's are the same with `OpenStack-API-Version: volume 3.0` (no older header): the
gateway speaks VOLUME_MIN..VOLUME_MAX, which is Cinder's 3.0 base (its bodies have no field
of a later microversion).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from polyvisor.osapi.errors import ApiError

__all__ = [
    "LEGACY_V2",
    "MAX_VERSION",
    "MIN_VERSION",
    "VOLUME_MAX",
    "VOLUME_MIN",
    "Version",
    "is_legacy_v2",
    "negotiate",
    "negotiate_volume",
    "response_headers",
    "volume_headers",
]


class Version(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> Version:
        try:
            major, minor = text.strip().split(".")
            if not (major.isdigit() and minor.isdigit()):
                raise ValueError(text)
            return cls(int(major), int(minor))
        except ValueError:
            raise ApiError(400, f"Invalid API version request string {text!r}") from None


MIN_VERSION = Version(2, 1)
#: The newest compute microversion the gateway speaks (Nova 2024.2's is 2.96).
MAX_VERSION = Version(2, 96)
VOLUME_MIN = Version(3, 0)
#: The newest block-storage microversion the gateway speaks.
VOLUME_MAX = Version(3, 0)


#: Nova's v2.0 endpoint: the v2.1 API at 2.1 whatever the headers ask (no microversions).
LEGACY_V2 = "/compute/v2"


def is_legacy_v2(path: str) -> bool:
    return path == LEGACY_V2 or path.startswith(LEGACY_V2 + "/")


def _requested(headers: Mapping[str, str], service: str = "compute") -> str:
    combined = headers.get("OpenStack-API-Version", "")
    for part in combined.split(","):
        words = part.split()
        if len(words) == 2 and words[0].lower() == service:
            return words[1]
    return headers.get("X-OpenStack-Nova-API-Version", "") if service == "compute" else ""


def _negotiate(text: str, lo: Version, hi: Version) -> Version:
    text = text.strip()
    if not text:
        return lo
    if text.lower() == "latest":
        return hi
    wanted = Version.parse(text)
    if not lo <= wanted <= hi:
        raise ApiError(
            406,
            f"Version {wanted} is not supported by the API. Minimum is {lo} and maximum is {hi}.",
        )
    return wanted


def negotiate(headers: Mapping[str, str]) -> Version:
    """The version to answer `headers` with; ApiError 400/406 when it cannot be."""
    return _negotiate(_requested(headers), MIN_VERSION, MAX_VERSION)


def negotiate_volume(headers: Mapping[str, str]) -> Version:
    """Cinder's version to answer `headers` with; ApiError 400/406 when it cannot be."""
    return _negotiate(_requested(headers, "volume"), VOLUME_MIN, VOLUME_MAX)


def response_headers(version: Version) -> dict[str, str]:
    return {
        "OpenStack-API-Version": f"compute {version}",
        "X-OpenStack-Nova-API-Version": str(version),
        "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
    }


def volume_headers(version: Version) -> dict[str, str]:
    return {"OpenStack-API-Version": f"volume {version}", "Vary": "OpenStack-API-Version"}
