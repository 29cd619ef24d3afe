"""`./dev test`, `./dev bench` and `./dev logs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console

from deploy.dev.layout import REPO, Layout
from tests.fixtures import libvirt as libvirt_fixture
from tests.fixtures.vcsim import VcsimError, build_vcsim

console = Console(highlight=False, soft_wrap=True, stderr=True)
PYTEST_NO_TESTS = 5
BENCH_DIR = REPO / "bench"
#: Where `./dev test` keeps bytecode (see bytecode_env).
PYCACHE = REPO / ".polyvisor" / "pycache"


def _venv_tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def prepare_test_env() -> dict[str, str]:
    """Best effort: libvirtd running, vcsim built. Returns env hints for the tests."""
    env: dict[str, str] = {}
    uri, reason = libvirt_fixture.libvirt_uri()
    if reason is not None:
        console.print(
            f"[yellow]libvirtd unavailable ({reason}): tests needing it will skip or fail[/yellow]"
        )
    else:
        console.print(f"libvirt: {uri}")
    env["POLYVISOR_TEST_LIBVIRT_URI"] = uri
    try:
        binary = build_vcsim()
        console.print(f"vcsim: {binary}")
    except VcsimError as e:
        console.print(f"[red]vcsim could not be built: {e}[/red]")
    return env


def bytecode_env(environ: Mapping[str, str], cache: Path = PYCACHE) -> dict[str, str]:
    """Compiled bytecode kept for every Python process of a test run, under `cache`.

    The suite starts hundreds of Python processes (services, agents, the CLI, `./dev up`);
    each compiles every module it imports when no bytecode was kept (an api process: 2.0 s of
    CPU to import its modules, 0.7 s with their bytecode), as happens when the environment
    sets PYTHONDONTWRITEBYTECODE. The bytecode then goes to `cache`, never beside the
    sources; a PYTHONPYCACHEPREFIX already set is kept."""
    if environ.get("PYTHONPYCACHEPREFIX"):
        return {}
    cache.mkdir(parents=True, exist_ok=True)
    return {"PYTHONPYCACHEPREFIX": str(cache), "PYTHONDONTWRITEBYTECODE": ""}


def test(args: Sequence[str]) -> int:
    """The whole suite: pytest (extra args pass through), lint-imports, ruff check, mypy."""
    env = {**os.environ, **prepare_test_env(), **bytecode_env(os.environ)}
    lint_failed: list[str] = []
    for argv in (
        [_venv_tool("lint-imports")],
        [_venv_tool("ruff"), "check", "."],
        [_venv_tool("mypy")],  # its files and strictness: [tool.mypy] in pyproject.toml
    ):
        console.print(
            f"$ {' '.join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv))}"
        )
        if subprocess.run(argv, cwd=REPO, env=env, check=False).returncode != 0:
            lint_failed.append(Path(argv[0]).name)
    console.print(f"$ pytest {' '.join(args)}")
    code = subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=REPO, env=env, check=False
    ).returncode
    if code == PYTEST_NO_TESTS:
        console.print("[red]pytest collected no tests: that is a failure[/red]")
        return code
    if code != 0:
        console.print(f"[red]pytest failed (exit {code})[/red]")
        return code
    if lint_failed:
        console.print(f"[red]tests passed, but {', '.join(lint_failed)} failed[/red]")
        return 1
    console.print("[green]all green[/green]")
    return 0


def benchmarks() -> dict[str, list[str]]:
    """Benchmark name -> the command that runs it."""
    found: dict[str, list[str]] = {}
    if not BENCH_DIR.is_dir():
        return found
    for entry in sorted(BENCH_DIR.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir() and (entry / "run.py").is_file():
            found[entry.name] = [sys.executable, str(entry / "run.py")]
        elif entry.is_dir() and os.access(entry / "run", os.X_OK):
            found[entry.name] = [str(entry / "run")]
        elif entry.is_file() and os.access(entry, os.X_OK):
            found[entry.name] = [str(entry)]
    return found


def bench(args: Sequence[str]) -> int:
    """Run bench/NAME; its last stdout line must be one JSON object with its figures."""
    available = benchmarks()
    if not args:
        console.print("usage: ./dev bench NAME [ARGS]")
        console.print("benchmarks: " + (", ".join(available) if available else "(none yet)"))
        return 2
    name, rest = args[0], list(args[1:])
    if name not in available:
        console.print(
            f"[red]no benchmark {name!r}[/red]; available: {', '.join(available) or '(none)'}"
        )
        return 2
    env = {**os.environ, **prepare_test_env()}
    proc = subprocess.Popen(
        [*available[name], *rest], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.strip():
            last = line.strip()
    code = proc.wait()
    if code != 0:
        return code
    try:
        figures = json.loads(last)
    except ValueError:
        figures = None
    if not isinstance(figures, dict):
        console.print(f"[red]{name}: the last line of its output is not one JSON object[/red]")
        return 1
    return 0


def log_files(layout: Layout) -> dict[str, Path]:
    files = {p.stem: p for p in sorted(layout.logs.glob("*.log"))} if layout.logs.is_dir() else {}
    for name, path in (("postgres", layout.postgres / "postgres.log"),
                       ("nats", layout.nats / "nats.log"),
                       ("vcsim", layout.vcsim / "vcsim.log"),
                       ("libvirtd", Path("/var/log/libvirt/libvirtd.log"))):  # fmt: skip
        if path.exists():
            files[name] = path
    return files


def logs(args: Sequence[str], layout: Layout | None = None) -> int:
    """Follow one log (NAME, or a prefix of names) or all of them."""
    files = log_files(layout or Layout.default())
    if args:
        chosen = [p for n, p in files.items() if n == args[0]] or [
            p for n, p in files.items() if n.startswith(args[0])
        ]
        if not chosen:
            console.print(f"[red]no log {args[0]!r}[/red]; logs: {', '.join(files) or '(none)'}")
            return 2
    else:
        chosen = list(files.values())
        if not chosen:
            console.print("no logs yet: ./dev up first")
            return 2
    os.execvp("tail", ["tail", "-n", "50", "-F", *map(str, chosen)])
    return 0  # not reached
