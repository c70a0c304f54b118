"""A voice per speaker and per language passage: pipeline.voicing through `audiobook plan`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.ingest import load_book
from pipeline.recipe import load_recipe
from pipeline.voicing import count_speakers
from tests.conftest import corpus_file
from tests.ingest.scenarios import build_epub, xhtml
from tests.test_plan import plan_json, segments

HAMLET_CAST = """cast:
  Hamlet: 3001
  king: 3002
  Ghost: {voice: 3003, speed: 0.5}
  Horatio: 3004
"""
CAST_VOICES = {"Hamlet": 3001, "king": 3002, "Ghost": 3003, "Horatio": 3004}


def _hamlet_recipe(tmp_path: Path, extra: str = "") -> Path:
    recipe = tmp_path / "hamlet.yaml"
    recipe.write_text(f"book: {corpus_file('william-shakespeare_hamlet.epub')}\n{HAMLET_CAST}{extra}",
                      encoding="utf-8")
    return recipe


def test_hamlet_cast_every_line_in_its_speakers_voice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _hamlet_recipe(tmp_path)
    rows = segments(capsys, recipe)
    narrator = {r["voice_id"] for r in rows if r["speaker"] is None}
    assert len(narrator) == 1 and not narrator & set(CAST_VOICES.values())
    for r in rows:  # each segment is one speaker's, in that speaker's voice
        assert r["voice_id"] == (CAST_VOICES[r["speaker"]] if r["speaker"] else next(iter(narrator)))
    spoken = Counter[str]()
    for r in rows:
        if r["speaker"]:
            spoken[r["speaker"]] += r["chars"]
    r0 = load_recipe(recipe)
    found = {s.cast: s.chars for s in count_speakers(r0, load_book(r0.book, r0.ingest).chapters) if s.cast}
    assert set(found) == set(CAST_VOICES)
    for name, chars in found.items():  # every character of their speeches, and only those
        assert abs(spoken[name] - chars) <= chars * 0.005, (name, spoken[name], chars)
    texts = [r["text"] for r in rows]
    assert "Enter Ghost." in texts[:200] or any(t.startswith("Enter Ghost.") for t in texts)
    ghost_entries = [r for r in rows if "Enter Ghost." in r["text"] or "Exit Ghost." in r["text"]]
    assert len(ghost_entries) >= 4 and all(r["speaker"] is None for r in ghost_entries)  # directions: the narrator
    assert not any(r["speaker"] and ("Exit" in r["text"] or "Exeunt" in r["text"]) for r in rows)


def test_hamlet_cast_skips_speaker_names_and_reports_the_cost(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    cast = plan_json(capsys, _hamlet_recipe(tmp_path))["totals"]
    read = plan_json(capsys, _hamlet_recipe(tmp_path, "speaker_names: read\n"))["totals"]
    bare = tmp_path / "bare.yaml"
    bare.write_text(f"book: {corpus_file('william-shakespeare_hamlet.epub')}\n", encoding="utf-8")
    plain = plan_json(capsys, bare)["totals"]
    assert plain["voice_credits"] == 0 and cast["voice_credits"] > 0
    assert cast["chars"] < read["chars"] == plain["chars"]  # names skipped with a cast, read without
    assert cast["credits"] - cast["voice_credits"] - cast["title_credits"] <= plain["credits"]


def test_plan_cast_lists_speakers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(_hamlet_recipe(tmp_path)), "--cast", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert rows[0]["name"] == "Hamlet" and by_name["Hamlet"]["cast"] == "Hamlet"
    assert by_name["King"]["cast"] == "king"  # names match whatever the case
    assert by_name["Polonius"]["cast"] is None and by_name["Polonius"]["lines"] > 50


FRENCH = ("Le vieux pêcheur regardait la mer depuis le quai, et il disait à qui voulait l’entendre que "
          "le vent tournerait avant le soir.")


def _bilingual(tmp_path: Path, languages: str) -> Path:
    body = (f"<h1>One</h1><p>She read the letter aloud on the quay.</p><p lang=\"fr\" xml:lang=\"fr\">{FRENCH}</p>"
            "<p>Then she laughed, said <span xml:lang=\"fr\" lang=\"fr\">merci beaucoup</span> and went home.</p>")
    book = build_epub(tmp_path / "b.epub", [("c.xhtml", xhtml(body))])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"book: {book}\n{languages}", encoding="utf-8")
    return recipe


def test_a_french_paragraph_gets_the_french_voice_a_phrase_does_not(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    rows = segments(capsys, _bilingual(tmp_path, "languages:\n  fr: default\n"))
    french = [r for r in rows if r["language"] == "fr"]
    assert [r["text"] for r in french] == [FRENCH]
    english = [r for r in rows if r["language"] == "en"]
    assert any("merci beaucoup" in r["text"] for r in english)
    assert len({r["voice_id"] for r in french}) == 1 and french[0]["voice_id"] != english[0]["voice_id"]


def test_a_long_inline_passage_gets_its_voice_inside_the_paragraph(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A passage as long as min_passage inside an English paragraph is read by the French
    voice, the words around it by the English one, with no paragraph pause between."""
    body = (f"<h1>One</h1><p>The old man on the quay used to say <i xml:lang=\"fr\" lang=\"fr\">{FRENCH}</i> "
            "and nobody believed him.</p>")
    book = build_epub(tmp_path / "b.epub", [("c.xhtml", xhtml(body))])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"book: {book}\nlanguages:\n  fr: default\n", encoding="utf-8")
    rows = segments(capsys, recipe)
    assert [(r["language"], r["text"], r["boundary_after"]) for r in rows[1:]] == [
        ("en", "The old man on the quay used to say", "clause"),
        ("fr", FRENCH, "sentence"),
        ("en", "and nobody believed him.", "chapter")]
    plain = tmp_path / "plain.yaml"
    plain.write_text(f"book: {book}\n", encoding="utf-8")
    assert [r["text"] for r in segments(capsys, plain)][1:] == [" ".join(r["text"] for r in rows[1:])]


