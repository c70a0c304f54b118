"""The embedded offline voice: eSpeak NG (from the espeakng-loader wheel) via ctypes.

Why in-process ctypes: no system package, no subprocess per clip, and the wheel ships
both the library and its data. eSpeak NG keeps global state (current voice, parameters,
one synth callback, and synthesis counters nothing resets), so every synthesis holds one
module lock and runs on a freshly loaded library with fixed random seeds; output is
then a pure function of (text, voice), which the clip cache and the tests rely on.
Measured: about 1000x real time per request on one core, ~3 ms of it the reload.

`LocalBackend` wraps it in the vendor's task shape (create / get / download) so the
synthesis scheduler drives it exactly like the Audio Cleaner API.
"""

from __future__ import annotations

import _ctypes
import asyncio
import ctypes
import itertools
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import AudioError, TaskNotFoundError, UserError
from pipeline.models import TaskStatus, TTSRequest, Voice
from pipeline.tts.japanese import kanji_to_kana
from pipeline.tts.local_voices import EMOTION_PROSODY, Prosody, espeak_language, local_voice_for, words_per_minute

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE, _PUNCTUATION = 1, 2, 3, 4, 5
_EE_OK = 0
_RAND_SEED = 1

log = logging.getLogger(__name__)

_LIBC = ctypes.CDLL(None)
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Pcm:
    """Raw audio: signed 16-bit little-endian mono samples at `sample_rate`."""

    data: bytes
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.data) / 2 / self.sample_rate

    def __repr__(self) -> str:  # never dump audio into a log line
        return f"Pcm({self.duration:.2f} s @ {self.sample_rate} Hz)"


