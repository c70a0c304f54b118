"""The YAML recipe: which book, which voice per chapter, how to cut, what to deliver.

The whole recipe is validated before any work; each message names the file, the line
and the key path. A bare book path works wherever a recipe does (`Recipe.for_book`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pipeline.errors import BookError, RecipeError
from pipeline.ingest import EPUB_SUFFIXES, MARKDOWN_SUFFIXES, IngestOptions, check_regular_file
from pipeline.models import AudioSettings, EngineSettings, Pauses, PiperSettings, Price
from pipeline.recipe_delivery import ACX_MAX_MINUTES, AUTO, PROFILES, Credits, check_profile, parse_credits
from pipeline.recipe_rules import ChapterRule, parse_rules
from pipeline.recipe_values import (
    parse_backend,
    parse_emotion,
    parse_language,
    parse_piper,
    parse_price,
    parse_speed,
)
from pipeline.recipe_voices import (
    CastMember,
    DialogueVoice,
    LanguageVoice,
    parse_cast,
    parse_dialogue,
    parse_languages,
    parse_speaker_names,
)
from pipeline.text.normalize import LexiconEntry, NormalizeOptions
from pipeline.yamlsrc import LineDict, Where, at, get_bool, get_float, get_int, get_list, get_str, load_yaml, mapping

TOP_KEYS = (
    "book", "title", "author", "language", "voice", "emotion", "speed", "allow_any_speed",
    "max_chars", "billing_unit", "cuts", "titles", "heading_chapters", "include_matter", "speak_titles", "strip_quotes",
    "voices", "cast", "speaker_names", "languages", "min_passage", "dialogue", "markdown", "chapters", "lexicon",
    "pauses", "output", "synthesis", "price", "credits", "backend", "piper",
)


@dataclass(frozen=True)
class SynthesisSettings(EngineSettings):
    """The recipe's `synthesis:` section: the engine's settings (declared once, in
    EngineSettings) plus what only the build uses."""

    confirm_above: int = 2000  # ask before spending more credits than this
    cache_dir: Path | None = None


@dataclass(frozen=True)
class Recipe:
    book: Path
    source: Path | None = None  # the recipe file; None for a bare book path
    title: str | None = None
    authors: tuple[str, ...] | None = None
    language: str | None = None
    voice: int | None = None
    emotion: int = 0
    speed: float = 1.0
    allow_any_speed: bool = False
    max_chars: int = 500
    billing_unit: int = 100
    cuts: Literal["clause", "word"] = "clause"
    titles: Literal["separate", "merged"] = "separate"  # a heading is its own request (its pause is heard)
    heading_chapters: Literal["fold", "keep"] = "fold"  # a chapter that is only a heading opens the next
    speak_titles: bool = True
    voices: Path | None = None
    cast: tuple[CastMember, ...] = ()  # a voice per speaker (EPUB drama markup)
    speaker_names: Literal["read", "skip"] | None = None  # None: skip with a cast, read without
    languages: tuple[LanguageVoice, ...] = ()  # a voice per language passage
    min_passage: int = 40  # a language passage shorter than this stays in the surrounding voice
    dialogue: DialogueVoice | None = None  # quoted speech in prose in its own voice (None: off)
    price: Price | None = None  # money per credit, shown beside credits by `plan`
    credits: Credits | None = None  # opening/closing credits read as their own tracks (None: none)
    backend: str | None = None  # the recipe's `backend:` (--backend wins); None: by the API key
    piper: PiperSettings = field(default_factory=PiperSettings)
    ingest: IngestOptions = field(default_factory=IngestOptions)
    normalize: NormalizeOptions = field(default_factory=NormalizeOptions)
    chapters: tuple[ChapterRule, ...] = ()
    audio: AudioSettings = field(default_factory=AudioSettings)
    output: Path | None = None
    synthesis: SynthesisSettings = field(default_factory=SynthesisSettings)
    warnings: tuple[str, ...] = ()

    @classmethod
    def for_book(cls, book: Path) -> Recipe:
        return cls(book=book)

    @property
    def output_dir(self) -> Path:
        """Where the build writes: the recipe's `output.directory`, else next to the book."""
        if self.output is not None:
            return self.output
        return Path.cwd() / f"{self.book.stem}-audiobook"

    def with_overrides(self, **changes: Any) -> Recipe:
        """Command-line overrides, held to the same rules as the recipe's own keys."""
        given = {k: v for k, v in changes.items() if v is not None}
        max_chars = given.get("max_chars")
        if max_chars is not None and not self.billing_unit <= max_chars <= 100_000:
            raise RecipeError(f"--max-chars {max_chars}: must be between billing_unit ({self.billing_unit}) and "
                              "100000, as max_chars in a recipe")
        return replace(self, **given)


