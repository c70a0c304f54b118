"""`dialogue:`: quoted speech in prose in its own voice, attributed quotes in the cast's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.test_plan import plan_json, segments

NARRATOR, DIALOGUE, MIRA = 900022, 900023, 900024
BOOK = """# Chapter One

“Why do you leave the northern shore blank?” asked Mira. “Nobody has walked it.”

“Because nobody came back,” said Crane.

The tide went out while they argued, and the gulls settled on the mast of the *Heron*.

“Then I will,” she said, and took up the pen.

He called it the so-called “cure” and laughed.
"""


def _recipe(tmp_path: Path, extra: str = "dialogue: {voice: 900023}\ncast:\n  Mira: 900024\n") -> Path:
    (tmp_path / "book.md").write_text(BOOK, encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"book: book.md\nlanguage: en\nvoice: {NARRATOR}\n{extra}", encoding="utf-8")
    return recipe


def test_quotes_in_the_dialogue_voice_narration_in_the_narrators(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rows = segments(capsys, _recipe(tmp_path))
    by_text = {r["text"]: r for r in rows}
    for r in rows:  # no request holds both narration and speech
        quoted = r["text"].startswith("“")
        assert (r["voice_id"] != NARRATOR) == quoted or "Chapter" in r["text"], r
    assert by_text["“Why do you leave the northern shore blank?”"]["voice_id"] == MIRA
    assert by_text["“Nobody has walked it.”"]["speaker"] == "Mira"  # the paragraph is Mira's
    assert by_text["“Because nobody came back,”"]["voice_id"] == DIALOGUE  # Crane is not cast
    assert by_text["“Then I will,”"]["voice_id"] == DIALOGUE  # "she said": unknown
    assert any("so-called “cure” and laughed." in r["text"] and r["voice_id"] == NARRATOR for r in rows)


def test_a_voice_change_inside_a_paragraph_pauses_as_a_sentence_or_a_clause(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = {r["text"]: r["boundary_after"] for r in segments(capsys, _recipe(tmp_path))}
    assert rows["“Why do you leave the northern shore blank?”"] == "sentence"
    assert rows["asked Mira."] == "sentence"
    assert rows["“Because nobody came back,”"] == "clause"
    assert any(text.startswith("said Crane. The tide went out") for text in rows)  # one narration request


def test_without_dialogue_nothing_changes_and_the_cost_is_reported(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    plain = plan_json(capsys, _recipe(tmp_path, ""))["totals"]
    voiced = plan_json(capsys, _recipe(tmp_path))["totals"]
    assert plain["voice_credits"] == 0 and plain["segments"] == 2  # the title, and one request
    assert voiced["chars"] == plain["chars"]  # not a character lost or added
    assert voiced["voice_credits"] == voiced["credits"] - plain["credits"] > 0
    off = plan_json(capsys, _recipe(tmp_path, "dialogue: off\n"))["totals"]
    assert off == plain


def test_attribution_can_be_turned_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _recipe(tmp_path, "dialogue: {voice: 900023, attribution: false}\ncast:\n  Mira: 900024\n")
    rows = segments(capsys, recipe)
    assert {r["voice_id"] for r in rows if r["text"].startswith("“")} == {DIALOGUE}
    assert all(r["speaker"] is None for r in rows)


def test_aliases_name_one_speaker_and_plan_cast_lists_prose_speakers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _recipe(tmp_path, "dialogue: on\ncast:\n  Mira Ellwood: {voice: 900024, aliases: [Mira]}\n")
    rows = segments(capsys, recipe)
    assert {r["voice_id"] for r in rows if r["speaker"]} == {MIRA}
    assert {r["voice_id"] for r in rows if not r["speaker"]} == {NARRATOR}  # `on`: the narrator reads the rest
    assert main(["plan", str(recipe), "--cast", "--json", "--backend", "local"]) == 0
    cast = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert cast["Mira"]["cast"] == "Mira Ellwood" and cast["Mira"]["lines"] == 1
    assert cast["Crane"]["cast"] is None and cast["Crane"]["chars"] == len("“Because nobody came back,”")


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("dialogue: {attribution: maybe}\n", "attribution must be true or false"),
    ("dialogue: {voice: 900023, colour: red}\n", "dialogue.colour: unknown key"),
    ("dialogue: on\nstrip_quotes: true\n", "cannot be used with strip_quotes"),
    ("cast:\n  Mira: {voice: 1, aliases: [Crane]}\n  Crane: 2\n", "'crane' is already cast"),
    ("cast:\n  Mira: {voice: 1, aliases: 3}\n", "aliases must be a name or a list"),
])
def test_bad_dialogue_keys_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str,
                                        message: str) -> None:
    assert main(["plan", str(_recipe(tmp_path, yaml_text)), "--backend", "local"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_offline_build_of_the_dialogue_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped recipe built offline: four voices, a clause pause where the voice
    changes after “…,” (pauses.clause 250 ms), the paragraph and title pauses, and a
    passing check."""
    from tests.conftest import REPO
    from tests.test_build import _silences, build, report

    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    out = tmp_path / "out"
    code, text = build(capsys, str(REPO / "recipes" / "the-cartographers-daughter-dialogue.yaml"),
                       "--backend", "local", "--output", str(out), "--yes")
    assert code == 0, text
    r = report(out)
    assert r["check"]["passed"] and r["plan"]["voice_credits"] > 0
    gaps = _silences(next(out.glob("02 - *.mp3")))
    print("chapter 2 gaps", gaps)
    assert any(abs(g - 0.25) <= 0.08 for g in gaps) and any(abs(g - 0.9) <= 0.08 for g in gaps)
    assert sum(1 for g in gaps if abs(g - 1.4) <= 0.1) == 1
