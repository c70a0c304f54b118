"""One chapter end to end: encoded files are measured once, and re-mastered on overshoot."""

from __future__ import annotations

import math
from pathlib import Path

from pipeline.audio import chapter as chapter_mod
from pipeline.audio.check import check_path
from pipeline.audio.cover import usable_cover
from pipeline.audio.package import assemble_book
from pipeline.audio.stitch import ChapterInput, ClipRef
from pipeline.audio.tags import BookInfo
from pipeline.models import AudioSettings, Boundary
from tests.audio.helpers import fake_speech, write_clip

INFO = BookInfo("Peaks", ("Nobody",), "en", None)


def _loud_chapter(tmp_path: Path) -> ChapterInput:
    (tmp_path / "clips").mkdir()
    clips = tuple(ClipRef(write_clip(tmp_path / "clips" / f"{i}.wav", fake_speech(3, seed=i, level=0.99)),
                          Boundary.SENTENCE) for i in range(4))
    return ChapterInput(1, "Loud", clips)


def _build(tmp_path: Path, ch: ChapterInput, settings: AudioSettings) -> chapter_mod.ChapterOutput:
    out = tmp_path / "out"
    for sub in ("aac", "tmp"):
        (out / ".audiobook" / sub).mkdir(parents=True, exist_ok=True)
    job = chapter_mod.ChapterJob(ch, "01 - Loud", 1, 1)
    cover = usable_cover(None, INFO.title, INFO.authors)
    return chapter_mod.build_chapter(job, INFO, cover, settings, out, out / ".audiobook")


def test_an_overshooting_encode_is_mastered_again_with_more_headroom(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(chapter_mod, "LOSSY_HEADROOM_DB", -1.5)  # limiter aims at -1.5 dBTP: encodes overshoot
    hot = AudioSettings(loudness_lufs=-12.0)  # loud enough that peaks press on the ceiling
    result = _build(tmp_path, _loud_chapter(tmp_path), hot)
    peaks = {fmt: 20 * math.log10(m.true_peak) for fmt, m in result.measured.items()}
    assert set(peaks) == {"mp3", "aac"}
    assert max(peaks.values()) <= -3.0 - chapter_mod.TP_MARGIN_DB + 1e-9, peaks
    assert result.headroom_db > -1.5  # it had to add headroom to get there


def test_the_builds_check_decodes_only_files_changed_since_they_were_measured(tmp_path: Path, monkeypatch) -> None:
    from pipeline.audio import analyze
    from pipeline.audio.manifest import Manifest

    out = tmp_path / "out"
    result = assemble_book([_loud_chapter(tmp_path)], INFO, AudioSettings(), out)
    assert set(result.measured) == {*result.chapter_files, result.m4b}
    decoded: list[Path] = []
    original = analyze.measure_file
    monkeypatch.setattr(analyze, "measure_file", lambda p, r, c: decoded.append(p) or original(p, r, c))
    report = check_path(out, "acx", result.measured)
    assert decoded == [] and report.passed, report.failed_rules
    mp3 = result.chapter_files[0]
    mp3.write_bytes(mp3.read_bytes())  # same bytes, new mtime: no longer the file that was measured
    known = Manifest.load(out / ".audiobook").measured_files(out, [*result.chapter_files, result.m4b])
    assert mp3 not in known and result.m4b in known
    check_path(out, "acx", known)
    assert decoded == [mp3]
