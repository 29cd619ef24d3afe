"""Exit codes scripts can rely on, and how each error is printed."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from polyvisor.client.errors import (
    ApiError,
    ConfigError,
    NotFound,
    PolyvisorClientError,
    ServerFault,
    WaitTimeout,
)
from polyvisor.client.serialize import to_dict

OK = 0
API_ERROR = 1
USAGE = 2
NOT_FOUND = 3
TIMEOUT = 4
INTERRUPTED = 130

HELP = """\
exit codes:
  0  success
  1  the API refused or failed the request (a server that ended in ERROR included)
  2  usage error: bad arguments, missing endpoint or credentials
  3  not found: the named resource does not exist
  4  timed out waiting (--wait) for a resource to reach the state asked for
"""


def code_for(exc: BaseException) -> int:
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, WaitTimeout):
        return TIMEOUT
    if isinstance(exc, ConfigError | ValueError):
        return USAGE
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    return API_ERROR


def _explanation_rows(nvh: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for f in nvh.get("filters") or []:
        examples = "\n".join(
            f"{e.get('host', '')}: {e.get('reason', '')}" for e in (f.get("examples") or [])[:3]
        )
        rows.append(
            [f.get("filter", ""), f.get("hosts_before", 0), f.get("hosts_removed", 0), examples]
        )
    return rows


def print_explanation(
    console: Console, nvh: dict[str, Any], *, summary_shown: bool = False
) -> None:
    """The scheduler's per-filter explanation as a short table."""
    summary = nvh.get("summary") or ""
    total = nvh.get("total_hosts")
    title = f"No valid host ({total} hosts considered)" if total is not None else "No valid host"
    if summary and not summary_shown:
        console.print(f"  {summary}", markup=False)
    rows = _explanation_rows(nvh)
    if rows:
        table = Table(
            "Filter",
            "Hosts in",
            "Removed",
            "Why (examples)",
            box=box.ASCII2,
            title=title,
            title_justify="left",
        )
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)


def print_fault(console: Console, fault: dict[str, Any], *, summary_shown: bool = False) -> None:
    table = Table("Fault", "Value", box=box.ASCII2)
    for key in ("code", "message", "host", "details", "time"):
        value = fault.get(key)
        if value:
            table.add_row(key, str(value))
    console.print(table)
    nvh = fault.get("no_valid_host")
    if nvh:
        print_explanation(console, nvh, summary_shown=summary_shown)


def _find_explanation(details: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("no_valid_host", "explanation"):
        value = details.get(key)
        if isinstance(value, dict):
            return value
    if isinstance(details.get("filters"), list):
        return details
    fault = details.get("fault")
    if isinstance(fault, dict) and isinstance(fault.get("no_valid_host"), dict):
        found: dict[str, Any] = fault["no_valid_host"]
        return found
    return None


def print_error(console: Console, exc: BaseException) -> int:
    """Print `exc` readably on `console` (stderr); return the exit code."""
    code = code_for(exc)
    if isinstance(exc, ServerFault):
        console.print(f"Error: {exc.message}", markup=False)
        print_fault(console, to_dict(exc.fault), summary_shown=True)
        return code
    if isinstance(exc, ApiError):
        console.print(f"Error ({exc.code.name}): {exc.message}", markup=False)
        nvh = _find_explanation(exc.details)
        if nvh is not None:
            print_explanation(console, nvh)
        rest = {
            k: v
            for k, v in exc.details.items()
            if nvh is None
            or k
            not in ("no_valid_host", "explanation", "filters", "fault", "total_hosts", "summary")
        }
        for key, value in rest.items():
            console.print(f"  {key}: {value}", markup=False)
        if exc.request_id:
            console.print(f"  request id: {exc.request_id}", markup=False)
        return code
    if isinstance(exc, PolyvisorClientError):
        console.print(f"Error: {exc.message}", markup=False)
        return code
    console.print(f"Error: {exc}", markup=False)
    return code
