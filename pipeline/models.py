"""Typed values passed between stages. All frozen: a stage returns new values.

ingest ─▶ Book ─▶ normalize ─▶ Book (spoken text) ─▶ split ─▶ Sentence per chapter
       ─▶ segment ─▶ Segment ─▶ plan ─▶ Plan(ChapterPlan(Job)) ─▶ synthesize ─▶ clips
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Literal

BlockKind = Literal["heading", "paragraph", "verse", "list", "table", "scene_break", "code"]
Matter = Literal["body", "front", "back"]

VENDOR_LANGUAGES: tuple[str, ...] = (
    "all", "zh", "en", "ar", "ru", "es", "fr", "pt", "de", "ko", "ja", "zh_yue",
)
EMOTIONS: dict[str, int] = {
    "auto": 0, "happy": 1, "angry": 2, "sad": 3, "afraid": 4,
    "disgusted": 5, "melancholic": 6, "surprised": 7, "calm": 8,
}
# Languages written without spaces between words: sentences and segments join with "".
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "zh_yue"})


def joiner_for(language: str) -> str:
    """The string that joins sentences/segments of a chapter back into its text."""
    return "" if language in NO_SPACE_LANGUAGES else " "


class Boundary(IntEnum):
    """Strength of a cut point. The stitcher chooses pauses by it; higher is stronger."""

    CHAR = 0  # between two characters (CJK last resort)
    WORD = 1  # between two words
    CLAUSE = 2  # , ; : — – quotes, parentheses (and CJK/Arabic equivalents)
    LINE = 3  # a verse line break or list item (soft)
    SENTENCE = 4
    PARAGRAPH = 5
    TITLE = 6  # after a heading
    SCENE = 7  # a scene break (* * *, ⁂, <hr/>)
    CHAPTER = 8  # end of the chapter

    @property
    def label(self) -> str:
        return self.name.lower()


# --- ingest ------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One unit of a chapter's flow. Verse/list blocks keep line breaks as "\\n"."""

    kind: BlockKind
    text: str
    lang: str | None = None  # xml:lang of the block when it differs from the book's
    speaker: str | None = None  # the persona whose line this is (EPUB drama markup); None: the narrator
    role: Literal["text", "name", "quote"] = "text"  # "name": a persona label ("Bernardo"); "quote": dialogue
    joined: bool = False  # continues the previous block's paragraph (a voice changes inside it): no paragraph pause


@dataclass(frozen=True)
class Chapter:
    """A chapter as found in the book; `index` is 1-based over all chapters found."""

    index: int
    title: str
    blocks: tuple[Block, ...]
    source: str = ""  # where it came from: spine href#anchor, or "line N"
    matter: Matter = "body"  # front/back matter is skipped unless the recipe includes it


@dataclass(frozen=True)
class Cover:
    data: bytes
    media_type: str  # e.g. image/jpeg, image/png, image/svg+xml
    source: str = ""  # where it came from, for messages: the EPUB member, e.g. OEBPS/cover.jpg

    def __repr__(self) -> str:  # never dump megabytes into a log line
        return f"Cover({self.media_type}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class BookMeta:
    title: str
    authors: tuple[str, ...] = ()
    language: str | None = None  # as the book states it, e.g. "en-GB", "ja-jp"


@dataclass(frozen=True)
class Book:
    meta: BookMeta
    chapters: tuple[Chapter, ...]
    cover: Cover | None = None
    source: str = ""  # path of the book file
    format: Literal["epub", "markdown"] = "markdown"
    warnings: tuple[str, ...] = ()  # problems found while reading that did not stop it


# --- text ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """A sentence (or verse line / heading) of normalized text and the cut after it.

    Joining a chapter's sentences' `text` with `joiner_for(language)` gives the
    chapter's normalized spoken text exactly.
    """

    text: str
    boundary_after: Boundary


@dataclass(frozen=True)
class Segment:
    """One request's worth of text. `index` is 0-based within the chapter."""

    chapter: int
    index: int
    text: str
    boundary_after: Boundary


# --- plan and synthesis ---------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    """What the vendor's create call needs besides the text."""

    voice_id: int
    emotion: int = 0
    speed: float = 1.0
    language: str = "en"


@dataclass(frozen=True)
class TTSRequest:
    text: str
    voice: Voice

    def body(self) -> dict[str, object]:
        """The documented create body, in the documented field names."""
        speed: float | int = int(self.voice.speed) if float(self.voice.speed).is_integer() else self.voice.speed
        return {
            "voice_id": self.voice.voice_id,
            "emotion": self.voice.emotion,
            "speed": speed,
            "language": self.voice.language,
            "text": self.text,
        }