def test_without_languages_the_passage_keeps_the_chapter_voice(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    rows = segments(capsys, _bilingual(tmp_path, ""))
    assert {r["language"] for r in rows} == {"en"} and any(FRENCH in r["text"] for r in rows)


def test_min_passage_keeps_short_passages_in_the_surrounding_voice(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rows = segments(capsys, _bilingual(tmp_path, "languages:\n  fr: default\nmin_passage: 500\n"))
    assert {r["language"] for r in rows} == {"en"}


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("cast:\n  Hamlet: [1]\n", "cast.Hamlet"),
    ("cast:\n  Hamlet: 1\n  HAMLET: 2\n", "already cast"),
    ("languages:\n  la: {voice: 3}\n", "add `language:`"),
    ("speaker_names: maybe\n", "speaker_names"),
])
def test_bad_cast_keys_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str,
                                    message: str) -> None:
    recipe = _bilingual(tmp_path, yaml_text)
    assert main(["plan", str(recipe), "--backend", "local"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_offline_cast_build_pauses_after_the_title(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The cast sample built offline: each speaker's clips in their voice, and the title's
    pause (pauses.title) heard between the heading's clip and the first speech."""
    from tests.test_build import SAMPLES, _silences, build, report, write_recipe

    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    cast = {"Margit": 900024, "Tobias": {"voice": 900023, "emotion": "happy"}, "Mayor": 900021}
    recipe = write_recipe(tmp_path, SAMPLES / "the-lamplighters.epub", voice=900022, cast=cast,
                          pauses={"title": 1400, "paragraph": 700, "head": 300, "tail": 500})
    code, text = build(capsys, str(recipe))
    assert code == 0, text
    jobs = report(tmp_path / "out")
    mp3s = sorted((tmp_path / "out").glob("*.mp3"))
    assert len(mp3s) == 2, jobs
    for mp3 in mp3s:
        gaps = _silences(mp3)
        long = [s for s in gaps if s > 1.1]
        print(mp3.name, "title gap", long, "all gaps", gaps)
        assert len(long) == 1 and abs(long[0] - 1.4) <= 0.1, (mp3.name, gaps)


def test_a_default_language_voice_the_backend_lacks_is_a_warning(tmp_path: Path) -> None:
    from pipeline.plan import make_plan
    from pipeline.tts.picker import LibraryPicker

    recipe = load_recipe(_bilingual(tmp_path, "languages:\n  fr: default\n"))
    plan = make_plan(recipe, "api", LibraryPicker("api", None))  # the vendor documents no French voice
    assert {j.voice.language for j in plan.jobs} == {"en"}
    assert any("no voice for 'fr'" in w and "fr: {voice: ID}" in w for w in plan.warnings)