class _Engine:
    """One loaded eSpeak NG library. Only one may exist at a time: hold `_LOCK`."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._declare()
        data_dir = Path(espeakng_loader.get_data_path())
        # The library takes the directory that *contains* espeak-ng-data.
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_dir.parent).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise AudioError(f"eSpeak NG failed to initialise with data at {data_dir}")
        self.sample_rate: int = rate
        self._chunks: list[bytes] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def _declare(self) -> None:
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_Terminate.argtypes = []
        lib.espeak_Terminate.restype = ctypes.c_int

    def _collect(self, wav: ctypes._Pointer, numsamples: int, _events: int | None) -> int:
        if wav and numsamples > 0:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def set_voice(self, name: str) -> None:
        # Reselect every call: selecting a voice resets its tables to a known state.
        if self._lib.espeak_SetVoiceByName(name.encode()) != _EE_OK:
            raise UserError(f"eSpeak NG has no voice {name!r}")

    def set_params(self, rate: int, volume: int, pitch: int, pitch_range: int) -> None:
        params = ((_RATE, rate), (_VOLUME, volume), (_PITCH, pitch), (_RANGE, pitch_range), (_PUNCTUATION, 0))
        for param, value in params:
            self._lib.espeak_SetParameter(param, value, 0)

    def close(self) -> None:
        """Free eSpeak's memory and unload the library so its statics start afresh."""
        self._lib.espeak_Terminate()
        _ctypes.dlclose(self._lib._handle)

    def synth(self, text: str) -> bytes:
        self._chunks = []
        # Breath noise draws on eSpeak's own generator and on libc rand(): seed both so
        # the same request gives the same bytes (nothing else in-process uses rand()).
        self._lib.espeak_ng_SetRandSeed(_RAND_SEED)
        _LIBC.srand(_RAND_SEED)
        raw = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(raw, len(raw))
        err = self._lib.espeak_Synth(buf, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != _EE_OK:
            raise AudioError(f"eSpeak NG synthesis failed (error {err})")
        self._lib.espeak_Synchronize()
        data, self._chunks = b"".join(self._chunks), []
        return data


_LOCK = threading.Lock()


@contextmanager
def _fresh_engine() -> Iterator[_Engine]:
    """A freshly loaded eSpeak NG, unloaded again afterwards.

    eSpeak keeps synthesis state in C statics that nothing resets (pitch-flutter
    position, gain control, cycle counters), so two identical requests in one process
    give different samples. Loading the library anew per request (about 3 ms) is the
    only way to get a pure function of the request. Callers hold `_LOCK`.
    """
    engine = _Engine()
    try:
        yield engine
    finally:
        engine.close()


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def synthesize_pcm(text: str, voice: Voice) -> Pcm:
    """Speak `text` with the embedded voice. Thread-safe and deterministic.

    `voice.voice_id` may be a local id (900001+) or a vendor id, which maps onto one of
    the language's local voices (see `local_voice_for`). Emotion changes pitch, range,
    rate and volume; speed scales words per minute (clamped to eSpeak's 80-450).
    """
    if voice.emotion not in EMOTION_PROSODY:
        raise UserError(f"unknown emotion id {voice.emotion}; expected 0-8")
    local = local_voice_for(voice.voice_id, voice.language)
    lang = espeak_language(local, voice.language, text)
    if lang == "ja":
        text = kanji_to_kana(text)
    prosody: Prosody = EMOTION_PROSODY[voice.emotion]
    rate = words_per_minute(voice.speed, voice.emotion)
    with _LOCK, _fresh_engine() as engine:
        engine.set_voice(f"{lang}+{local.variant}")
        engine.set_params(
            rate=rate,
            volume=_clamp(100 + prosody.volume, 10, 200),
            pitch=_clamp(local.pitch + prosody.pitch, 0, 100),
            pitch_range=_clamp(50 + prosody.range, 0, 100),
        )
        data = engine.synth(text) if text.strip() else b""
        return Pcm(data, engine.sample_rate)


def pcm_to_flac(pcm: Pcm) -> bytes:
    """A complete mono 16-bit FLAC file holding `pcm` (STREAMINFO with its sample count).

    Why FLAC: the clip cache keeps what the backend sent, and this is what the offline
    voice sends; lossless like WAV at about half the bytes (A Christmas Carol's clips:
    see bench/package.py's disk figures).
    """
    from pipeline.audio.ffmpeg import encode_pcm  # audio stage, loaded late

    data = encode_pcm(pcm.data, pcm.sample_rate, 1, "flac")
    if not data:
        raise AudioError("ffmpeg produced no FLAC for a local clip")
    return data


class LocalBackend:
    """The embedded voice behind the vendor's task interface (create / get / download).

    Tasks run in a small thread pool; eSpeak itself is serialised by the module lock,
    so more workers only overlap FLAC encoding (outside the lock) and scheduling, not
    synthesis. The Piper backend reuses this task shape with its own `check` and `clip`.
    """

    name = "local"
    _URL_PREFIX = "local://"
    _JOB_PREFIX = "local"

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=self._JOB_PREFIX)
        self._tasks: dict[str, Future[bytes]] = {}
        self._ids = itertools.count(1)

    def check(self, request: TTSRequest) -> None:
        """Refuse at create what the synthesis would fail on (UserError, as the vendor's 4xx)."""
        local_voice_for(request.voice.voice_id, request.voice.language)  # raises on a bad language
        words_per_minute(request.voice.speed)  # raises on a bad speed
        if request.voice.emotion not in EMOTION_PROSODY:
            raise UserError(f"unknown emotion id {request.voice.emotion}; expected 0-8")

    def clip(self, request: TTSRequest) -> bytes:
        """The clip's bytes (FLAC); runs in a worker thread."""
        return _clip_for(request)

    async def create(self, request: TTSRequest) -> str:
        """Validate the request, start synthesis in a worker thread, return a job id."""
        self.check(request)
        job_id = f"{self._JOB_PREFIX}-{next(self._ids):08d}"
        self._tasks[job_id] = self._pool.submit(self.clip, request)
        return job_id

    async def get(self, job_id: str) -> TaskStatus:
        """Wait for the task to finish; success carries output_url local://<job_id>."""
        future = self._tasks.get(job_id)
        if future is None:
            raise TaskNotFoundError(f"{self._JOB_PREFIX} task {job_id} not found", code=101008)
        try:
            await asyncio.wrap_future(future)
        except Exception as exc:  # reported as the vendor does: status failed
            log.warning("%s synthesis of %s failed: %s", self._JOB_PREFIX, job_id, exc)
            return TaskStatus("failed")
        return TaskStatus("success", f"{self._URL_PREFIX}{job_id}")

    async def download(self, url: str) -> bytes:
        """The finished task's FLAC bytes; frees the result (a second call is not found)."""
        job_id = url.removeprefix(self._URL_PREFIX)
        future = self._tasks.pop(job_id, None) if url.startswith(self._URL_PREFIX) else None
        if future is None:
            raise TaskNotFoundError(f"{self._JOB_PREFIX} result {url} not found", code=101008)
        return await asyncio.wrap_future(future)

    async def aclose(self) -> None:
        for future in self._tasks.values():
            future.cancel()
        self._tasks.clear()
        await asyncio.to_thread(self._pool.shutdown, wait=True)


def _clip_for(request: TTSRequest) -> bytes:
    """Runs in a worker thread, so the encode overlaps the next request's synthesis."""
    return pcm_to_flac(synthesize_pcm(request.text, request.voice))