def content_key(request: TTSRequest, backend: str, take: int = 0) -> str:
    """Content hash keying a clip: same text+voice+backend => same clip, never paid twice.
    A retake (`take` > 0) is another clip of the same text, bought on purpose."""
    takes = {"take": take} if take else {}
    payload = json.dumps({"backend": backend, **request.body(), **takes}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


TaskState = Literal["waiting", "success", "failed"]


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState
    output_url: str = ""


@dataclass(frozen=True)
class Job:
    """A segment with its voice, ready to synthesize; `key` is its content hash."""

    segment: Segment
    voice: Voice
    key: str
    credits: int
    speaker: str | None = None  # the cast member speaking (None: narration)

    @property
    def request(self) -> TTSRequest:
        return TTSRequest(self.segment.text, self.voice)


@dataclass(frozen=True)
class ChapterPlan:
    index: int
    title: str
    chars: int
    credits: int
    min_credits: int
    voice: Voice
    rule: str  # which recipe rule set this chapter's voice ("default" when none)
    skipped: bool
    skip_reason: str = ""
    jobs: tuple[Job, ...] = ()
    title_credits: int = 0  # what `titles: separate` adds over packing headings with the text
    voice_credits: int = 0  # what cast and language voices add over one voice for the chapter


BACKENDS = ("audiocleaner", "local", "piper")
OFFLINE_BACKENDS = frozenset({"local", "piper"})


def backend_name(identity: str) -> str:
    """The backend's name from its content-key identity (`piper:<model hash>` -> piper)."""
    return identity.partition(":")[0]


def is_offline(identity: str) -> bool:
    """Offline voices (eSpeak NG, Piper) cost nothing: no ledger, no credits shown."""
    return backend_name(identity) in OFFLINE_BACKENDS


@dataclass(frozen=True)
class PiperSettings:
    """The recipe's `piper:` section: which Piper voice, and who reads a language it lacks."""

    model: Path | None = None  # None: the voice the neural extra bundles
    fallback: Literal["none", "local"] = "none"  # local: eSpeak NG reads those chapters


@dataclass(frozen=True)
class Price:
    """What a credit costs the user (recipe `price:`), so a plan can show money."""

    per_credit: float
    currency: str  # as the user writes it: USD, EUR, GBP

    def of(self, credits: int) -> float:
        return round(credits * self.per_credit, 6)

    def label(self, credits: int) -> str:
        return f"{self.of(credits):,.2f} {self.currency}"


@dataclass(frozen=True)
class Plan:
    title: str
    authors: tuple[str, ...]
    language: str
    backend: str
    chapters: tuple[ChapterPlan, ...]
    cover: Cover | None = None
    removed_chars: dict[str, int] = field(default_factory=dict)  # per normalize rule
    warnings: tuple[str, ...] = ()
    note_markers: int = 0  # plain note references ([1], ¹) not read (pipeline.text.notes)
    note_paragraphs: int = 0  # note paragraphs not read
    price: Price | None = None  # the recipe's price per credit, for money beside credits

    @property
    def active(self) -> tuple[ChapterPlan, ...]:
        return tuple(c for c in self.chapters if not c.skipped)

    @property
    def jobs(self) -> tuple[Job, ...]:
        return tuple(j for c in self.active for j in c.jobs)

    @property
    def credits(self) -> int:
        return sum(c.credits for c in self.active)


# --- audio settings (recipe `pauses` and `output`) --------------------------------


@dataclass(frozen=True)
class Pauses:
    """Silence in milliseconds inserted after a seam of each boundary kind."""

    char: int = 0
    word: int = 60
    clause: int = 250
    line: int = 350
    sentence: int = 550
    paragraph: int = 900
    title: int = 1400
    scene: int = 2200
    head: int = 750  # room tone at the start of a chapter file (0.5-1 s)
    tail: int = 2000  # room tone at the end of a chapter file (1-5 s)

    def after(self, boundary: Boundary) -> int:
        """Pause after a seam of this kind (the chapter end is the tail)."""
        if boundary == Boundary.CHAPTER:
            return self.tail
        return int(getattr(self, boundary.label))


@dataclass(frozen=True)
class EngineSettings:
    """The synthesis engine's settings a recipe may set (`synthesis:` keys), declared once:
    the recipe's SynthesisSettings and the engine's SynthOptions both extend this class."""

    max_open: int = 8  # ceiling of open tasks (AIMD adapts below it)
    rate_limit: float = 10.0  # request budget, req/s, create+get together (downloads not counted)
    failed_retries: int = 2  # re-creates after status "failed" (each costs credits)
    recreate_expired: bool = True  # 101008 / expired URL on a job not downloaded -> re-create
    probe_odds: float = 0.0  # least P(a slot is free) to create with all seemingly busy; 0 = never (opt-in)
    probe_at_limit: bool = False  # probe at max_open too, on learned task durations (opt-in; max_open = the key's)
    refusal_budget: float = 0.1  # refused requests (101003 + 101004) we may risk, as a share of all requests
    max_credits: int | None = None  # cap on the ledger's spend over every run of this store
    max_uncertain: int = 5  # creates in a row without a readable reply before the run stops
    task_timeout: float = 1800.0  # seconds a task may stay "waiting" in one run
    outage_after: float = 300.0  # seconds without one readable API reply before the run stops


@dataclass(frozen=True)
class AudioSettings:
    """How chapter audio is assembled and delivered (recipe `output`)."""

    formats: tuple[str, ...] = ("mp3", "m4b")  # also "wav", "flac", "book-mp3"
    profile: str = "generic"  # "acx": Audible's rules are checked before the build (pipeline.recipe_delivery)
    max_minutes: float | None = None  # longer chapters are cut into parts at paragraphs (acx: 120)
    sample_rate: int = 44100
    channels: int = 1
    loudness_lufs: float = -20.0
    true_peak_db: float = -3.0
    mp3_bitrate: str = "192k"  # CBR; ACX asks for >= 192 kbps
    m4b_bitrate: str = "96k"  # AAC at 64k overshoots the -3 dBTP ceiling by ~0.5 dB on speech
    pauses: Pauses = field(default_factory=Pauses)