def load_recipe(path: str | Path) -> Recipe:
    """A recipe file, or a bare book path (then every setting is a default)."""
    p = Path(path)
    if p.suffix.lower() in EPUB_SUFFIXES + MARKDOWN_SUFFIXES:
        check_regular_file(p)
        return Recipe.for_book(p.resolve())
    if p.is_dir():
        raise RecipeError(f"{p}: is a directory; give a recipe (.yaml) or a book (.epub, .md)")
    if p.suffix.lower() not in (".yaml", ".yml"):
        raise RecipeError(f"{p}: expected a recipe (.yaml) or a book (.epub, .md)")
    data = load_yaml(p)
    where = Where(p, "", 1)
    if data is None:
        raise where.error("the recipe is empty; it needs at least `book:`")
    return parse_recipe(mapping(data, where, TOP_KEYS), where)


def parse_recipe(top: LineDict, where: Where) -> Recipe:
    """A recipe from its top-level mapping; relative paths resolve against `where.file`'s
    directory (pipeline.catalogue also parses inline recipes and merged defaults with it)."""
    if "book" not in top:
        raise where.child("book", top.line).error("missing required key (the EPUB or Markdown file to read)")
    base = where.file.resolve().parent
    book = _existing_file(top["book"], at(top, "book", where), base)
    fields: dict[str, Any] = {"book": book, "source": where.file.resolve()}
    _parse_voice_keys(top, where, fields)
    _parse_text_keys(top, where, fields)
    if "voices" in top:
        fields["voices"] = _existing_file(top["voices"], at(top, "voices", where), base)
    _parse_cast_keys(top, where, fields)
    _parse_engine_keys(top, where, fields, base)
    if "markdown" in top:
        fields["ingest"] = _parse_markdown(top, where, fields.get("include_matter", False))
    elif "include_matter" in fields:
        fields["ingest"] = IngestOptions(include_matter=fields["include_matter"])
    fields.pop("include_matter", None)
    if "chapters" in top:
        w = at(top, "chapters", where)
        fields["chapters"] = parse_rules(get_list(top["chapters"], w), w, fields["allow_any_speed"])
    audio = AudioSettings()
    if "pauses" in top:
        audio = replace(audio, pauses=_parse_pauses(top["pauses"], at(top, "pauses", where)))
    if "output" in top:
        audio, fields["output"] = _parse_output(top["output"], at(top, "output", where), audio, base)
        check_profile(audio, at(top, "output", where))
    fields["audio"] = audio
    if "credits" in top:
        fields["credits"] = parse_credits(top["credits"], at(top, "credits", where))
    elif audio.profile == "acx":  # ACX wants the credits as their own files
        fields["credits"] = Credits(AUTO, AUTO)
    if "synthesis" in top:
        fields["synthesis"] = _parse_synthesis(top["synthesis"], at(top, "synthesis", where), base)
    fields["warnings"] = tuple(where.warnings)
    return Recipe(**fields)


def _parse_engine_keys(top: LineDict, where: Where, fields: dict[str, Any], base: Path) -> None:
    """`price:`, `backend:` and `piper:`: who reads the book, and what a credit costs."""
    if "price" in top:
        fields["price"] = parse_price(top["price"], at(top, "price", where))
    if "backend" in top:
        fields["backend"] = parse_backend(top["backend"], at(top, "backend", where))
    if "piper" in top:
        fields["piper"] = parse_piper(top["piper"], at(top, "piper", where), base)


