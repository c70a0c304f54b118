"""The neural offline voice: Piper (piper-tts on onnxruntime), from the `neural` extra.

Why Piper: eSpeak NG speaks every language at a thousand times real time but sounds
robotic; a Piper voice sounds like a reader at about ten times real time on two cores.
Both run in-process with nothing downloaded.

One model per voice file is loaded per process and shared by the worker threads
(onnxruntime sessions may run concurrently); each run uses one intra-op thread and the
pool has a worker per core, which measured faster here than one run on all cores.
Piper draws noise inside the model, so two syntheses of one text differ slightly: the
clip cache (keyed by text, voice and model hash) is what makes a rebuild identical.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.errors import AudioError, UserError
from pipeline.models import TTSRequest
from pipeline.tts.local import LocalBackend, Pcm, pcm_to_flac, synthesize_pcm
from pipeline.tts.local_voices import words_per_minute
from pipeline.tts.piper_voices import SENTENCE_GAP_S, PiperVoiceFile, cannot_speak, require_piper, speaker_for

if TYPE_CHECKING:
    from piper import PiperVoice


@dataclass(frozen=True)
class Colour:
    """How an emotion shapes Piper's output: phoneme length and the model's two noises
    (noise: variation in the voice; width: variation in phoneme durations)."""

    length: float = 1.0
    noise: float | None = None  # None: the voice config's own
    width: float | None = None


# The vendor's emotion ids (pipeline.models.EMOTIONS) as Piper can express them: pace
# and liveliness. Piper has no emotion input; this is the closest the model exposes.
EMOTION_COLOUR: dict[int, Colour] = {
    0: Colour(),
    1: Colour(0.92, 0.80),  # happy: a little quicker, livelier
    2: Colour(0.90, 0.85),  # angry
    3: Colour(1.25, 0.50),  # sad: slower, flatter
    4: Colour(0.88, 0.80, 1.0),  # afraid: quick, uneven
    5: Colour(1.08, 0.70),  # disgusted
    6: Colour(1.30, 0.45),  # melancholic
    7: Colour(0.92, 0.90, 1.0),  # surprised
    8: Colour(1.12, 0.50),  # calm
}

_LOADED: dict[str, PiperVoice] = {}
_LOAD_LOCK = threading.Lock()


def _model(voice: PiperVoiceFile) -> PiperVoice:
    """The process's one loaded model for this voice file (loaded on first use)."""
    with _LOAD_LOCK:
        found = _LOADED.get(voice.digest)
        if found is None:
            found = _LOADED[voice.digest] = _load(voice)
        return found


def _load(voice: PiperVoiceFile) -> PiperVoice:
    require_piper()
    import json

    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        config = PiperConfig.from_dict(json.loads(voice.config.read_text(encoding="utf-8")))
        session = onnxruntime.InferenceSession(str(voice.model), sess_options=options,
                                               providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a bad model
        raise UserError(f"{voice.model}: cannot load the Piper voice ({exc.__class__.__name__}: {exc})") from None
    return PiperVoice(config=config, session=session)


def synthesize_piper(text: str, voice: PiperVoiceFile, voice_id: int, emotion: int, speed: float) -> Pcm:
    """Speak `text` with a Piper voice: mono 16-bit PCM at the voice's sample rate.

    Piper speaks one chunk per sentence; they are joined with SENTENCE_GAP_S of silence.
    """
    from piper import SynthesisConfig

    if emotion not in EMOTION_COLOUR:
        raise UserError(f"unknown emotion id {emotion}; expected 0-8")
    colour = EMOTION_COLOUR[emotion]
    words_per_minute(speed)  # the one speed check every offline voice shares
    config = SynthesisConfig(speaker_id=speaker_for(voice_id, voice), length_scale=colour.length / float(speed),
                             noise_scale=colour.noise, noise_w_scale=colour.width, normalize_audio=False)
    gap = b"\0\0" * round(SENTENCE_GAP_S * voice.sample_rate)
    chunks = [c.audio_int16_bytes for c in _model(voice).synthesize(text, config)] if text.strip() else []
    return Pcm(gap.join(chunks), voice.sample_rate)


class PiperBackend(LocalBackend):
    """Piper behind the vendor's task interface. Its `name` is `piper:<model hash>`, so a
    clip made by another model is never taken for this one's. A chapter in a language
    the voice does not speak is read by eSpeak NG when `fallback` is set, else refused."""

    _JOB_PREFIX = "piper"

    def __init__(self, voice: PiperVoiceFile, fallback: bool = False, workers: int | None = None) -> None:
        super().__init__(workers=workers or max(1, min(4, os.cpu_count() or 1)))
        self.voice = voice
        self.fallback = fallback
        self.name = voice.identity

    def speaks(self, language: str) -> bool:
        return language == self.voice.language

    def check(self, request: TTSRequest) -> None:
        v = request.voice
        if not self.speaks(v.language):
            if not self.fallback:
                raise UserError(cannot_speak(self.voice, v.language))
            super().check(request)
            return
        words_per_minute(v.speed)
        if v.emotion not in EMOTION_COLOUR:
            raise UserError(f"unknown emotion id {v.emotion}; expected 0-8")

    def clip(self, request: TTSRequest) -> bytes:
        v = request.voice
        if not self.speaks(v.language):
            return pcm_to_flac(synthesize_pcm(request.text, v))
        pcm = synthesize_piper(request.text, self.voice, v.voice_id, v.emotion, v.speed)
        if request.text.strip() and not pcm.data:
            raise AudioError(f"Piper produced no audio for a {len(request.text)}-character text")
        return pcm_to_flac(pcm)
