"""Clip cache: atomic durable put, lookup by key whatever the format, no .part left."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.synth.cache import ClipCache, sniff_ext
from tests.synth.fakes import wav_bytes


def test_put_then_path(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "clips")
    key = "ab" + "0" * 30
    assert cache.path(key) is None
    data = wav_bytes(10)
    path = cache.put(key, data, sniff_ext(data))
    assert path.name == f"{key}.wav" and path.read_bytes() == data
    assert cache.path(key) == path
    assert not list((tmp_path / "clips").rglob("*.part"))


def test_new_format_replaces_old(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    key = "cd" + "1" * 30
    cache.put(key, wav_bytes(5), "wav")
    mp3 = cache.put(key, b"ID3\x04" + b"\x00" * 50, "mp3")
    assert cache.path(key) == mp3
    assert sorted(p.name for p in mp3.parent.iterdir()) == [mp3.name]


def test_empty_clip_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ClipCache(tmp_path).put("ef" + "2" * 30, b"", "mp3")


def test_leftover_part_is_not_a_clip(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    key = "12" + "3" * 30
    (tmp_path / "12").mkdir()
    (tmp_path / "12" / f"{key}.mp3.part").write_bytes(b"half")
    assert cache.path(key) is None


@pytest.mark.parametrize(
    ("head", "ext"),
    [(b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"), (b"OggS\x00", "ogg"), (b"fLaC\x00", "flac"),
     (b"\x00\x00\x00\x20ftypM4A ", "m4a"), (b"ID3\x04\x00", "mp3"), (b"\xff\xfb\x90\x00", "mp3")],
)
def test_sniff(head: bytes, ext: str) -> None:
    assert sniff_ext(head + b"\x00" * 32) == ext