def _parse_cast_keys(top: LineDict, where: Where, fields: dict[str, Any]) -> None:
    any_speed = fields["allow_any_speed"]
    if "cast" in top:
        fields["cast"] = parse_cast(top["cast"], at(top, "cast", where), any_speed)
    if "speaker_names" in top:
        fields["speaker_names"] = parse_speaker_names(top["speaker_names"], at(top, "speaker_names", where))
    if "languages" in top:
        fields["languages"] = parse_languages(top["languages"], at(top, "languages", where), any_speed)
    if "dialogue" in top:
        fields["dialogue"] = parse_dialogue(top["dialogue"], at(top, "dialogue", where), any_speed)
        if fields["dialogue"] and top.get("strip_quotes") is True:
            raise at(top, "dialogue", where).error("dialogue finds speech by its quotation marks: "
                                                   "it cannot be used with strip_quotes: true")
    if "min_passage" in top:
        fields["min_passage"] = get_int(top["min_passage"], at(top, "min_passage", where), lo=0, hi=100_000)


def _existing_file(value: Any, where: Where, base: Path) -> Path:
    path = Path(get_str(value, where)).expanduser()
    path = path if path.is_absolute() else (base / path)
    try:
        check_regular_file(path)
    except BookError as exc:
        detail = exc.message.removeprefix(f"{path}: ")
        raise where.error("file not found: " + str(path) if "not found" in detail else f"{path}: {detail}") from None
    return path.resolve()


def _parse_voice_keys(top: LineDict, where: Where, fields: dict[str, Any]) -> None:
    if "title" in top:
        fields["title"] = get_str(top["title"], at(top, "title", where))
    if "author" in top:
        value, w = top["author"], at(top, "author", where)
        items = get_list(value, w) if isinstance(value, list) else [value]
        fields["authors"] = tuple(get_str(a, w) for a in items)
    if "language" in top:
        fields["language"] = parse_language(top["language"], at(top, "language", where))
    if "voice" in top:
        fields["voice"] = get_int(top["voice"], at(top, "voice", where), lo=0)
    if "emotion" in top:
        fields["emotion"] = parse_emotion(top["emotion"], at(top, "emotion", where))
    allow_any = "allow_any_speed" in top and get_bool(top["allow_any_speed"], at(top, "allow_any_speed", where))
    fields["allow_any_speed"] = allow_any
    if "speed" in top:
        fields["speed"] = parse_speed(top["speed"], at(top, "speed", where), allow_any)


def _parse_text_keys(top: LineDict, where: Where, fields: dict[str, Any]) -> None:
    if "billing_unit" in top:
        fields["billing_unit"] = get_int(top["billing_unit"], at(top, "billing_unit", where), lo=1, hi=100_000)
    if "max_chars" in top:
        unit = fields.get("billing_unit", 100)
        fields["max_chars"] = get_int(top["max_chars"], at(top, "max_chars", where), lo=unit, hi=100_000)
    if "cuts" in top:
        fields["cuts"] = get_str(top["cuts"], at(top, "cuts", where), ("clause", "word"))
    if "titles" in top:
        fields["titles"] = get_str(top["titles"], at(top, "titles", where), ("separate", "merged"))
    if "heading_chapters" in top:
        fields["heading_chapters"] = get_str(top["heading_chapters"], at(top, "heading_chapters", where),
                                             ("fold", "keep"))
    for key in ("include_matter", "speak_titles"):
        if key in top:
            fields[key] = get_bool(top[key], at(top, key, where))
    strip_quotes = get_bool(top["strip_quotes"], at(top, "strip_quotes", where)) if "strip_quotes" in top else False
    lexicon: tuple[LexiconEntry, ...] = ()
    if "lexicon" in top:
        lexicon = parse_lexicon(top["lexicon"], at(top, "lexicon", where))
    fields["normalize"] = NormalizeOptions(lexicon=lexicon, strip_quotes=strip_quotes)


