"""Retakes (`build --retake FILE`, `plan --retake FILE`, `--restore`) against the emulator."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.build import fresh_plan
from pipeline.errors import UserError
from pipeline.recipe import load_recipe
from pipeline.retakes import parse_retake_text
from tests.build_helpers import report, run_build, run_cli, wait_until, write_book, write_recipe


def _hashes(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.mp3"))}


def _settled(em: Any) -> dict[str, Any]:
    wait_until(lambda: em.stats()["tasks_open"] == 0, "the emulator's tasks to end")
    return dict(em.stats())


def test_retake_files_parse_with_notes_and_new_text() -> None:
    got = parse_retake_text("# retakes for X\n\n# misread the name\n2:3\n\n2:5 = A new sentence.  \n")
    assert [(r.chapter, r.segment, r.text, r.note) for r in got] == [
        (2, 3, None, "misread the name"), (2, 5, "A new sentence.", "")]
    with pytest.raises(UserError, match=r"retakes:2: expected CHAPTER:SEGMENT"):
        parse_retake_text("1:2\nthree\n")
    with pytest.raises(UserError, match="nothing to retake"):
        parse_retake_text("# only a note\n")


@pytest.mark.slow
def test_a_retake_of_two_segments_buys_two_tasks_and_rebuilds_only_their_chapter(
        tmp_path: Path, emulator: Callable[..., Any]) -> None:
    em = emulator()
    book = write_book(tmp_path / "book.md", chapters=3)
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "recipe.yaml", book, out)
    plan = fresh_plan(load_recipe(recipe), "audiocleaner")
    code, text = run_build(recipe, em.url, em.key)
    assert code == 0, text
    first = _settled(em)
    assert first["tasks_created"] == len(plan.jobs) and first["credits_charged"] == plan.credits
    before = _hashes(out)
    chapter = plan.active[1]
    new_text = "The harbour was quiet that night."
    retakes = tmp_path / "retakes.txt"
    retakes.write_text(f"# misread\n{chapter.index}:1\n{chapter.index}:2 = {new_text}\n", encoding="utf-8")
    credits = chapter.jobs[1].credits + 1  # the new text is one credit

    code, out_text, err = run_cli("plan", str(recipe), "--retake", str(retakes), "--backend", "audiocleaner",
                                  key=em.key)
    assert code == 0, err
    assert f"Retakes: 2 of 2 listed segments to read again, {credits} credits." in out_text
    assert _settled(em)["tasks_created"] == first["tasks_created"]  # plan sends nothing

    code, text = run_build(recipe, em.url, em.key, "--retake", str(retakes))
    assert code == 0, text
    after = _settled(em)
    assert after["tasks_created"] - first["tasks_created"] == 2
    assert after["credits_charged"] - first["credits_charged"] == credits
    assert report(out)["synthesis"]["credits_spent"] == credits
    changed = {name for name, digest in _hashes(out).items() if before.get(name) != digest}
    assert changed == {n for n in before if n.startswith("02 - ")}  # the second chapter's file, no other

    code, text = run_build(recipe, em.url, em.key)  # the takes are kept: nothing bought again
    assert code == 0, text
    assert _settled(em)["tasks_created"] == after["tasks_created"]

    code, text = run_build(recipe, em.url, em.key, "--restore", str(retakes))  # the first takes, from the cache
    assert code == 0, text
    assert _settled(em)["tasks_created"] == after["tasks_created"]
    assert _hashes(out) == before


@pytest.mark.parametrize(("lines", "message"), [
    ("9:0\n", "the plan has no chapter 9"),
    ("{ch}:999\n", "has segments 0 to"),
    ("{ch}:0 = " + "word " * 200 + "\n", "more than max_chars"),
])
def test_bad_retakes_are_one_line_and_buy_nothing(tmp_path: Path, lines: str, message: str) -> None:
    book = write_book(tmp_path / "book.md")
    recipe = write_recipe(tmp_path / "recipe.yaml", book, tmp_path / "out")
    ch = fresh_plan(load_recipe(recipe), "local").active[0].index
    retakes = tmp_path / "r.txt"
    retakes.write_text(lines.format(ch=ch), encoding="utf-8")
    code, out, err = run_cli("build", str(recipe), "--retake", str(retakes), "--backend", "local", "--yes")
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0] and "Traceback" not in err, err
    assert not (tmp_path / "out" / "clips").exists()
