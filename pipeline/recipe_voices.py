"""The recipe's voices beyond the chapter's: `cast:` (a voice per speaker) and
`languages:` (a voice per language passage), with `speaker_names` and `min_passage`.

    cast:
      Hamlet: 3001                        # a voice id
      Ghost: {voice: 3002, emotion: calm, speed: 0.9}
    speaker_names: skip                   # read | skip (default: skip with a cast)
    languages:
      fr: {voice: 2100}                   # the vendor's key is the language itself
      la: {voice: 2072, language: all}    # not a vendor language: say which key to send
      de: default                         # the backend's default voice for German
    min_passage: 40                       # shorter passages stay in the surrounding voice
    dialogue: {voice: 3003, attribution: true}  # quoted speech in prose (off by default)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.models import VENDOR_LANGUAGES
from pipeline.recipe_values import parse_emotion, parse_language, parse_speed
from pipeline.yamlsrc import Where, at, get_int, get_str, mapping

SPEC_KEYS = ("voice", "emotion", "speed", "language")


@dataclass(frozen=True)
class VoiceSpec:
    """A voice a cast member or a language passage gets; None keeps the chapter's value
    (voice None: the backend's default voice for the language)."""

    voice: int | None = None
    emotion: int | None = None
    speed: float | None = None
    language: str | None = None  # the vendor language key to send (languages: only)


@dataclass(frozen=True)
class CastMember:
    name: str  # as the recipe spells it; matched case-insensitively
    spec: VoiceSpec
    line: int
    aliases: tuple[str, ...] = ()  # other names the book gives the speaker ("Miss Lucas" for Charlotte)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(speaker_key(n) for n in (self.name, *self.aliases))


@dataclass(frozen=True)
class DialogueVoice:
    """`dialogue:`: quoted speech in prose gets `spec` (empty: the narrator's voice) and,
    with `attribution`, the cast voice of the speaker its narration names."""

    spec: VoiceSpec
    attribution: bool
    line: int


@dataclass(frozen=True)
class LanguageVoice:
    tag: str  # the book's language tag, primary subtag ("fr" for fr-CA)
    spec: VoiceSpec
    line: int


def speaker_key(name: str) -> str:
    """How speaker names compare: case and spacing never matter ("KING", "King")."""
    return " ".join(name.casefold().rstrip(".:").split())


def parse_cast(value: Any, where: Where, allow_any_speed: bool) -> tuple[CastMember, ...]:
    d = mapping(value, where, list(value) if isinstance(value, dict) else ())
    members: list[CastMember] = []
    seen: dict[str, int] = {}
    for name, item in d.items():
        w = at(d, name, where)
        line = d.key_lines.get(name, d.line)
        aliases = _aliases(item, w)
        for key in (speaker_key(str(name)), *(speaker_key(a) for a in aliases)):
            if not key:
                raise w.error("a cast member needs a name")
            if key in seen:
                raise w.error(f"'{key}' is already cast on line {seen[key]}")
            seen[key] = line
        spec = _spec(item, w, allow_any_speed, (*SPEC_KEYS[:3], "aliases"))
        members.append(CastMember(str(name), spec, line, aliases))
    return tuple(members)


def _aliases(item: Any, where: Where) -> tuple[str, ...]:
    if not isinstance(item, dict) or "aliases" not in item:
        return ()
    d = mapping(item, where, list(item))
    value = d["aliases"]
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise at(d, "aliases", where).error("aliases must be a name or a list of names")
    return tuple(n.strip() for n in names)


def parse_dialogue(value: Any, where: Where, allow_any_speed: bool) -> DialogueVoice | None:
    """`dialogue: off | on | ID | {voice, emotion, speed, attribution}`."""
    if value in (False, "off"):
        return None
    if value in (True, "on"):
        return DialogueVoice(VoiceSpec(), True, where.line)
    attribution = True
    if isinstance(value, dict) and "attribution" in value:
        d = mapping(value, where, list(value))
        flag = d["attribution"]
        if not isinstance(flag, bool):
            raise at(d, "attribution", where).error("attribution must be true or false")
        attribution = flag
    return DialogueVoice(_spec(value, where, allow_any_speed, (*SPEC_KEYS[:3], "attribution")),
                         attribution, where.line)


def parse_languages(value: Any, where: Where, allow_any_speed: bool) -> tuple[LanguageVoice, ...]:
    d = mapping(value, where, list(value) if isinstance(value, dict) else ())
    out = []
    for tag, item in d.items():
        w = at(d, tag, where)
        primary = str(tag).replace("_", "-").split("-")[0].lower()
        if not primary.isalpha():
            raise w.error(f"'{tag}' is not a language tag like fr or de-AT")
        spec = VoiceSpec() if item == "default" else _spec(item, w, allow_any_speed, SPEC_KEYS)
        if spec.language is None:
            if primary not in VENDOR_LANGUAGES:
                raise w.error(f"'{primary}' is not one of the vendor's languages ({', '.join(VENDOR_LANGUAGES)}); "
                              "add `language:` (e.g. all) to say which to send")
            spec = VoiceSpec(spec.voice, spec.emotion, spec.speed, primary)
        out.append(LanguageVoice(primary, spec, d.key_lines.get(tag, d.line)))
    return tuple(out)


def _spec(item: Any, where: Where, allow_any_speed: bool, allowed: tuple[str, ...]) -> VoiceSpec:
    """A voice id, or a mapping of `allowed` keys of which the SPEC_KEYS are read here."""
    if isinstance(item, int) and not isinstance(item, bool):
        return VoiceSpec(voice=get_int(item, where, lo=0))
    d = mapping(item, where, allowed)
    return VoiceSpec(
        voice=get_int(d["voice"], at(d, "voice", where), lo=0) if "voice" in d else None,
        emotion=parse_emotion(d["emotion"], at(d, "emotion", where)) if "emotion" in d else None,
        speed=parse_speed(d["speed"], at(d, "speed", where), allow_any_speed) if "speed" in d else None,
        language=parse_language(d["language"], at(d, "language", where)) if "language" in d else None,
    )


def parse_speaker_names(value: Any, where: Where) -> str:
    return get_str(value, where, ("read", "skip"))
