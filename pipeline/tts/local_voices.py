"""The embedded voice's catalogue: local voice ids, languages and emotion colouring.

Pure data and pure functions (no eSpeak calls), so the planner, the voice library and
the CLI can use them without loading the synthesizer.

Local voice ids start at 900001 so they can never be mistaken for vendor ids (the
vendor's are four-digit numbers such as 2072). Each id names an eSpeak NG language,
a voice variant (timbre) and a base pitch.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from pipeline.errors import UserError
from pipeline.models import EMOTIONS, VENDOR_LANGUAGES

LOCAL_ID_BASE = 900000
MALE, FEMALE = 1, 2  # the vendor's gender enum as seen in its example (Madison is 2)
ADULT = 2  # the vendor's age enum as seen in its example

# Vendor language -> eSpeak NG voice (a file under espeak-ng-data/lang). "all" is
# resolved per text by script (see `espeak_language`).
ESPEAK_LANGUAGE: dict[str, str] = {
    "zh": "cmn", "en": "en-us", "ar": "ar", "ru": "ru", "es": "es", "fr": "fr",
    "pt": "pt", "de": "de", "ko": "ko", "ja": "ja", "zh_yue": "yue",
}


@dataclass(frozen=True)
class LocalVoice:
    """One embedded voice: eSpeak language + variant (timbre) + base pitch (0-100)."""

    id: int
    name: str
    display_name: str
    language: str  # vendor language key
    espeak_language: str  # "" for language "all": chosen from the text's script
    variant: str  # eSpeak variant file under voices/!v, e.g. "m3", "f2"
    pitch: int
    gender: int


def _voices() -> tuple[LocalVoice, ...]:
    """Two voices (male, female) per vendor language; English gets US and UK pairs."""
    table: list[tuple[str, str, str, str, str, int, int]] = [
        ("all", "", "auto_male", "Auto (male)", "m3", 45, MALE),
        ("all", "", "auto_female", "Auto (female)", "f2", 55, FEMALE),
        ("zh", "cmn", "wei", "Wei (Mandarin)", "m3", 45, MALE),
        ("zh", "cmn", "lan", "Lan (Mandarin)", "f3", 55, FEMALE),
        ("en", "en-us", "walter", "Walter (US)", "m3", 42, MALE),
        ("en", "en-us", "grace", "Grace (US)", "f3", 55, FEMALE),
        ("en", "en-gb-x-rp", "oliver", "Oliver (UK)", "m1", 48, MALE),
        ("en", "en-gb-x-rp", "amelia", "Amelia (UK)", "f2", 60, FEMALE),
        ("ar", "ar", "omar", "Omar", "m3", 45, MALE),
        ("ar", "ar", "layla", "Layla", "f3", 55, FEMALE),
        ("ru", "ru", "ivan", "Ivan", "m3", 42, MALE),
        ("ru", "ru", "olga", "Olga", "f2", 55, FEMALE),
        ("es", "es", "diego", "Diego", "m3", 45, MALE),
        ("es", "es", "lucia", "Lucía", "f3", 55, FEMALE),
        ("fr", "fr", "louis", "Louis", "m3", 45, MALE),
        ("fr", "fr", "camille", "Camille", "f2", 58, FEMALE),
        ("pt", "pt", "joao", "João", "m3", 45, MALE),
        ("pt", "pt", "ana", "Ana", "f3", 55, FEMALE),
        ("de", "de", "lukas", "Lukas", "m3", 42, MALE),
        ("de", "de", "anna", "Anna", "f2", 56, FEMALE),
        ("ko", "ko", "minjun", "Min-jun", "m3", 45, MALE),
        ("ko", "ko", "seoyeon", "Seo-yeon", "f3", 55, FEMALE),
        ("ja", "ja", "haruto", "Haruto", "m3", 45, MALE),
        ("ja", "ja", "yui", "Yui", "f2", 58, FEMALE),
        ("zh_yue", "yue", "kaming", "Ka-ming (Cantonese)", "m3", 45, MALE),
        ("zh_yue", "yue", "wingyan", "Wing-yan (Cantonese)", "f3", 55, FEMALE),
    ]
    voices: list[LocalVoice] = []
    for lang_index, lang in enumerate(VENDOR_LANGUAGES):
        rows = [r for r in table if r[0] == lang]
        for n, (_, esp, name, display, variant, pitch, gender) in enumerate(rows, start=1):
            vid = LOCAL_ID_BASE + lang_index * 10 + n
            voices.append(LocalVoice(vid, name, display, lang, esp, variant, pitch, gender))
    return tuple(voices)


LOCAL_VOICES: tuple[LocalVoice, ...] = _voices()
_BY_ID: dict[int, LocalVoice] = {v.id: v for v in LOCAL_VOICES}

# Style names every local voice offers: one per emotion id 1..8 (the vendor's voices
# list style names, not ids; these are the names `check_voice` maps emotions onto).
LOCAL_STYLES: tuple[str, ...] = tuple(name for name, eid in EMOTIONS.items() if eid != 0)


@dataclass(frozen=True)
class Prosody:
    """eSpeak parameter changes for an emotion, applied on top of the voice's base."""

    pitch: int = 0  # added to the base pitch (0-100 scale)
    range: int = 0  # added to the base range of 50
    rate: float = 1.0  # multiplies words per minute
    volume: int = 0  # added to the base volume of 100


