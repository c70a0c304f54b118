"""`audiobook plan` on hostile books (tests/ingest/hostile.py): one clear line, exit 2.

Never a traceback, a RecursionError, a hang or silently lost text: the error line
names the file (and the member, line or cap); books that can be read are, with a
warning saying what happened. Peak memory per book: bench/hostile_rss.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.errors import BookError
from pipeline.ingest import load_book
from tests.ingest import hostile
from tests.ingest import hostile_epub as E
from tests.ingest import hostile_md as M
from tests.ingest.hostile import Hostile

# The CLI's click argument (pipeline/cli/options.py: dir_okay=False) answers a directory
# itself, with its usage lines, before the ingest sees the path.
CLICK_OWNED = {"not_a_file"}
SLOW = {"md_token_bomb"}  # ~8 s of markdown-it: through the CLI only


def plan(capsys: pytest.CaptureFixture[str], book: Path) -> tuple[int, list[str]]:
    code = main(["plan", str(book), "--backend", "local"])
    _out, err = capsys.readouterr()
    return code, [line for line in err.splitlines() if line.strip()]


def params(cases: tuple[Hostile, ...]) -> list[object]:
    return [pytest.param(c, id=c.name) for c in cases if not c.bench_only]


@pytest.mark.parametrize("case", params(hostile.ERRORS))
def test_hostile_book_is_one_clear_error(case: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = case.write(tmp_path, False)
    code, lines = plan(capsys, book)
    assert code == case.exit_code, lines
    assert lines and lines[0].startswith("Error: "), lines
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("Tip: ")), lines
    for word in case.expect:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("case", [c for c in hostile.ERRORS if c.name not in CLICK_OWNED | SLOW | {"wrong_extension"}
                                  and not c.bench_only], ids=lambda c: c.name)
def test_hostile_book_is_a_book_error_in_the_library(case: Hostile, tmp_path: Path) -> None:
    """The same books through `load_book` (no recipe layer): a BookError naming the file."""
    book = case.write(tmp_path, False)
    assert book.suffix in (".epub", ".md"), "a non-book suffix is answered by the recipe layer, not load_book"
    with pytest.raises(BookError) as info:
        load_book(book)
    assert book.name in info.value.message and "\n" not in info.value.message


def test_directory_as_book_in_the_library(tmp_path: Path) -> None:
    with pytest.raises(BookError, match="is a directory, not a book file"):
        load_book(M.not_a_file(tmp_path, False))
    with pytest.raises(BookError, match="not a regular file"):
        load_book(M.fifo(tmp_path, False))
    with pytest.raises(BookError, match="symbolic link loop"):
        load_book(M.symlink_loop(tmp_path, False))


@pytest.mark.parametrize("case", params(hostile.WARNINGS))
def test_hostile_but_readable_book_plans_with_a_warning(case: Hostile, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    book = case.write(tmp_path, False)
    code, lines = plan(capsys, book)
    assert code == 0, lines
    assert not any(line.startswith(("Error", "Internal error", "Traceback")) for line in lines), lines
    warnings = [line for line in lines if line.startswith("Warning: ")]
    for word in case.expect:
        assert any(word in w for w in warnings), (word, warnings)


def test_traversal_members_are_never_written(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    book = E.zip_traversal(work, False)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, _ = plan(capsys, book)
    assert code == 2
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not os.path.exists("/abs.txt") or Path("/abs.txt").read_bytes() != b"owned"


def test_there_are_at_least_twenty_hostile_books() -> None:
    assert len(hostile.ERRORS) >= 20 and len({c.name for c in hostile.ALL}) == len(hostile.ALL)


@pytest.mark.parametrize("fmt", ["epub", "md"])
def test_a_books_own_noncharacters_never_act_as_the_readers_marks(fmt: str, tmp_path: Path) -> None:
    """U+FDD0..U+FDEF mark stage directions and language passages inside the readers; a
    book that contains them (by accident or on purpose) has them removed first."""
    from tests.ingest.scenarios import build_epub, xhtml

    hostile_text = "Before \ufdd4fr\ufdd5 a fake passage \ufdd6 and \ufdd0 a fake direction\ufdd1 after."
    if fmt == "epub":
        path = build_epub(tmp_path / "b.epub", [("c.xhtml", xhtml(f"<h1>One</h1><p>{hostile_text}</p>"))])
    else:
        path = tmp_path / "b.md"
        path.write_text(f"# One\n\n{hostile_text}\n", encoding="utf-8")
    blocks = [b for c in load_book(path).chapters for b in c.blocks if b.kind == "paragraph"]
    assert [(b.text, b.lang, b.joined) for b in blocks] == [
        ("Before fr a fake passage and a fake direction after.", None, False)]
