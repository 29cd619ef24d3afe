"""The committed generated code is exactly what scripts/gen-protos produces."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
GENERATED = ROOT / "libs" / "proto" / "src" / "polyvisor"
GEN_SCRIPT = ROOT / "scripts" / "gen-protos"


def _tree(root: Path) -> dict[str, Path]:
    return {
        p.relative_to(root).as_posix(): p
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_committed_code_matches_a_fresh_generation(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(GEN_SCRIPT), "--out", str(tmp_path)], check=True)
    fresh = _tree(tmp_path / "polyvisor")
    committed = _tree(GENERATED)

    missing = sorted(set(fresh) - set(committed))
    extra = sorted(set(committed) - set(fresh))
    changed = sorted(
        name
        for name in set(fresh) & set(committed)
        if not filecmp.cmp(fresh[name], committed[name], shallow=False)
    )
    hint = "run scripts/gen-protos and commit libs/proto/src"
    assert not missing, f"not generated yet: {missing}; {hint}"
    assert not extra, f"stale generated files: {extra}; {hint}"
    assert not changed, f"generated files differ: {changed}; {hint}"


def test_generation_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        subprocess.run([sys.executable, str(GEN_SCRIPT), "--out", str(tmp_path / name)], check=True)
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert sorted(first) == sorted(second)
    assert all(first[n].read_bytes() == second[n].read_bytes() for n in first)


def test_every_proto_has_generated_modules() -> None:
    for proto in sorted(PROTOS.rglob("*.proto")):
        rel = proto.relative_to(PROTOS).with_suffix("")
        base = GENERATED.parent / rel.parent / rel.name
        assert base.with_name(rel.name + "_pb2.py").is_file(), rel
        assert base.with_name(rel.name + "_pb2.pyi").is_file(), rel


def test_polyvisor_stays_a_namespace_package() -> None:
    assert not (GENERATED / "__init__.py").exists()
    for area in sorted(p for p in GENERATED.iterdir() if p.is_dir()):
        assert (area / "__init__.py").is_file(), area
        assert (area / "v1" / "__init__.py").is_file(), area
