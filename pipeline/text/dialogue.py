"""Quoted speech in prose: where it is, and who says it.

A paragraph is cut into narration and quote pieces at the language's quote marks (“…”
«…» „…“ 「…」) and dialogue dashes, and only at spaces (or anywhere in languages
written without them), so the pieces joined again give the paragraph back exactly.
A quote without a closing mark runs to the paragraph's end, as a speech that goes on
into the next paragraph does. Scare quotes ("the so-called “cure”") stay narration: a
quote counts as speech when it starts the paragraph, ends in punctuation inside the
marks, or is long; in Japanese and Chinese every bracket of two characters or more.

Attribution is the plain kind: a name next to a speech verb in the narration right
after the quote ("…,” said Elizabeth) or right before it (Elizabeth said, “…”). A
paragraph is one speaker's, so the other quotes in it take that name. Pronouns ("said
she") and unattributed turns stay unknown; `bench/dialogue.py` measures it against a
hand-labelled passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.models import NO_SPACE_LANGUAGES

# (opening, closing) marks per language; the first entry of DEFAULT_MARKS covers the rest
_MARKS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("“", "”"), ('"', '"')),
    "de": (("„", "“"), ("»", "«"), ("„", "”")),
    "fr": (("«", "»"), ("“", "”")),
    "ja": (("「", "」"), ("『", "』")),
    "zh": (("“", "”"), ("「", "」"), ("『", "』")),
    "ko": (("“", "”"), ("「", "」")),
}
DEFAULT_MARKS = (("“", "”"), ("«", "»"))
DASH_LANGUAGES = frozenset({"fr", "es", "pt", "it", "ru", "pl", "ca", "uk", "bg", "sv", "fi"})
INCISE_LANGUAGES = frozenset({"fr", "it"})  # "— Oui, dit-il, je viens.": the dash paragraph is all speech
DASHES = "—―–"
LONG_QUOTE = 40  # characters: a quote this long is speech even without punctuation inside
_SPEECH_END = re.compile(r"[.,!?…;:—–\-。、！？」』]$")

_VERBS: dict[str, str] = {
    "en": r"said|says|asked|asks|cried|replied|answered|returned|continued|added|exclaimed|observed|rejoined|"
          r"resumed|whispered|shouted|called|began|repeated|remarked|interrupted|murmured|muttered|declared|"
          r"insisted|inquired|enquired|demanded|retorted|explained|protested|pleaded|sighed|laughed|went on|"
          r"mused|faltered|hinted|pursued|growled|groaned|sobbed|stammered|screamed|roared|gasped|urged|suggested",
    "fr": r"dit|répondit|demanda|reprit|ajouta|cria|s'écria|s’écria|continua|poursuivit|répliqua|murmura",
    "es": r"dijo|respondió|preguntó|replicó|añadió|exclamó|contestó|prosiguió|gritó",
    "pt": r"disse|respondeu|perguntou|acrescentou|exclamou|continuou|gritou",
    "de": r"sagte|fragte|rief|antwortete|erwiderte|meinte|flüsterte",
    "ru": r"сказал|сказала|ответил|ответила|спросил|спросила|закричал|закричала|проговорил|проговорила",
}
_TITLES = (r"(?:Mr|Mrs|Miss|Ms|Dr|Sir|Lady|Lord|Colonel|Captain|Inspector|Doctor|Professor|Uncle|Aunt|Madame|"
           r"Monsieur|Don|Doña|Herr|Frau)\.?")
_NAME = rf"(?:[Tt]he\s+)?(?:{_TITLES}\s+)?(?:St\.\s+)?[^\W\d_][\w'’-]+(?:\s+[^\W\d_][\w'’-]+)?"
_NOT_NAMES = frozenset({"i", "the", "then", "and", "but", "he", "she", "they", "it", "we", "you", "one"})


@dataclass(frozen=True)
class Piece:
    """A stretch of a paragraph: narration, or a quote with the speaker found for it."""

    text: str
    quote: bool
    speaker: str | None = None


def split_dialogue(text: str, language: str) -> list[Piece]:
    """The paragraph as narration and quote pieces; one narration piece when it has no speech."""
    primary = language.split("-")[0].lower()
    no_space = language in NO_SPACE_LANGUAGES
    if primary in DASH_LANGUAGES and text[:1] in DASHES:
        spans = [(0, len(text))] if primary in INCISE_LANGUAGES else _dash_spans(text)
    else:
        spans = _speech_spans(text, primary)
        if spans and not no_space:
            spans = [(a, b) for a, b, _ in widen_to_spaces(text, spans)]
    if not spans:
        return [Piece(text, False)]
    pieces: list[Piece] = []
    at = 0
    for start, end in spans:
        if start > at:
            pieces.append(Piece(text[at:start].strip(), False))
        pieces.append(Piece(text[start:end].strip(), True))
        at = end
    if at < len(text):
        pieces.append(Piece(text[at:].strip(), False))
    pieces = [p for p in pieces if p.text]
    joiner = "" if no_space else " "
    if joiner.join(p.text for p in pieces) != text:  # odd spacing: never risk a character
        return [Piece(text, False)]
    return pieces


def _speech_spans(text: str, primary: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    marks = _MARKS.get(primary, DEFAULT_MARKS)
    i = 0
    while i < len(text):
        pair = next((p for p in marks if text.startswith(p[0], i)), None)
        if pair is None:
            i += 1
            continue
        close = text.find(pair[1], i + 1)
        end = len(text) if close < 0 else close + 1
        if _is_speech(text, i, end, close < 0) or (primary in NO_SPACE_LANGUAGES and end - i > 3):
            spans.append((i, end))
        i = end
    return spans


def _is_speech(text: str, start: int, end: int, open_ended: bool) -> bool:
    inner = text[start + 1:end - 1].rstrip() if not open_ended else text[start + 1:].rstrip()
    return bool(inner) and (start == 0 or open_ended or len(inner) >= LONG_QUOTE or bool(_SPEECH_END.search(inner)))


def _dash_spans(text: str) -> list[tuple[int, int]]:
    """"— Да, — сказал он. — Иди." / "—¿Qué? —dijo él—. Vale.": the paragraph opens with
    speech and each dash next to a space (or before punctuation) turns speech and
    narration over; a dash inside a word ("I—I") does not. Cuts fall on spaces: the
    narration keeps its dashes and the punctuation after them."""
    spans: list[tuple[int, int]] = []
    speech, start = True, 0
    for i in range(1, len(text)):
        before, after = text[i - 1], text[i + 1:i + 2]
        if text[i] not in DASHES or not (before.isspace() or after in ("", " ") or after in ".,;:"):
            continue
        if speech:
            end = i - 1 if before.isspace() else text.rfind(" ", start, i)
            if end > start:
                spans.append((start, end))
        else:
            start = i if before.isspace() else (text.find(" ", i) if " " in text[i:] else len(text))
        speech = not speech
    if speech and start < len(text):
        spans.append((start, len(text)))
    return spans


def widen_to_spaces(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Spans widened to the spaces around them (a span takes the punctuation stuck to
    it) and merged where they then touch: (start, end, index of the longest span merged)."""
    out: list[tuple[int, int, int]] = []
    for k, (start, end) in enumerate(spans):
        length = end - start
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        if out and start <= out[-1][1] + 1:
            a, b, best = out[-1]
            longest = best if spans[best][1] - spans[best][0] >= length else k
            out[-1] = (a, max(b, end), longest)
        else:
            out.append((start, end, k))
    return out


