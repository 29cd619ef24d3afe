"""`polyvisor completion bash|zsh`: the script, loaded into a real bash, completes commands,
subcommands, options and option choices from the parser of this version."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from polyvisor.client.cli import completion
from polyvisor.client.cli.app import build_parser, main

BASH = shutil.which("bash")


def complete(line: str, shell: str = "bash") -> list[str]:
    """What <TAB> offers at the end of `line` (a trailing space: a new word)."""
    script = completion.script(build_parser(), shell)
    words = line.split()
    if line.endswith(" "):
        words.append("")
    array = " ".join("'" + w + "'" for w in words)
    probe = f"""
{script}
COMP_WORDS=({array})
COMP_CWORD={len(words) - 1}
_polyvisor
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    assert BASH is not None
    done = subprocess.run([BASH, "-c", probe], capture_output=True, text=True, check=True)
    return sorted(done.stdout.split())


pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def test_top_level_commands() -> None:
    offered = complete("polyvisor ")
    assert {"server", "image", "flavor", "login", "completion"} <= set(offered)
    assert complete("polyvisor se") == ["security", "server"]


def test_subcommands_and_nested_groups() -> None:
    assert {"create", "rebuild", "shelve", "unshelve", "tag", "event"} <= set(
        complete("polyvisor server ")
    )
    assert complete("polyvisor server image ") == ["--help", "-h", "create"]
    # An option and its value in between do not change the command path.
    assert "add" in complete("polyvisor server --help tag ")


def test_options_of_the_command_and_their_choices() -> None:
    assert complete("polyvisor server create web-1 --wa") == ["--wait", "--wait-timeout"]
    assert complete("polyvisor server list --format ") == ["json", "table", "value", "yaml"]
    assert complete("polyvisor server list --format j") == ["json"]
    assert complete("polyvisor completion ") == ["--help", "-h", "bash", "zsh"]


def test_zsh_script_loads_bash_completion_and_the_command_prints_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["completion", "zsh"]) == 0
    out = capsys.readouterr().out
    assert "bashcompinit" in out and out.rstrip().endswith("complete -F _polyvisor polyvisor")
    assert main(["completion", "fish"]) == 2  # argparse refuses an unknown shell
