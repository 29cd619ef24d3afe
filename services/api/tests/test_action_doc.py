"""docs/how-to-add-an-action.md matches the code: every file it names exists, every name it
cites is in the files it names, and its worked table entry uses
the fields `Transition` has."""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from pathlib import Path

from polyvisor.api.lifecycle import actions

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "how-to-add-an-action.md"
API = REPO / "services" / "api" / "src" / "polyvisor" / "api"
ROOTS = (REPO, API, API / "lifecycle")


def _doc() -> tuple[str, str]:
    """(prose, code): the page without its code blocks, and the code blocks."""
    parts = DOC.read_text().split("```")
    return "".join(parts[0::2]), "".join(parts[1::2])


def _cited(prose: str) -> list[str]:
    return re.findall(r"`([^`]+)`", prose)


def _is_path(token: str) -> bool:
    return "/" in token or token.endswith((".py", ".proto", ".md"))


def _resolve(token: str) -> Path | None:
    for root in ROOTS:
        if (root / token).exists():
            return root / token
    return None


def test_every_file_the_page_names_exists() -> None:
    prose, _ = _doc()
    paths = [t for t in _cited(prose) if _is_path(t)]
    assert len(paths) > 10
    assert [p for p in paths if _resolve(p) is None] == []


def test_every_name_the_page_cites_is_in_the_code() -> None:
    prose, _ = _doc()
    cited = _cited(prose)
    corpus = "\n".join(
        path.read_text()
        for path in [_resolve(t) for t in cited if _is_path(t)] + [API / "lifecycle"]
        if path is not None
        for path in ([path] if path.is_file() else sorted(path.glob("*.py")))
    )
    words = set(re.findall(r"\w+", corpus))
    missing = sorted(
        name
        for token in cited
        if not _is_path(token)
        for name in re.findall(r"[A-Za-z_]\w*", token)
        if name not in words
    )
    assert missing == []


def test_the_worked_entry_uses_what_the_table_offers() -> None:
    _, code = _doc()
    entry = code[code.index("Transition(") :]
    used = set(re.findall(r"^\s+(\w+)=", entry, re.MULTILINE))
    assert used and used <= {f.name for f in fields(actions.Transition)}
    assert {"what", "needs"} <= set(inspect.signature(actions._settled_in).parameters)
    for name in ("Transition", "Answer", "_settled_in", "ACTIONS", "Action"):
        assert hasattr(actions, name)
