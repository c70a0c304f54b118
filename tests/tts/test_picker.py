"""Default voices from the account's voice library (pipeline.tts.picker) through make_plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import RecipeError
from pipeline.plan import make_plan
from pipeline.recipe import Recipe
from pipeline.tts.picker import LibraryPicker

FRENCH = "# Un\n\nLe vieux pêcheur regardait la mer depuis le quai. Il attendait le vent du soir.\n"


def _library(tmp_path: Path) -> Path:
    records = [
        {"id": 11, "language": "en", "emotion": ["narration-professional"], "name": "en-a"},
        {"id": 21, "language": "fr", "emotion": ["chat"], "name": "fr-chat"},
        {"id": 22, "language": "fr", "emotion": ["calm", "narration-relaxed"], "name": "fr-narrator"},
    ]
    path = tmp_path / "voices.json"
    path.write_text(json.dumps({"code": 100000, "data": {"records": records}}), encoding="utf-8")
    return path


def _book(tmp_path: Path) -> Path:
    book = tmp_path / "livre.md"
    book.write_text(FRENCH, encoding="utf-8")
    return book


def test_a_language_without_a_voice_takes_the_librarys_narrator(tmp_path: Path) -> None:
    library = _library(tmp_path)
    recipe = Recipe(book=_book(tmp_path), language="fr", voices=library)
    plan = make_plan(recipe, "api", LibraryPicker("api", library))
    assert {j.voice.voice_id for j in plan.jobs} == {22}
    assert any("using 22 (fr-narrator)" in w and "narration style" in w for w in plan.warnings)


def test_without_a_library_the_error_names_the_language_and_the_lines_to_add(tmp_path: Path) -> None:
    recipe = Recipe(book=_book(tmp_path), language="fr")
    with pytest.raises(RecipeError) as err:
        make_plan(recipe, "api", LibraryPicker("api", None))
    assert "'fr'" in err.value.message and "voice: ID" in err.value.message and "voices: VOICES.json" in err.value.message


def test_a_recipe_voice_needs_no_note(tmp_path: Path) -> None:
    library = _library(tmp_path)
    recipe = Recipe(book=_book(tmp_path), language="fr", voice=21, voices=library)
    plan = make_plan(recipe, "api", LibraryPicker("api", library))
    assert {j.voice.voice_id for j in plan.jobs} == {21} and not any("using" in w for w in plan.warnings)
