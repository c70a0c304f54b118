from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.audio.ffmpeg import decode_to_pcm, detect_format, encode_pcm, run_ffmpeg
from pipeline.audio.mp3frames import scan_mp3
from pipeline.errors import BadAudioError, FFmpegError
from tests.audio.helpers import fake_speech, pcm_array, to_pcm

PCM = to_pcm(fake_speech(1.5, seed=3))


@pytest.fixture(scope="module")
def encoded() -> dict[str, bytes]:
    return {f: encode_pcm(PCM, 44100, 1, f, "128k" if f in ("mp3", "m4a") else None) for f in ("mp3", "wav", "flac", "m4a")}


@pytest.mark.parametrize("fmt", ["mp3", "wav", "flac", "m4a"])
def test_roundtrip_and_detect(encoded: dict[str, bytes], fmt: str) -> None:
    data = encoded[fmt]
    assert detect_format(data) == fmt
    out = decode_to_pcm(data)
    assert abs(len(out) / 2 / 44100 - 1.5) < 0.06
    if fmt in ("wav", "flac"):
        assert out == PCM  # lossless


def test_detect_other_signatures() -> None:
    assert detect_format(b"OggS\x00\x02" + b"\x00" * 20) == "ogg"
    assert detect_format(b"\xff\xf1\x50\x80" + b"\x00" * 20) == "aac"
    assert detect_format(b"<html>not audio</html>") is None
    assert detect_format(b"") is None


@pytest.mark.parametrize("fmt", ["mp3", "wav", "flac"])
@pytest.mark.parametrize("cut", [0.5, 0.93])
def test_truncated_is_bad_audio(encoded: dict[str, bytes], fmt: str, cut: float) -> None:
    data = encoded[fmt]
    with pytest.raises(BadAudioError, match="truncated"):
        decode_to_pcm(data[: int(len(data) * cut)])


@pytest.mark.parametrize("data", [b"", b"<html>error page</html>", b"ID3\x04\x00\x00\x00\x00\x00\x00junk", b"RIFF\x00\x00\x00\x00WAVEfmt "])
def test_not_audio(data: bytes) -> None:
    with pytest.raises(BadAudioError):
        decode_to_pcm(data)


def test_run_ffmpeg_error_carries_last_line(tmp_path: Path) -> None:
    with pytest.raises(FFmpegError) as info:
        run_ffmpeg(["-i", str(tmp_path / "missing.wav"), "-f", "null", "-"])
    assert "No such file" in info.value.message


def test_encode_to_file_is_cbr_with_info_tag(tmp_path: Path) -> None:
    out = tmp_path / "x.mp3"
    assert encode_pcm(PCM, 44100, 1, "mp3", "192k", out=out) is None
    scan = scan_mp3(out.read_bytes())
    assert scan is not None and scan.bitrates == {192} and not scan.is_vbr
    assert not list(tmp_path.glob("*.part"))
    # gapless: the Info tag lets ffmpeg drop encoder delay and padding
    assert abs(len(pcm_array(decode_to_pcm(out))) - len(PCM) // 2) < 1200


def test_stereo_decode(encoded: dict[str, bytes]) -> None:
    out = decode_to_pcm(encoded["wav"], 22050, 2)
    arr = np.frombuffer(out, "<i2").reshape(-1, 2)
    assert abs(len(arr) / 22050 - 1.5) < 0.01
    assert np.array_equal(arr[:, 0], arr[:, 1])
