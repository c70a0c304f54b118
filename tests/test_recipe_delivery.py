"""`output.profile: acx` and the spoken `credits:` (pipeline.recipe_delivery), planned and built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.audio.ffmpeg import ffmpeg_info
from pipeline.cli import main
from tests.conftest import SAMPLES
from tests.test_build import build
from tests.test_plan import plan_json


def _recipe(tmp_path: Path, extra: str) -> Path:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"book: {SAMPLES / 'the-salt-road.epub'}\n{extra}", encoding="utf-8")
    return recipe


def test_credits_are_planned_and_costed_as_their_own_chapters(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    plain = plan_json(capsys, _recipe(tmp_path, ""))
    data = plan_json(capsys, _recipe(tmp_path, "author: [Ada Quill]\ncredits: {narrator: Grace}\n"))
    titles = [c["title"] for c in data["chapters"] if not c["skipped"]]
    assert titles[0] == "Opening Credits" and titles[-1] == "Closing Credits"
    assert titles[1:-1] == [c["title"] for c in plain["chapters"] if not c["skipped"]]
    first = data["chapters"][0]
    assert first["index"] == 0 and first["credits"] >= 1
    assert data["totals"]["credits"] > plain["totals"]["credits"]
    assert main(["plan", str(_recipe(tmp_path, "author: [Ada Quill]\ncredits: {narrator: Grace}\n")),
                 "--segments", "--backend", "local"]) == 0
    texts = [line for line in capsys.readouterr().out.splitlines() if '"chapter": 0' in line]
    assert texts and "Written by Ada Quill. Narrated by Grace." in texts[0]


def test_credits_can_be_own_text_or_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = plan_json(capsys, _recipe(tmp_path, "credits: {opening: Welcome to the road., closing: off}\n"))
    titles = [c["title"] for c in data["chapters"] if not c["skipped"]]
    assert titles[0] == "Opening Credits" and "Closing Credits" not in titles


@pytest.mark.parametrize(("output", "message"), [
    ("{profile: acx, sample_rate: 22050}", "sample_rate 22050 (ACX: 44100)"),
    ("{profile: acx, mp3_bitrate: 128k}", "mp3_bitrate 128k"),
    ("{profile: acx, formats: [m4b]}", "formats without mp3"),
    ("{profile: audible}", "output.profile"),
])
def test_settings_acx_rejects_are_refused_before_anything(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           output: str, message: str) -> None:
    assert main(["plan", str(_recipe(tmp_path, f"output: {output}\n")), "--backend", "local"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_an_acx_build_has_credit_tracks_first_and_last_and_passes_acx(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    out = tmp_path / "out"
    recipe = _recipe(tmp_path, f"output: {{profile: acx, directory: {out}}}\n")
    code, text = build(capsys, str(recipe), "--backend", "local", "--yes")
    assert code == 0, text
    mp3s = sorted(p.name for p in out.glob("*.mp3"))
    assert mp3s[0] == "00 - Opening Credits.mp3" and mp3s[1].startswith("01 - ")  # the book's chapters keep 01..
    assert mp3s[-2].endswith(" - Closing Credits.mp3") and mp3s[-1] == "Retail Sample.mp3"
    playlist = (out / "The Salt Road.m3u").read_text(encoding="utf-8")
    assert playlist.index("Opening Credits") < playlist.index("Chapter 1") < playlist.index("Closing Credits")
    chapters = re.findall(r"^\s+title\s+:\s+(.+)$", ffmpeg_info(out / "The Salt Road.m4b").split("Chapters:")[1]
                          .split("Stream")[0], re.M)
    assert chapters[0] == "Opening Credits" and chapters[-1] == "Closing Credits"
    assert main(["check", str(out), "--profile", "acx"]) == 0, capsys.readouterr().out


@pytest.mark.slow
def test_the_retail_sample_is_one_to_five_minutes_from_a_paragraph_to_a_sentence_end(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from mutagen.mp3 import MP3

    from tests.build_helpers import write_long_book

    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    recipe, out = write_long_book(tmp_path, "profile: acx", paragraphs=30, seed=7)
    code, text = build(capsys, str(recipe), "--backend", "local", "--yes")
    assert code == 0, text
    sample = MP3(out / "Retail Sample.mp3")
    assert 60 <= sample.info.length <= 300 and sample.info.bitrate == 192_000, sample.info.pprint()
    assert sample.info.length < MP3(out / "01 - One.mp3").info.length
    assert "Retail Sample" not in (out / "Long.m3u").read_text(encoding="utf-8")
    assert main(["check", str(out / "Retail Sample.mp3"), "--profile", "acx"]) == 0, capsys.readouterr().out
