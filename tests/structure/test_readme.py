"""What README.md and docs/conventions.md say about the repository holds."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from pydantic_settings import BaseSettings

from polyvisor.agentkit.settings import AgentSettings
from polyvisor.common.config import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "src").is_dir())


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _layout_paths() -> list[str]:
    block = _section(README, "Layout").split("```")[1]
    return [line.split()[0] for line in block.splitlines() if line and not line[0].isspace()]


def test_every_path_the_layout_names_exists() -> None:
    paths = _layout_paths()
    assert len(paths) > 10
    missing = [p for p in paths if not (REPO / p).exists()]
    assert missing == []


def test_the_layout_names_every_service_and_library() -> None:
    named = set(_layout_paths())
    members = [f"services/{s}/" for s in SERVICES] + [
        f"libs/{p.name}/" for p in (REPO / "libs").iterdir() if (p / "pyproject.toml").exists()
    ]
    assert [m for m in members if m not in named] == []


def test_files_the_layout_describes_are_there() -> None:
    """Names the layout gives inside a directory (protos/ buf.yaml, tests/ its kinds)."""
    layout = _section(README, "Layout")
    protos = re.search(r"^protos/\s+(.*)$", layout, re.M)
    assert protos is not None
    for name in re.findall(r"[\w.-]+\.yaml", protos.group(1)):
        assert (REPO / "protos" / name).exists(), name
    tests = re.search(r"^tests/\s+cross-service tests \(([^)]*)\)", layout, re.M)
    assert tests is not None
    for kind in [k.strip() for k in tests.group(1).split(",")]:
        assert (REPO / "tests" / kind).is_dir(), kind


def _settings_classes() -> list[type[BaseSettings]]:
    found: list[type[BaseSettings]] = [ServiceSettings, AgentSettings]
    for service in SERVICES:
        module = importlib.import_module(f"polyvisor.{service}.config")
        found += [
            v
            for v in vars(module).values()
            if isinstance(v, type)
            and issubclass(v, BaseSettings)
            and v.__module__ == module.__name__
        ]
    return found


def _env_names(cls: type[BaseSettings]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for name, info in cls.model_fields.items():
        names.add((prefix + name).upper())
        if isinstance(info.validation_alias, str):
            names.add(info.validation_alias.upper())
    return names


def test_every_variable_in_the_configuration_tables_is_read_by_a_settings_class() -> None:
    read = set().union(*(_env_names(c) for c in _settings_classes()))
    section = _section(README, "Configuration")
    table = [line for line in section.splitlines() if line.startswith("| `POLYVISOR_")]
    assert table
    named: set[str] = set()
    for line in table:
        first = line.split("|")[1]
        for var in re.findall(r"`(POLYVISOR_[A-Z_]+)`", first):
            named.add(var)
        # `POLYVISOR_BOOTSTRAP_ADMIN_USER` / `_PASSWORD`: the rest share the first one's stem
        stem = re.match(r"\s*`(POLYVISOR_[A-Z]+(?:_[A-Z]+)*?_)[A-Z]+`", first)
        for tail in re.findall(r"/ `_([A-Z_]+)`", first):
            assert stem is not None
            named.add(stem.group(1) + tail)
    assert sorted(named - read) == []


def _pointers(text: str) -> list[str]:
    """The paths out of its own folder (`../`) a page's prose points at: markdown link targets
    and backticked paths (code blocks aside)."""
    prose = "".join(text.split("```")[0::2])
    links = re.findall(r"\]\(([^)#\s]+)", prose)
    ticked = re.findall(r"`([^`\s]*/[^`\s]*)`", prose)
    return [p for p in links + ticked if p.startswith("../")]


def _inside(path: Path) -> bool:
    return REPO in path.resolve().parents


def test_the_docs_point_nowhere_outside_the_repository() -> None:
    """A relative path in README.md or docs/ names a place in the repository, seen from the
    page or from another of its folders (a path to write into a kustomization, a file the
    reader creates beside others)."""
    folders = {
        REPO,
        *(
            f.parent
            for f in REPO.rglob("*")
            if ".git" not in f.parts and ".venv" not in f.parts and ".polyvisor" not in f.parts
        ),
    }
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        outside = [
            p
            for p in _pointers(page.read_text())
            if not any(_inside(d / p) and (d / p).parent.is_dir() for d in folders)
        ]
        assert outside == [], f"{page.name} points outside the repository"


def _nats_match(pattern: str, subject: str) -> bool:
    pat, sub = pattern.split("."), subject.split(".")
    for i, token in enumerate(pat):
        if token == ">":
            return len(sub) > i
        if i >= len(sub) or (token != "*" and token != sub[i]):
            return False
    return len(pat) == len(sub)


def test_the_streams_table_is_the_streams_the_code_declares() -> None:
    """docs/conventions.md lists every JetStream stream the services declare, each with
    subjects that stream holds, and no other."""
    from polyvisor.common import grants, revocation, streams

    declared = {
        s.name: s.subjects for s in vars(streams).values() if isinstance(s, streams.StreamSpec)
    }
    declared[revocation.STREAM] = (f"{revocation.SUBJECT_PREFIX}.>",)
    declared[grants.STREAM] = (f"{grants.SUBJECT_PREFIX}.>",)
    section = _section((REPO / "docs" / "conventions.md").read_text(), "NATS subjects and streams")
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| `")]
    listed = {re.findall(r"`([A-Z_]+)`", row[1])[0]: row[2] for row in rows}
    assert sorted(listed) == sorted(declared)
    for name, cell in listed.items():
        for subject in re.findall(r"`([^`]+)`", cell):
            concrete = re.sub(r"<[^>]+>", "x", subject)
            assert any(_nats_match(p, concrete) for p in declared[name]), (name, subject)