def parse_lexicon(value: Any, where: Where) -> tuple[LexiconEntry, ...]:
    """`{word: say}` mapping, or a list of {match|regex: ..., say: ..., case_sensitive}."""
    if isinstance(value, dict):
        items = mapping(value, where, list(value))
        return tuple(LexiconEntry(k, get_str(v, at(items, k, where))) for k, v in items.items())
    entries = []
    lst = get_list(value, where)
    for i, item in enumerate(lst):
        w = where.child(i, lst.item_lines[i])
        d = mapping(item, w, ("match", "regex", "say", "case_sensitive"))
        if ("match" in d) == ("regex" in d):
            raise w.error("give exactly one of `match` (a whole word or phrase) or `regex`")
        if "say" not in d:
            raise w.child("say", d.line).error("missing required key (the replacement to speak)")
        is_regex = "regex" in d
        pattern = get_str(d["regex" if is_regex else "match"], at(d, "regex" if is_regex else "match", w))
        if is_regex:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise at(d, "regex", w).error(f"invalid regular expression: {exc}") from None
        say = d["say"] if d["say"] == "" else get_str(d["say"], at(d, "say", w))
        case = get_bool(d["case_sensitive"], at(d, "case_sensitive", w)) if "case_sensitive" in d else False
        entries.append(LexiconEntry(pattern, say, regex=is_regex, case_sensitive=case))
    return tuple(entries)


def _parse_markdown(top: LineDict, where: Where, include_matter: bool) -> IngestOptions:
    w = at(top, "markdown", where)
    d = mapping(top["markdown"], w, ("chapter_level", "code", "tables", "image_alt"))
    opts: dict[str, Any] = {"include_matter": include_matter}
    if "chapter_level" in d:
        opts["chapter_level"] = get_int(d["chapter_level"], at(d, "chapter_level", w), lo=1, hi=6)
    if "code" in d:
        opts["code"] = get_str(d["code"], at(d, "code", w), ("skip", "read"))
    if "tables" in d:
        opts["tables"] = get_str(d["tables"], at(d, "tables", w), ("read", "skip"))
    if "image_alt" in d:
        opts["image_alt"] = get_bool(d["image_alt"], at(d, "image_alt", w))
    return IngestOptions(**opts)


def _parse_pauses(value: Any, where: Where) -> Pauses:
    names = [f for f in Pauses.__dataclass_fields__]
    d = mapping(value, where, names)
    return Pauses(**{k: get_int(v, at(d, k, where), lo=0, hi=30_000) for k, v in d.items()})


OUTPUT_KEYS = ("directory", "formats", "profile", "max_minutes", "sample_rate", "channels", "loudness", "true_peak",
               "mp3_bitrate", "m4b_bitrate")
FORMATS = ("mp3", "m4b", "wav", "flac", "book-mp3")


def _parse_output(value: Any, where: Where, audio: AudioSettings, base: Path) -> tuple[AudioSettings, Path | None]:
    d = mapping(value, where, OUTPUT_KEYS)
    out = None
    if "directory" in d:
        p = Path(get_str(d["directory"], at(d, "directory", where))).expanduser()
        out = (p if p.is_absolute() else base / p).resolve()
    changes: dict[str, Any] = {}
    if "formats" in d:
        changes["formats"] = _parse_formats(d["formats"], at(d, "formats", where))
    if "profile" in d:
        changes["profile"] = get_str(d["profile"], at(d, "profile", where), PROFILES)
        changes.setdefault("max_minutes", ACX_MAX_MINUTES if changes["profile"] == "acx" else None)
    if "max_minutes" in d:
        changes["max_minutes"] = get_float(d["max_minutes"], at(d, "max_minutes", where), lo=1, hi=10_000)
    if "sample_rate" in d:
        changes["sample_rate"] = get_int(d["sample_rate"], at(d, "sample_rate", where), lo=8000, hi=96000)
    if "channels" in d:
        changes["channels"] = get_int(d["channels"], at(d, "channels", where), lo=1, hi=2)
    if "loudness" in d:
        changes["loudness_lufs"] = get_float(d["loudness"], at(d, "loudness", where), lo=-40, hi=-5)
    if "true_peak" in d:
        changes["true_peak_db"] = get_float(d["true_peak"], at(d, "true_peak", where), lo=-20, hi=0)
    for key in ("mp3_bitrate", "m4b_bitrate"):
        if key in d:
            rate = get_str(d[key], at(d, key, where))
            if not re.fullmatch(r"\d{2,3}k", rate):
                raise at(d, key, where).error(f"'{rate}' is not a bitrate like 192k")
            changes[key] = rate
    return replace(audio, **changes), out


