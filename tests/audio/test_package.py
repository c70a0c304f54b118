from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from scipy.signal import resample_poly

from pipeline.audio.ffmpeg import decode_to_pcm, ffmpeg_info
from pipeline.audio.m4b import AAC_DELAY
from pipeline.audio.package import assemble_book
from pipeline.audio.stitch import ChapterInput, ClipRef
from pipeline.audio.tags import BookInfo, ffmeta_escape, ffmetadata
from pipeline.models import AudioSettings, Boundary
from tests.audio.helpers import RATE, fake_speech, pcm_array, write_clip

TITLES = ["Stave One: Marley's Ghost", "Stave = Two; #hash \\ back", "CON"]
INFO = BookInfo("A Christmas Carol", ("Charles Dickens",), "en", None)
SETTINGS = AudioSettings(formats=("mp3", "m4b", "wav"))


def make_chapters(clip_dir: Path) -> list[ChapterInput]:
    clip_dir.mkdir(parents=True, exist_ok=True)
    chapters = []
    for c, title in enumerate(TITLES):
        clips = []
        for i in range(4):
            fmt = "mp3" if (c + i) % 2 else "wav"
            x = fake_speech(2.5, seed=10 * c + i, level=0.05 + 0.3 * (c == 1))  # chapter 2 is loud
            b = [Boundary.SENTENCE, Boundary.PARAGRAPH, Boundary.CLAUSE, Boundary.CHAPTER][i]
            clips.append(ClipRef(write_clip(clip_dir / f"{c}_{i}.{fmt}", x), b))
        chapters.append(ChapterInput(c + 1, title, tuple(clips)))
    return chapters


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("book")
    chapters = make_chapters(root / "clips")
    result = assemble_book(chapters, INFO, SETTINGS, root / "out")
    return root, chapters, result


def decoded(path: Path) -> np.ndarray:
    return pcm_array(decode_to_pcm(path))


def test_outputs_exist(book) -> None:
    root, _, result = book
    names = sorted(p.name for p in (root / "out").iterdir() if not p.name.startswith("."))
    assert "01 - Stave One - Marley's Ghost.mp3" in names
    assert "03 - CON.mp3" in names and "03 - CON.wav" in names
    assert result.m4b is not None and result.m4b.name == "A Christmas Carol.m4b"
    assert set(result.rewritten) == {*result.chapter_files, result.m4b, result.playlist}
    assert not list((root / "out").rglob("*.part"))


def test_m4b_chapters_and_cover(book) -> None:
    _, _, result = book
    info = ffmpeg_info(result.m4b)
    starts = [float(s) for s in re.findall(r"Chapter #\S+ start ([\d.]+)", info)]
    assert len(starts) == len(TITLES)
    for title in TITLES:
        assert f"title           : {title}" in info
    assert "(attached pic)" in info and "Video:" in info
    # Each mark sits where the chapter's own first sample decodes: its first clip then
    # starts exactly clip_starts[0] later (the M4B is the chapters' AAC frames, copied).
    # (The first chapter also owns the file's priming: its sample 0 decodes AAC_DELAY in.)
    audio = decoded(result.m4b)
    wavs = [p for p in result.chapter_files if p.suffix == ".wav"]
    for k, (start, wav) in enumerate(zip(starts, wavs, strict=True)):
        own = decoded(wav)
        want = int(np.flatnonzero(np.abs(own) > 0.01)[0])  # the chapter's first sound, in its own file
        mark = int(round(start * RATE)) + (AAC_DELAY if k == 0 else 0)
        got = int(np.flatnonzero(np.abs(audio[mark:]) > 0.01)[0])
        assert abs(got - want) <= 0.002 * RATE, (k, got - want)
    tags = MP4(result.m4b).tags
    assert tags["\xa9nam"] == [INFO.title] and tags["\xa9gen"] == ["Audiobook"] and "covr" in tags


def test_id3_tags(book) -> None:
    _, _, result = book
    mp3s = [p for p in result.chapter_files if p.suffix == ".mp3"]
    tags = ID3(mp3s[1])
    assert str(tags["TIT2"]) == TITLES[1]
    assert str(tags["TPE1"]) == "Charles Dickens" and str(tags["TALB"]) == INFO.title
    assert str(tags["TRCK"]) == "2/3" and str(tags["TLAN"]) == "eng" and str(tags["TCON"]) == "Audiobook"
    apic = tags.getall("APIC")[0]
    assert apic.mime == "image/png" and apic.data[:4] == b"\x89PNG"


@pytest.mark.parametrize("n", [0, 1, 2])
def test_loudness_peak_room_tone_measured_independently(book, n: int) -> None:
    _, _, result = book
    mp3 = [p for p in result.chapter_files if p.suffix == ".mp3"][n]
    x = decoded(mp3)
    lufs = pyloudnorm.Meter(RATE).integrated_loudness(x)
    tp = 20 * np.log10(np.abs(resample_poly(x, 4, 1)).max())
    assert -21.0 <= lufs <= -19.0, lufs
    assert tp <= -3.0, tp
    half = RATE // 2
    for edge in (x[:half], x[-half:]):
        rms = 10 * np.log10(np.mean(np.square(edge)))
        assert rms <= -60.0
        assert np.any(edge != 0)  # room tone, not digital silence


def test_playlist(book) -> None:
    _, _, result = book
    text = result.playlist.read_text(encoding="utf-8")
    assert text.startswith("#EXTM3U\n")
    assert "#EXTINF:" in text and "01 - Stave One - Marley's Ghost.mp3" in text
    assert "/" not in "".join(ln for ln in text.splitlines() if not ln.startswith("#"))


def test_rerun_rewrites_nothing_then_only_the_changed_chapter(book) -> None:
    root, chapters, first = book
    out = root / "out"
    before = {p: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    again = assemble_book(chapters, INFO, SETTINGS, out)
    assert again.rewritten == ()
    assert {p: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()} == before
    clip = chapters[2].clips[0].path
    write_clip(clip, fake_speech(2.0, seed=99, level=0.2), "wav" if clip.suffix == ".wav" else "mp3")
    os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns + 10**9))
    third = assemble_book(chapters, INFO, SETTINGS, out)
    changed = {p.name for p in third.rewritten}
    assert changed == {"03 - CON.mp3", "03 - CON.wav", "A Christmas Carol.m4b", "A Christmas Carol.m3u"} or \
        changed == {"03 - CON.mp3", "03 - CON.wav", "A Christmas Carol.m4b"}
    assert first.chapter_files[0].stat().st_mtime_ns == before[first.chapter_files[0]]


def test_ffmetadata_escaping() -> None:
    assert ffmeta_escape("a=b;c#d\\e\nf") == "a\\=b\\;c\\#d\\\\e f"
    meta = ffmetadata(INFO, [("One", 44100), ("Two", 22050)], RATE)
    assert "START=44100\nEND=66150" in meta and meta.startswith(";FFMETADATA1\n")


def test_retitled_chapter_leaves_no_stale_file(tmp_path: Path) -> None:
    chapters = make_chapters(tmp_path / "clips")[:2]
    settings = AudioSettings(formats=("mp3",))
    assemble_book(chapters, INFO, settings, tmp_path / "out")
    renamed = [chapters[0], ChapterInput(chapters[1].index, "Stave Two, Renamed", chapters[1].clips)]
    result = assemble_book(renamed, INFO, settings, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").glob("*.mp3"))
    assert names == sorted(p.name for p in result.chapter_files)
    assert "02 - Stave Two, Renamed.mp3" in names
