"""`formats: [mp3, book-mp3]`: one MP3 with ID3 chapters, read back by mutagen and ffmpeg."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mutagen.id3 import ID3

from pipeline.audio.book_mp3 import audio_frames
from pipeline.audio.check import check_path
from pipeline.audio.ffmpeg import ffmpeg_info
from pipeline.build import fresh_plan
from pipeline.recipe import load_recipe
from tests.test_build import EPUB_SAMPLE, build, report


def _recipe(tmp_path: Path, formats: str) -> Path:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"book: {EPUB_SAMPLE}\noutput: {{directory: {tmp_path / 'out'}, formats: {formats}}}\n",
                      encoding="utf-8")
    return recipe


@pytest.mark.slow
def test_the_book_mp3_has_a_chapter_per_chapter_file_sample_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    recipe = _recipe(tmp_path, "[mp3, book-mp3]")
    out = tmp_path / "out"
    code, text = build(capsys, str(recipe))
    assert code == 0, text
    plan = fresh_plan(load_recipe(recipe), "local")
    book = out / f"{plan.title}.mp3"
    chapter_files = sorted(p for p in out.glob("*.mp3") if p != book)
    assert len(chapter_files) == len(plan.active)

    tags = ID3(book)
    toc = tags.getall("CTOC")[0]
    chaps = {c.element_id: c for c in tags.getall("CHAP")}
    assert list(toc.child_element_ids) == [f"chp{n}" for n in range(len(chapter_files))]
    assert [str(chaps[i].sub_frames["TIT2"]) for i in toc.child_element_ids] == [c.title for c in plan.active]
    assert str(tags["TIT2"]) == plan.title and tags.getall("APIC")
    start, rate = 0, 0
    for element, path in zip(toc.child_element_ids, chapter_files, strict=True):
        run = audio_frames(path.read_bytes())  # the chapter's frames, copied as they are
        rate = run.sample_rate
        assert chaps[element].start_time == round(start * 1000 / rate)
        start += run.samples
        assert chaps[element].end_time == round(start * 1000 / rate)
    whole = audio_frames(book.read_bytes())
    assert whole.samples == start and whole.bitrate_kbps == 192  # not a frame lost, still CBR

    info = ffmpeg_info(book)
    assert len(re.findall(r"Chapter #0:\d+", info)) == len(chapter_files)  # ffmpeg reads the chapters too
    result = check_path(book, "acx")
    assert result.passed, result.to_dict()
    assert str(book) in {f["path"] for f in report(out)["check"]["files"]}

    before = book.stat().st_mtime_ns
    code, text = build(capsys, str(recipe))
    assert code == 0 and book.stat().st_mtime_ns == before  # nothing changed: not rewritten


def test_book_mp3_needs_the_chapter_mp3s(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli import main

    recipe = _recipe(tmp_path, "[m4b, book-mp3]")
    assert main(["plan", str(recipe), "--backend", "local"]) == 2
    err = capsys.readouterr().err
    assert "book-mp3 (one MP3 with chapters) is made from the chapter MP3s" in err and err.count("\n") == 1
