"""Audio formats from bytes alone: the signature, and whether a file is whole.

Cheap checks (no ffmpeg) run on every downloaded or cached clip: a known signature, and
for WAV, MP3 and FLAC what their headers declare, also a clip's duration for planning
cuts before anything is decoded.
"""

from __future__ import annotations

import struct

from pipeline.audio.mp3frames import info_frame_count, scan_mp3
from pipeline.errors import BadAudioError


def _is_mp3_sync(data: bytes, pos: int = 0) -> bool:
    if len(data) < pos + 4 or data[pos] != 0xFF or (data[pos + 1] & 0xE0) != 0xE0:
        return False
    version, layer = (data[pos + 1] >> 3) & 3, (data[pos + 1] >> 1) & 3
    bitrate_idx, sr_idx = data[pos + 2] >> 4, (data[pos + 2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate_idx not in (0, 15) and sr_idx != 3


def detect_format(data: bytes) -> str | None:
    """Container/codec of `data` from its magic bytes, never from a file name."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3":
        return "mp3"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"  # ADTS: 12-bit sync, layer bits 00
    if _is_mp3_sync(head):
        return "mp3"
    return None


def _wav_declared_bytes(data: bytes) -> int | None:
    """Size of the RIFF `data` chunk as declared (None when streaming/unknown)."""
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"data":
            return None if size in (0, 0xFFFFFFFF) else size
        pos += 8 + size + (size & 1)
    return None


def _check_wav_complete(data: bytes) -> None:
    declared = _wav_declared_bytes(data)
    if declared is None:
        return
    start = data.find(b"data", 12) + 8
    if len(data) - start < declared * 0.98:
        raise BadAudioError(
            f"truncated WAV: {len(data) - start} of {declared} declared data bytes present"
        )


def flac_declared_seconds(data: bytes) -> float | None:
    """Duration from the FLAC STREAMINFO block (None when unknown)."""
    if len(data) < 8 + 34 or data[4] & 0x7F != 0:
        return None
    bits = int.from_bytes(data[8 + 10 : 8 + 18], "big")
    rate, total = bits >> 44, bits & ((1 << 36) - 1)
    return total / rate if rate and total else None


def _check_mp3_complete(data: bytes) -> None:
    """A cut-off MP3 ends mid-frame or short of its Info/Xing frame count."""
    scan = scan_mp3(data)
    if scan is None:
        raise BadAudioError("MP3 signature but no MPEG audio frame")
    declared = info_frame_count(data)
    if scan.truncated or (declared is not None and scan.frames < declared * 0.98 - 1):
        raise BadAudioError(
            f"truncated MP3: {scan.frames} whole frames" + (f" of {declared} declared" if declared else "")
        )


def declared_seconds(data: bytes) -> float | None:
    """A clip's duration from its headers alone (MP3 frames, FLAC STREAMINFO, WAV data
    size), or None when they do not say: cheap, for planning cuts before decoding."""
    fmt = detect_format(data)
    if fmt == "mp3":
        scan = scan_mp3(data)
        return scan.duration_s if scan is not None else None
    if fmt == "flac":
        return flac_declared_seconds(data)
    if fmt == "wav" and len(data) >= 44 and (size := _wav_declared_bytes(data)) is not None:
        channels, rate, bits = struct.unpack("<HIxxxxxxH", data[22:36])
        return size / (rate * channels * max(1, bits // 8)) if rate else None
    return None


def check_complete(data: bytes) -> str:
    """The format of `data` if it looks like whole audio by its structure alone (no ffmpeg):
    a known signature, and for WAV and MP3 every declared byte or frame present. Cheap
    enough to run on every cached clip whose size or mtime changed; raises BadAudioError."""
    if not data:
        raise BadAudioError("empty audio file")
    fmt = detect_format(data)
    if fmt is None:
        raise BadAudioError("not audio: unrecognised file signature")
    if fmt == "wav":
        _check_wav_complete(data)
    elif fmt == "mp3":
        _check_mp3_complete(data)
    return fmt
