"""The voice library: which voices exist, their languages and speaking styles.

The vendor documents no endpoint for it; users download the list as JSON from the
vendor's console, so `load_voice_library` accepts that file in the shapes it is seen
in (the full envelope, its `data` object, or a bare list of records). The embedded
voice offers the same view of its own voices (`builtin_voice_library`).

`check_voice` is what the recipe validator calls: a wrong id or language is an error
before any credit is spent; an emotion the voice has no style for is only a warning,
because the vendor documents emotions as "depending on voice support", not refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import UserError
from pipeline.models import EMOTIONS
from pipeline.tts.local_voices import ADULT, LOCAL_STYLES, LOCAL_VOICES

# Emotion id -> vendor style names that express it (any one is enough).
EMOTION_STYLES: dict[int, tuple[str, ...]] = {
    1: ("cheerful", "happy", "excited", "friendly", "hopeful"),
    2: ("angry", "shouting", "unfriendly"),
    3: ("sad", "empathetic"),
    4: ("terrified", "afraid", "fearful"),
    5: ("disgruntled", "disgusted", "unfriendly"),
    6: ("sad", "melancholic"),
    7: ("excited", "surprised"),
    8: ("calm", "narration-professional", "chat", "whispering"),
}
_EMOTION_NAMES = {v: k for k, v in EMOTIONS.items()}


@dataclass(frozen=True)
class VoiceInfo:
    id: int
    name: str
    display_name: str
    language: str
    gender: int | None
    age: int | None
    styles: tuple[str, ...]

    def record(self) -> dict[str, Any]:
        """This voice as a record of the vendor's voice-list JSON."""
        return {
            "id": self.id, "gender": self.gender, "language": self.language, "age": self.age,
            "emotion": list(self.styles), "name": self.name, "display_name": self.display_name,
        }


@dataclass(frozen=True)
class VoiceLibrary:
    voices: tuple[VoiceInfo, ...]
    source: str  # the file it came from, or "built-in local voices"

    def get(self, voice_id: int) -> VoiceInfo | None:
        return next((v for v in self.voices if v.id == voice_id), None)

    def for_language(self, language: str) -> tuple[VoiceInfo, ...]:
        """Voices usable for `language` ("all" voices fit every language and vice versa)."""
        return tuple(v for v in self.voices if languages_compatible(v.language, language))

    def to_json(self) -> dict[str, Any]:
        """The vendor's envelope around these voices."""
        records = [v.record() for v in self.voices]
        return {"code": 100000, "message": "Request Success", "data": {"total": len(records), "records": records}}


def languages_compatible(voice_language: str, language: str) -> bool:
    return voice_language == language or "all" in (voice_language, language)


def _records(doc: Any) -> Sequence[Any]:
    """The records list out of an envelope, a bare data object or a bare list."""
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, Mapping):
        raise ValueError(f"expected a JSON object or list at the top, found {type(doc).__name__}")
    code = doc.get("code")
    if code is not None and code != 100000:
        raise ValueError(f"it is an error reply (code {code}: {doc.get('message') or 'no message'})")
    data = doc.get("data", doc) if "records" not in doc else doc
    if not isinstance(data, Mapping) or not isinstance(data.get("records"), list):
        raise ValueError('no "records" list (expected {"data": {"records": [...]}})')
    return data["records"]


def _opt_int(rec: Mapping[str, Any], key: str, where: str) -> int | None:
    value = rec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {key!r} must be an integer, found {value!r}")
    return value


def _voice(rec: Any, index: int) -> VoiceInfo:
    where = f"records[{index}]"
    if not isinstance(rec, Mapping):
        raise ValueError(f"{where} is not an object")
    vid = _opt_int(rec, "id", where)
    if vid is None:
        raise ValueError(f"{where} has no \"id\"")
    language = rec.get("language")
    if not isinstance(language, str) or not language:
        raise ValueError(f"{where} (id {vid}) has no \"language\" string")
    styles = rec.get("emotion") or []
    if not isinstance(styles, list) or not all(isinstance(s, str) for s in styles):
        raise ValueError(f"{where} (id {vid}): \"emotion\" must be a list of style names")
    name = str(rec.get("name") or f"voice-{vid}")
    return VoiceInfo(
        id=vid, name=name, display_name=str(rec.get("display_name") or name), language=language,
        gender=_opt_int(rec, "gender", where), age=_opt_int(rec, "age", where), styles=tuple(styles),
    )


def parse_voice_library(doc: Any, source: str) -> VoiceLibrary:
    """Build a library from already-decoded JSON; ValueError says what is wrong."""
    voices = tuple(_voice(rec, i) for i, rec in enumerate(_records(doc)))
    seen: set[int] = set()
    for v in voices:
        if v.id in seen:
            raise ValueError(f"voice id {v.id} appears twice")
        seen.add(v.id)
    return VoiceLibrary(voices, source)


def load_voice_library(path: Path) -> VoiceLibrary:
    """Read the vendor console's voice-list JSON; UserError (one line) when unusable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read voice list ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: voice list is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise UserError(f"{path}: voice list is not valid JSON ({where})") from None
    try:
        return parse_voice_library(doc, str(path))
    except ValueError as exc:
        raise UserError(f"{path}: not a voice list: {exc}") from None


def builtin_voice_library() -> VoiceLibrary:
    """The embedded (eSpeak NG) voices, each offering every emotion as a style."""
    voices = tuple(
        VoiceInfo(v.id, v.name, v.display_name, v.language, v.gender, ADULT, LOCAL_STYLES) for v in LOCAL_VOICES
    )
    return VoiceLibrary(voices, "built-in local voices")


def check_voice(lib: VoiceLibrary, voice_id: int, language: str, emotion: int) -> list[str]:
    """Errors for an unusable voice; warnings (returned) for an emotion it lacks a style for."""
    voice = lib.get(voice_id)
    if voice is None:
        raise UserError(f"voice {voice_id} is not in the voice library ({lib.source})")
    if not languages_compatible(voice.language, language):
        raise UserError(
            f"voice {voice_id} ({voice.display_name}) speaks {voice.language!r}, not {language!r}"
        )
    if emotion not in _EMOTION_NAMES:
        raise UserError(f"unknown emotion id {emotion}; expected 0-8")
    if emotion == 0:
        return []
    wanted = EMOTION_STYLES[emotion]
    have = {s.lower() for s in voice.styles}
    if have.intersection(wanted):
        return []
    offered = ", ".join(voice.styles) or "none"
    return [
        f"voice {voice_id} ({voice.display_name}) has no style for emotion {emotion} "
        f"({_EMOTION_NAMES[emotion]}; looked for {', '.join(wanted)}); its styles: {offered}"
    ]