# Emotion id -> prosody. Big enough to hear; eSpeak has no real emotional voices.
EMOTION_PROSODY: dict[int, Prosody] = {
    0: Prosody(),
    1: Prosody(pitch=15, range=30, rate=1.05, volume=10),  # happy
    2: Prosody(pitch=5, range=25, rate=1.1, volume=40),  # angry
    3: Prosody(pitch=-15, range=-20, rate=0.85, volume=-15),  # sad
    4: Prosody(pitch=20, range=10, rate=1.15, volume=-5),  # afraid
    5: Prosody(pitch=-10, range=15, rate=0.9, volume=15),  # disgusted
    6: Prosody(pitch=-10, range=-25, rate=0.8, volume=-20),  # melancholic
    7: Prosody(pitch=20, range=40, rate=1.05, volume=15),  # surprised
    8: Prosody(pitch=-5, range=-15, rate=0.92, volume=-10),  # calm
}

NORMAL_WPM = 175
MIN_WPM, MAX_WPM = 80, 450  # eSpeak NG's accepted rate range


def words_per_minute(speed: float, emotion: int = 0) -> int:
    """Vendor speed multiplier (0.5, 1, 2 or any positive float) -> eSpeak rate."""
    if not speed > 0:
        raise UserError(f"speed must be a positive number, got {speed!r}")
    prosody = EMOTION_PROSODY.get(emotion, Prosody())
    wpm = round(NORMAL_WPM * float(speed) * prosody.rate)
    return max(MIN_WPM, min(MAX_WPM, wpm))


def local_voice(voice_id: int) -> LocalVoice:
    """The local voice with this id; UserError naming the id when there is none."""
    try:
        return _BY_ID[voice_id]
    except KeyError:
        raise UserError(
            f"voice {voice_id} is not an embedded voice "
            f"(local ids are {LOCAL_VOICES[0].id}-{LOCAL_VOICES[-1].id}; see `audiobook voices`)"
        ) from None


def voices_for_language(language: str) -> tuple[LocalVoice, ...]:
    """Local voices of a vendor language (UserError for a language the vendor lacks)."""
    if language not in VENDOR_LANGUAGES:
        raise UserError(f"unknown language {language!r}; expected one of {', '.join(VENDOR_LANGUAGES)}")
    return tuple(v for v in LOCAL_VOICES if v.language == language)


def default_local_voice(language: str) -> int:
    """The id of a language's default local voice (its first, the male one)."""
    return voices_for_language(language)[0].id


def local_voice_for(voice_id: int, language: str) -> LocalVoice:
    """The local voice to speak a request with this (possibly vendor) voice id.

    A local id returns that voice. Any other id (a recipe written for the vendor, e.g.
    2072) maps deterministically onto the language's voices as `id % count`, so the same
    vendor voice always gets the same local timbre and different vendor voices in a
    book usually get different ones.
    """
    if voice_id in _BY_ID:
        return _BY_ID[voice_id]
    choices = voices_for_language(language)
    return choices[voice_id % len(choices)]


def _script_of(ch: str) -> str | None:
    code = ord(ch)
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9D:
        return "kana"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "hangul"
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF:
        return "han"
    if 0x0600 <= code <= 0x06FF or 0x0750 <= code <= 0x077F or 0xFB50 <= code <= 0xFEFF:
        return "arabic"
    if 0x0400 <= code <= 0x04FF:
        return "cyrillic"
    if unicodedata.category(ch).startswith("L"):
        return "latin"
    return None


_SCRIPT_LANGUAGE = {"kana": "ja", "hangul": "ko", "han": "cmn", "arabic": "ar", "cyrillic": "ru", "latin": "en-us"}


def script_language(text: str) -> str:
    """eSpeak language for language "all": by the text's dominant script.

    Any kana makes it Japanese (Japanese text mixes kana with Han characters);
    otherwise the most frequent script wins, ties and no letters give English.
    """
    counts: dict[str, int] = {}
    for ch in text:
        script = _script_of(ch)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    if counts.get("kana"):
        return "ja"
    if not counts:
        return "en-us"
    best = max(sorted(counts), key=lambda s: counts[s])
    return _SCRIPT_LANGUAGE[best]


def espeak_language(voice: LocalVoice, language: str, text: str) -> str:
    """The eSpeak language to speak `text` requested in vendor `language` with `voice`.

    The request's language wins over the voice's (a voice is a timbre); a voice of the
    same language keeps its own accent (en-us vs en-gb).
    """
    if language == "all":
        detected = script_language(text)
        same = voice.language != "all" and ESPEAK_LANGUAGE[voice.language] == detected
        return voice.espeak_language if same else detected
    if voice.language == language and voice.espeak_language:
        return voice.espeak_language
    if language not in ESPEAK_LANGUAGE:
        raise UserError(f"unknown language {language!r}; expected one of {', '.join(VENDOR_LANGUAGES)}")
    return ESPEAK_LANGUAGE[language]