def attribute(pieces: list[Piece], language: str) -> list[Piece]:
    """Quotes with the speaker their narration names; the paragraph's one named
    speaker for the rest. Pieces whose speaker stays unknown keep None."""
    found = [(_speaker(pieces, i, language) if p.quote else None) for i, p in enumerate(pieces)]
    names = {n for n in found if n}
    only = names.pop() if len(names) == 1 else None
    return [Piece(p.text, p.quote, (found[i] or only) if p.quote else None) for i, p in enumerate(pieces)]


def _speaker(pieces: list[Piece], i: int, language: str) -> str | None:
    verbs = _VERBS.get(language.split("-")[0].lower())
    if verbs is None:
        return None
    after = pieces[i + 1].text.lstrip(DASHES + " ") if i + 1 < len(pieces) and not pieces[i + 1].quote else ""
    before = pieces[i - 1].text if i > 0 and not pieces[i - 1].quote else ""
    inside = pieces[i].text if pieces[i].text[:1] in DASHES else ""  # "— Oui, dit Candide."
    for pattern, text in ((rf"^(?:{verbs})\s+({_NAME})", after), (rf"^({_NAME})\s+(?:{verbs})\b", after),
                          (rf"(?:^|[.!?]\s+)({_NAME})\s+(?:{verbs})[,:]?$", before),
                          (rf"[,!?…]\s+(?:{verbs})\s+({_NAME})", inside)):
        m = re.search(pattern, text)
        if m and (name := _clean(m.group(1))):
            return name
    return None


def _clean(name: str) -> str | None:
    """The capitalized words of a match ("Mrs. Bennet to" → "Mrs. Bennet"), or None
    for a pronoun, a sentence word ("Then") or a title alone."""
    words: list[str] = []
    for word in re.sub(r"^[Tt]he\s+", "", name.rstrip(",.;:!?")).split():  # "said the Ghost": Ghost
        if not word[:1].isupper():
            break
        if words or word.casefold() not in _NOT_NAMES:
            words.append(word)
    last = words[-1] if words else ""
    if not last or re.fullmatch(_TITLES, last) or last.casefold() in _NOT_NAMES or len(last) < 2 or last.endswith(
            ("’s", "'s")):  # "cried Scrooge’s nephew": someone else
        return None
    return " ".join(words)
