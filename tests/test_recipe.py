"""Recipe validation: every bad scenario names file, line and key path, exit code 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.errors import RecipeError
from pipeline.recipe import load_recipe

SCENARIOS = Path(__file__).parent / "recipes"
REPO = Path(__file__).resolve().parent.parent

CASES = [
    ("unknown_key.yaml", "unknown_key.yaml:3: max_char: unknown key (did you mean 'max_chars'?)"),
    ("bad_speed.yaml", "bad_speed.yaml:6: chapters[1].speed: 1.5 is not a documented speed"),
    ("bad_emotion.yaml", "bad_emotion.yaml:2: emotion: 'hapy' is not one of"),
    ("missing_book.yaml", "missing_book.yaml:2: book: file not found"),
    ("bad_type.yaml", "bad_type.yaml:5: max_chars: expected a whole number, got a string ('five hundred')"),
    ("bad_language.yaml", "bad_language.yaml:2: language: 'english' is not one of all, zh, en"),
    ("bad_regex.yaml", "bad_regex.yaml:5: lexicon[1].regex: invalid regular expression"),
    ("bad_yaml.yaml", "bad_yaml.yaml:4: invalid YAML"),
    ("bad_range.yaml", "bad_range.yaml:3: chapters[0].range: range 5-2 is empty"),
    ("pauses_unknown.yaml", "pauses_unknown.yaml:4: pauses.paragrah: unknown key (did you mean 'paragraph'?)"),
]


@pytest.mark.parametrize(("name", "expected"), CASES)
def test_bad_recipe_names_file_line_and_key(name: str, expected: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(SCENARIOS / name)
    message = str(info.value)
    assert message.startswith(expected) or expected in message, message
    assert "\n" not in message
    assert info.value.exit_code == 2


def test_missing_recipe_file() -> None:
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(SCENARIOS / "nope.yaml")


def test_bare_book_path_gives_defaults() -> None:
    recipe = load_recipe(REPO / "samples" / "the-cartographers-daughter.md")
    assert recipe.max_chars == 500 and recipe.cuts == "clause" and recipe.source is None
    assert recipe.titles == "separate"
    assert recipe.audio.formats == ("mp3", "m4b")


def test_full_recipe_parses(tmp_path: Path) -> None:
    book = REPO / "samples" / "the-cartographers-daughter.md"
    path = tmp_path / "r.yaml"
    path.write_text(
        f"""
book: {book}
title: Override
author: [A. Writer, B. Writer]
language: en
voice: 2072
emotion: calm
speed: 1
max_chars: 1000
cuts: word
titles: merged
strip_quotes: true
lexicon:
  Cartographer: Kartographer
chapters:
  - {{index: 1, skip: true}}
  - {{range: "2-3", emotion: 3, speed: 0.5}}
  - {{title: "Chapter Two*", voice: 7}}
  - {{title_regex: "^Chapter", language: fr}}
pauses: {{sentence: 500, tail: 3000}}
output: {{directory: out, formats: [mp3], mp3_bitrate: 256k, loudness: -19}}
synthesis: {{max_open: 4, rate_limit: 5, confirm_above: 10, max_credits: 900, max_uncertain: 3,
             task_timeout: 600, outage_after: 120, probe_at_limit: true}}
""",
        encoding="utf-8",
    )
    r = load_recipe(path)
    assert r.title == "Override" and r.authors == ("A. Writer", "B. Writer")
    assert r.emotion == 8 and r.max_chars == 1000 and r.cuts == "word" and r.titles == "merged"
    assert r.normalize.strip_quotes and r.normalize.lexicon[0].pattern == "Cartographer"
    assert [c.label for c in r.chapters][0].startswith("rule 1 (line")
    assert r.chapters[1].index_range == (2, 3) and r.chapters[1].speed == 0.5
    assert r.chapters[2].matches(5, "chapter two: ink") and not r.chapters[2].matches(5, "Three")
    assert r.audio.pauses.sentence == 500 and r.audio.pauses.tail == 3000
    assert r.audio.formats == ("mp3",) and r.audio.mp3_bitrate == "256k" and r.audio.loudness_lufs == -19
    assert r.output_dir == tmp_path / "out"
    assert r.synthesis.max_open == 4 and r.synthesis.confirm_above == 10
    assert (r.synthesis.max_credits, r.synthesis.max_uncertain) == (900, 3)
    assert (r.synthesis.task_timeout, r.synthesis.outage_after) == (600.0, 120.0)
    assert r.synthesis.probe_at_limit and not load_recipe(REPO / "recipes" / "the-salt-road.yaml").synthesis.probe_at_limit


@pytest.mark.parametrize(("line", "expected"), [
    ("max_credits: -1", "synthesis.max_credits: must be at least 0"),
    ("max_credits: lots", "synthesis.max_credits: expected a whole number"),
    ("max_uncertain: 0", "synthesis.max_uncertain: 0 is out of range (1 to 100)"),
    ("task_timeout: 0", "synthesis.task_timeout: 0 is out of range (1 to 604800)"),
    ("outage_after: never", "synthesis.outage_after: expected a number"),
    ("probe_at_limit: sometimes", "synthesis.probe_at_limit: "),
])
def test_money_and_deadline_keys_are_validated(tmp_path: Path, line: str, expected: str) -> None:
    book = REPO / "samples" / "the-cartographers-daughter.md"
    path = tmp_path / "r.yaml"
    path.write_text(f"book: {book}\nsynthesis:\n  {line}\n", encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(info.value).startswith("r.yaml:3: ") and expected in str(info.value), str(info.value)


def test_hostile_recipe_files_are_one_line(tmp_path: Path) -> None:
    """A FIFO would block a read forever, a huge file would be read whole, a directory is not
    a recipe, and a `book:` that is not a regular file is named with its line."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * (1 << 20) + "\n", encoding="utf-8")
    folder = tmp_path / "folder"
    folder.mkdir()
    book_fifo = tmp_path / "book.md"
    os.mkfifo(book_fifo)
    points_at_fifo = tmp_path / "r.yaml"
    points_at_fifo.write_text(f"title: x\nbook: {book_fifo}\n", encoding="utf-8")
    alias_bomb = tmp_path / "bomb.yaml"
    lines = [f"book: {REPO / 'samples' / 'the-cartographers-daughter.md'}",
             'author: [&a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]]']
    alias_bomb.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cases = [
        (fifo, "is not a regular file"),
        (huge, "too large for a recipe"),
        (folder, "is a directory"),
        (points_at_fifo, "r.yaml:2: book: "),
        (alias_bomb, "bomb.yaml:2: author: expected a text value, got a list"),
    ]
    for path, expected in cases:
        with pytest.raises(RecipeError) as info:
            load_recipe(path)
        assert expected in str(info.value) and "\n" not in str(info.value), str(info.value)
