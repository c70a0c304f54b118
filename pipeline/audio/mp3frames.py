"""MPEG audio frame walking: CBR/VBR detection and truncation checks without ffprobe."""

from __future__ import annotations

import struct
from dataclasses import dataclass

_BITRATES = {
    (3, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG1 L3
    (3, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),  # MPEG1 L2
    (3, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),  # L1
    (2, 1): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG2/2.5 L3/L2
    (2, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True)
class FrameHeader:
    bitrate_kbps: int
    sample_rate: int
    channels: int
    length: int  # bytes, padding included
    samples: int  # per frame


@dataclass(frozen=True)
class Mp3Scan:
    frames: int
    bitrates: frozenset[int]
    sample_rate: int
    channels: int
    duration_s: float
    has_vbr_header: bool  # Xing or VBRI (an "Info" tag marks CBR)
    truncated: bool  # the last frame runs past the end of the data

    @property
    def is_vbr(self) -> bool:
        return self.has_vbr_header or len(self.bitrates) > 1

    @property
    def bitrate_kbps(self) -> int:
        return max(self.bitrates) if self.bitrates else 0


def id3_size(data: bytes) -> int:
    """Bytes taken by a leading ID3v2 tag (0 when none)."""
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
    return 10 + size + (10 if data[5] & 0x10 else 0)


def parse_header(data: bytes, pos: int) -> FrameHeader | None:
    """The frame header at `pos`, or None when there is no valid one."""
    if pos + 4 > len(data) or data[pos] != 0xFF or (data[pos + 1] & 0xE0) != 0xE0:
        return None
    version, layer = (data[pos + 1] >> 3) & 3, (data[pos + 1] >> 1) & 3
    br_idx, sr_idx = data[pos + 2] >> 4, (data[pos + 2] >> 2) & 3
    if version == 1 or layer == 0 or br_idx in (0, 15) or sr_idx == 3:
        return None
    table = _BITRATES[(3, layer)] if version == 3 else _BITRATES[(2, 3 if layer == 3 else 1)]
    bitrate, rate = table[br_idx], _RATES[version][sr_idx]
    padding = (data[pos + 2] >> 1) & 1
    channels = 1 if (data[pos + 3] >> 6) == 3 else 2
    if layer == 3:  # Layer I
        return FrameHeader(bitrate, rate, channels, (12000 * bitrate // rate + padding) * 4, 384)
    spf = 1152 if (version == 3 or layer == 2) else 576
    return FrameHeader(bitrate, rate, channels, spf * 125 * bitrate // rate + padding, spf)


def _has_vbr_tag(frame: bytes) -> bool:
    return b"Xing" in frame[:64] or b"VBRI" in frame[:64]


def is_tag_frame(frame: bytes) -> bool:
    return any(t in frame[:64] for t in (b"Xing", b"Info", b"VBRI"))


def scan_mp3(data: bytes) -> Mp3Scan | None:
    """Walk every frame; None when no MPEG audio frame is found."""
    pos, first = id3_size(data), None
    while pos < len(data) - 4 and parse_header(data, pos) is None and pos < 65536:
        pos += 1  # junk between the tag and the first frame
    frames = samples = 0
    bitrates: set[int] = set()
    vbr_tag = truncated = False
    while (hdr := parse_header(data, pos)) is not None:
        if pos + hdr.length > len(data):
            truncated = True
            break
        frame = data[pos : pos + hdr.length]
        if first is None:
            first = hdr
            if is_tag_frame(frame):
                vbr_tag = _has_vbr_tag(frame)
                pos += hdr.length
                continue
        frames += 1
        samples += hdr.samples
        bitrates.add(hdr.bitrate_kbps)
        pos += hdr.length
    if first is None:
        return None
    tail = data[pos:]
    if not truncated and tail and tail[:3] not in (b"TAG", b"APE", b"ID3") and len(tail) > 128 + 4:
        truncated = tail[:2] == b"\xff\xfb" or tail[:1] == b"\xff"
    return Mp3Scan(
        frames=frames,
        bitrates=frozenset(bitrates),
        sample_rate=first.sample_rate,
        channels=first.channels,
        duration_s=samples / first.sample_rate,
        has_vbr_header=vbr_tag,
        truncated=truncated,
    )


def info_frame_count(data: bytes) -> int | None:
    """Frame count declared by a Xing/Info header (None when absent)."""
    pos = id3_size(data)
    hdr = parse_header(data, pos)
    if hdr is None:
        return None
    frame = data[pos : pos + hdr.length]
    for tag in (b"Xing", b"Info"):
        i = frame.find(tag)
        if i > 0 and len(frame) >= i + 12 and struct.unpack(">I", frame[i + 4 : i + 8])[0] & 1:
            return int(struct.unpack(">I", frame[i + 8 : i + 12])[0])
    return None