def _parse_formats(value: Any, where: Where) -> tuple[str, ...]:
    raw = [value] if isinstance(value, str) else get_list(value, where)
    formats = tuple(get_str(f, where.child(i), FORMATS) for i, f in enumerate(raw))
    if not formats:
        raise where.error("list at least one format (mp3, m4b, wav, flac, book-mp3)")
    if "book-mp3" in formats and "mp3" not in formats:
        raise where.error("book-mp3 (one MP3 with chapters) is made from the chapter MP3s: add mp3 to formats")
    return tuple(dict.fromkeys(formats))


def _parse_synthesis(value: Any, where: Where, base: Path) -> SynthesisSettings:
    keys = ("max_open", "rate_limit", "failed_retries", "recreate_expired", "confirm_above", "cache_dir",
            "probe_odds", "probe_at_limit", "refusal_budget", "max_credits", "max_uncertain", "task_timeout",
            "outage_after")
    d = mapping(value, where, keys)
    opts: dict[str, Any] = _parse_limits(d, where)
    if "max_open" in d:
        opts["max_open"] = get_int(d["max_open"], at(d, "max_open", where), lo=1, hi=256)
    if "rate_limit" in d:
        opts["rate_limit"] = get_float(d["rate_limit"], at(d, "rate_limit", where), lo=0.1, hi=1000)
    if "failed_retries" in d:
        opts["failed_retries"] = get_int(d["failed_retries"], at(d, "failed_retries", where), lo=0, hi=10)
    if "recreate_expired" in d:
        opts["recreate_expired"] = get_bool(d["recreate_expired"], at(d, "recreate_expired", where))
    if "confirm_above" in d:
        opts["confirm_above"] = get_int(d["confirm_above"], at(d, "confirm_above", where), lo=0)
    if "probe_odds" in d:
        opts["probe_odds"] = get_float(d["probe_odds"], at(d, "probe_odds", where), lo=0.0, hi=1.0)
    if "probe_at_limit" in d:
        opts["probe_at_limit"] = get_bool(d["probe_at_limit"], at(d, "probe_at_limit", where))
    if "refusal_budget" in d:
        opts["refusal_budget"] = get_float(d["refusal_budget"], at(d, "refusal_budget", where), lo=0.0, hi=0.5)
    if "cache_dir" in d:
        p = Path(get_str(d["cache_dir"], at(d, "cache_dir", where))).expanduser()
        opts["cache_dir"] = (p if p.is_absolute() else base / p).resolve()
    return SynthesisSettings(**opts)


def _parse_limits(d: LineDict, where: Where) -> dict[str, Any]:
    """The money and deadline keys of `synthesis`: the cap, the breaker, the timeouts."""
    opts: dict[str, Any] = {}
    if "max_credits" in d:
        opts["max_credits"] = get_int(d["max_credits"], at(d, "max_credits", where), lo=0)
    if "max_uncertain" in d:
        opts["max_uncertain"] = get_int(d["max_uncertain"], at(d, "max_uncertain", where), lo=1, hi=100)
    if "task_timeout" in d:
        opts["task_timeout"] = get_float(d["task_timeout"], at(d, "task_timeout", where), lo=1, hi=7 * 86400)
    if "outage_after" in d:
        opts["outage_after"] = get_float(d["outage_after"], at(d, "outage_after", where), lo=1, hi=86400)
    return opts
