"""Result files for emulated tasks: real offline speech, or a cheap deterministic tone.

Runs in worker threads (eSpeak and ffmpeg block), never on the event loop.
"""

from __future__ import annotations

import functools

import numpy as np

from pipeline.models import Voice

TONE_RATE = 22050
TONE_SECONDS_PER_CHAR = 0.06  # about a narrator's 15 characters per second
MP3_BITRATE = "64k"


def tone_pcm(chars: int) -> bytes:
    """s16le mono: a 220-660 Hz tone under light noise, as long as `chars` would read.

    Depends only on the length, so benchmarks hit the MP3 cache below.
    """
    seconds = max(0.3, chars * TONE_SECONDS_PER_CHAR)
    rng = np.random.default_rng(chars)
    t = np.arange(int(seconds * TONE_RATE)) / TONE_RATE
    freq = 220.0 + (chars * 37) % 440
    signal = 0.25 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)  # no clicks at the ends
    return (np.clip(signal * fade, -1, 1) * 32767).astype("<i2").tobytes()


@functools.lru_cache(maxsize=512)
def _tone_mp3(chars: int) -> bytes:
    from pipeline.audio.ffmpeg import encode_pcm

    data = encode_pcm(tone_pcm(chars), TONE_RATE, 1, "mp3", bitrate=MP3_BITRATE)
    assert data is not None  # no `out` path: encode_pcm returns bytes
    return data


def render_mp3(text: str, voice: Voice, mode: str) -> bytes:
    """The MP3 bytes a finished task serves."""
    if mode == "tone":
        return _tone_mp3(len(text))
    from pipeline.audio.ffmpeg import encode_pcm
    from pipeline.tts.local import synthesize_pcm

    speech = synthesize_pcm(text, voice)
    data = encode_pcm(speech.data, speech.sample_rate, 1, "mp3", bitrate=MP3_BITRATE)
    assert data is not None
    return data
