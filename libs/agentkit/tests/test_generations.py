"""GenerationBook: stale and duplicate commands, and the journal across restarts."""

from __future__ import annotations

from pathlib import Path

from polyvisor.agentkit.commands import Command, Verb
from polyvisor.agentkit.generations import GenerationBook, Verdict


def cmd(cid: str, server: str, gen: int, verb: Verb = Verb.POWER_ON) -> Command:
    return Command(command_id=cid, server_id=server, generation=gen, verb=verb)


def test_older_generation_is_stale_newer_applies() -> None:
    book = GenerationBook()
    book.record(cmd("c2", "s1", 2))
    assert book.check(cmd("c1", "s1", 1)) == Verdict.STALE
    assert book.check(cmd("c3", "s1", 3)) == Verdict.APPLY
    assert book.check(cmd("c2b", "s1", 2)) == Verdict.APPLY  # same generation, other command
    assert book.check(cmd("x", "s2", 1)) == Verdict.APPLY  # other server
    assert book.check(cmd("u", "s1", 0)) == Verdict.APPLY  # unversioned


def test_same_command_id_is_a_duplicate_even_when_it_failed() -> None:
    book = GenerationBook()
    book.record(cmd("c1", "s1", 5), applied=False)
    assert book.check(cmd("c1", "s1", 5)) == Verdict.DUPLICATE
    # a failed command does not advance the generation: an older one still runs
    assert book.applied("s1") == 0
    assert book.check(cmd("c0", "s1", 4)) == Verdict.APPLY


def test_journal_survives_a_restart_and_compacts(tmp_path: Path) -> None:
    path = tmp_path / "state" / "generations.journal"
    book = GenerationBook(path, remember_ids=3)
    for i in range(1, 20):
        book.record(cmd(f"c{i}", "s1", i))
    book.record(cmd("d1", "s2", 7))
    lines_before = len(path.read_text().splitlines())
    again = GenerationBook(path, remember_ids=3)
    again.load()
    assert again.applied("s1") == 19
    assert again.applied("s2") == 7
    assert again.check(cmd("d1", "s2", 7)) == Verdict.DUPLICATE
    assert again.check(cmd("c1", "s1", 1)) == Verdict.STALE  # id forgotten, generation not
    # the journal stays bounded while written, and load compacts it to one line per
    # server plus the remembered ids
    assert lines_before <= 2 * (2 + 3) + 1
    assert len(path.read_text().splitlines()) == 2 + 3


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "g.journal"
    book = GenerationBook(path)
    book.record(cmd("c1", "s1", 3))
    with path.open("a") as fh:
        fh.write('{"s": "s1", "g": 9')  # the process died mid-write
    again = GenerationBook(path)
    again.load()
    assert again.applied("s1") == 3
