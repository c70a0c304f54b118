"""The retail sample ACX asks for: 1 to 5 minutes of the first chapter after the credits.

It starts at a paragraph (with the room tone of the pause before it), ends at the end of
a sentence once it is long enough, fades out over the last seconds and closes with room
tone, cut from the chapter's delivered MP3 at the clip starts the stitcher counted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pipeline.audio.ffmpeg import encode_args, run_ffmpeg
from pipeline.audio.stitch import ChapterInput
from pipeline.fsio import atomic_target
from pipeline.models import AudioSettings, Boundary

SAMPLE_NAME = "Retail Sample.mp3"
MIN_S, TARGET_S, MAX_S = 60.0, 180.0, 295.0
FADE_S = 3.0
LEAD_S = 0.75  # room tone before the first word (ACX: 0.5 to 1 s)
TAIL_S = 2.0


def sample_span(chapter: ChapterInput, starts: Sequence[int], frames: int, rate: int) -> tuple[float, float] | None:
    """(start, end) seconds in the chapter: from a paragraph start to a sentence end,
    as near TARGET_S as the text allows within MIN_S..MAX_S; None if it is too short."""
    clips = chapter.clips
    ends = [*starts[1:], frames]
    first = next((k for k in range(1, len(clips)) if clips[k - 1].boundary_after >= Boundary.PARAGRAPH), None)
    if first is None:
        return None
    start = starts[first] / rate
    best: float | None = None
    for k in range(first, len(clips)):
        end = ends[k] / rate
        if clips[k].boundary_after < Boundary.SENTENCE or end - start < MIN_S:
            continue
        if end - start > MAX_S:
            break
        best = end
        if end - start >= TARGET_S:
            break
    return (start, best) if best is not None else None


def write_sample(out: Path, source: Path, span: tuple[float, float], s: AudioSettings) -> Path:
    """Cut, fade and encode the sample next to the chapters (rewritten when they are)."""
    start, end = max(0.0, span[0] - LEAD_S), span[1]
    length = end - start
    path = out / SAMPLE_NAME
    part = atomic_target(path)
    try:
        run_ffmpeg(["-ss", f"{start:.3f}", "-t", f"{length:.3f}", "-i", str(source), "-map", "0:a",
                    "-af", f"afade=t=out:st={length - FADE_S:.3f}:d={FADE_S},apad=pad_dur={TAIL_S}",
                    "-ar", str(s.sample_rate), "-ac", str(s.channels), *encode_args("mp3", s.mp3_bitrate),
                    "-map_metadata", "-1", "-y", str(part)])
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path
