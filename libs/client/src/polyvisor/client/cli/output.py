"""How the CLI prints results: `-f table` (rich, for people), `-f json` / `-f yaml` (every
field, for scripts), `-f value` (bare values, one line per row, for shell variables).
`-c FIELD` (repeatable) keeps only those fields.

A resource is printed from two dicts: `full` (serialize.to_dict: every field, what json and
yaml print) and `view` (a flat, ordered selection with readable values: what table and value
print). Keys are proto field names in both, so `-c state` works in every format.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

import yaml
from rich import box
from rich.console import Console
from rich.table import Table

__all__ = ["FORMATS", "Output", "make_console", "text"]

FORMATS = ("table", "json", "yaml", "value")


def make_console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """A console on the current sys.stdout/err; wide when not a terminal, so piped tables do
    not wrap mid-value."""
    stream = file or (sys.stderr if stderr else sys.stdout)
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = 200
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def text(value: Any) -> str:
    """A value as one line of table text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value)
    return str(value)


def _select(data: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    if not columns:
        return dict(data)
    out: dict[str, Any] = {}
    for col in columns:
        node: Any = data
        for part in col.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        out[col] = node
    return out


class Output:
    def __init__(
        self, fmt: str = "table", columns: Sequence[str] = (), console: Console | None = None
    ) -> None:
        self.fmt = fmt
        self.columns = list(columns)
        self.console = console or make_console()

    def _dump(self, data: Any) -> None:
        if self.fmt == "json":
            self.console.file.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
        else:
            self.console.file.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
        self.console.file.flush()

    def show(
        self, full: Mapping[str, Any], view: Mapping[str, Any], *, title: str | None = None
    ) -> None:
        """One resource."""
        if self.fmt in ("json", "yaml"):
            self._dump(_select(full, self.columns))
            return
        data = _select(view, self.columns) if self.columns else dict(view)
        if self.fmt == "value":
            for value in data.values():
                self.console.file.write(text(value) + "\n")
            self.console.file.flush()
            return
        table = Table(
            "Field", "Value", box=box.ASCII2, title=title, title_justify="left", show_lines=False
        )
        for key, value in data.items():
            table.add_row(key, text(value))
        self.console.print(table)

    def rows(
        self,
        full: Sequence[Mapping[str, Any]],
        view: Sequence[Mapping[str, Any]],
        headers: Mapping[str, str],
        *,
        title: str | None = None,
    ) -> None:
        """A list of resources. `headers`: view key -> column title, in order."""
        if self.fmt in ("json", "yaml"):
            self._dump([_select(item, self.columns) for item in full])
            return
        keys = self.columns or list(headers)
        if self.fmt == "value":
            for item in view:
                picked = _select(item, keys)
                self.console.file.write(" ".join(text(v) for v in picked.values()) + "\n")
            self.console.file.flush()
            return
        table = Table(
            *(headers.get(k, k) for k in keys), box=box.ASCII2, title=title, title_justify="left"
        )
        for item in view:
            picked = _select(item, keys)
            table.add_row(*(text(v) for v in picked.values()))
        self.console.print(table)

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None
    ) -> None:
        """A plain extra table, in table format only (e.g. the ESXi hosts of a cluster)."""
        if self.fmt != "table":
            return
        table = Table(*headers, box=box.ASCII2, title=title, title_justify="left")
        for row in rows:
            table.add_row(*(text(v) for v in row))
        self.console.print(table)

    def message(self, line: str) -> None:
        """A line for people (table format only; scripts get data, not prose)."""
        if self.fmt == "table":
            self.console.print(line, markup=False)
