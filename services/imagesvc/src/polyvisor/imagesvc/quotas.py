"""Per-project quotas on what images cost: stored bytes and conversion time.

A rendition costs what it is, not what its header claims: a 200 KiB qcow2 of 4 GiB virtual
size costs 200 KiB as uploaded, and its raw rendition 4 GiB (what a download of it streams),
which the owner project's stored-bytes quota must hold before the conversion starts. Other
renditions are bounded while they are written: qemu-img runs with a file size limit of what
the quota has left. Conversion time (wall clock) is counted per project over a sliding
window, and a conversion may run only as long as its project has time left. The owner of
the image pays, whoever asks (an agent booting a server of another project on a public image
spends the image owner's quota, once: renditions are cached).

Refusals are RESOURCE_EXHAUSTED naming the quota, what is used and what was needed.

Conversions reserve their bytes under a per-project lock, so replicas together never pass
the quota. Uploads are checked against what the project has left when they start and while
their bytes come (no reservation: uploads of one project running at the same moment may
together pass it by at most one upload's size). Conversion time is counted when a
conversion ends, and one project runs at most `conversions_per_project` at once per process.
"""

from __future__ import annotations

from dataclasses import dataclass

from polyvisor.common.errors import ResourceExhausted

__all__ = [
    "RULE_CONVERSION_TIME",
    "RULE_STORED_BYTES",
    "Quotas",
    "conversion_time_exhausted",
    "stored_bytes_exhausted",
]

RULE_STORED_BYTES = "stored-bytes-quota"
RULE_CONVERSION_TIME = "conversion-time-quota"


@dataclass(frozen=True, slots=True)
class Quotas:
    stored_bytes: int
    conversion_seconds: float
    window_s: float
    conversions_per_project: int = 1


def stored_bytes_exhausted(
    project: str, quota: int, left: int, need: int, what: str
) -> ResourceExhausted:
    return ResourceExhausted(
        f"refused by rule {RULE_STORED_BYTES}: {what} needs {need} bytes, project {project} "
        f"has {left} of its {quota} stored bytes left (POLYVISOR_PROJECT_MAX_STORED_BYTES)",
        {
            "quota": RULE_STORED_BYTES,
            "project": project,
            "limit": quota,
            "left": left,
            "need": need,
        },
    )


def conversion_time_exhausted(
    project: str, quota: float, window_s: float, used: float
) -> ResourceExhausted:
    return ResourceExhausted(
        f"refused by rule {RULE_CONVERSION_TIME}: project {project} used {used:.0f} of its "
        f"{quota:.0f} s of conversion time in the last {window_s:.0f} s; try again later",
        {"quota": RULE_CONVERSION_TIME, "project": project, "limit": quota, "used": round(used, 3)},
    )
