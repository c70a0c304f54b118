"""Chapters longer than output.max_minutes become parts cut at paragraphs (pipeline.audio.split)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mutagen.mp3 import MP3

from pipeline.audio.ffmpeg import ffmpeg_info
from tests.build_helpers import write_long_book
from tests.test_build import build


@pytest.mark.slow
def test_a_long_chapter_is_cut_into_parts_at_paragraphs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    recipe, out = write_long_book(tmp_path, "max_minutes: 1", paragraphs=12, seed=3)
    code, text = build(capsys, str(recipe), "--backend", "local", "--yes")
    assert code == 0, text
    names = sorted(p.name for p in out.glob("*.mp3"))
    parts = [n for n in names if "One (part" in n]
    n = len(parts)
    assert n >= 2 and parts == [f"{k:02d} - One (part {k} of {n}).mp3" for k in range(1, n + 1)]
    assert names[-1] == f"{n + 1:02d} - Two.mp3"
    lengths = [MP3(out / p).info.length for p in parts]
    assert all(length <= 60 for length in lengths) and sum(lengths) > 60, lengths
    playlist = (out / "Long.m3u").read_text(encoding="utf-8")
    assert [playlist.index(p) for p in parts] == sorted(playlist.index(p) for p in parts)
    marks = re.findall(r"^\s+title\s+:\s+(.+)$", ffmpeg_info(out / "Long.m4b").split("Chapters:")[1].split("Stream")[0],
                       re.M)
    assert marks == [f"One (part {k} of {n})" for k in range(1, n + 1)] + ["Two"]
    page = (out / "proof.html").read_text(encoding="utf-8")
    ids = re.findall(r'<li class="segment" id="seg-\d+-(\d+)" data-chapter="(\d+)"', page)
    first = [int(s) for s, c in ids if c == ids[0][1]]
    assert first == list(range(len(first)))  # the parts' segments keep the chapter's numbers, in order
