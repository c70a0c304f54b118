"""Split a chapter's spoken text into sentences, each tagged with the cut after it.

Punkt is trained on the book's own text (plus seed abbreviations) because the
packaged model is a run-time download we may never make. CJK uses punctuation rules.
Splitting never loses a character: joining the sentences with the language's joiner
gives the chapter text back, which the segmenter relies on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktTrainer

from pipeline.errors import BookError
from pipeline.models import NO_SPACE_LANGUAGES, Boundary, Chapter, Sentence, joiner_for
from pipeline.text.abbreviations import never_final, seed_abbreviations
from pipeline.text.normalize import LINE_KINDS

# Bound on training text: Punkt trains at ~2 s/MB (~12 us per word); abbreviations are
# learnt long before. Words are capped too: "a, a, a, ..." has three times prose's.
MAX_TRAIN_CHARS = 1_000_000
MAX_TRAIN_WORDS = 200_000
# Punkt costs ~20 us per potential sentence end: a window denser in . ! ? than one per
# this many characters (not prose: dot leaders, "a. b. c." lists) is split by rule.
DENSE_MARKS = 8
_RULE_END_RE = re.compile(r"(?<=[.!?…])[\"'”’»)\]]* (?=[\"'“‘«(\[]*[^\W\d_])(?=[\"'“‘«(\[]*[A-ZÀ-ÞА-Я])")
# Punkt keeps every potential sentence end of its input in a list, and nltk gives each
# regex 5 s: a paragraph longer than this (rare in real books) goes through in windows.
PUNKT_WINDOW = 20_000
# Sentences (and verse lines) in one chapter, each a DP state of the segmenter: a
# chapter holding more is refused (War and Peace as one chapter has ~40,000; 250,000
# keep the whole plan of such a chapter under ~450 MB).
MAX_CHAPTER_SENTENCES = 250_000

# Length-preserving map to what Punkt understands: curly/angle/CJK quotes to ASCII
# quotes (so closing quotes stay with their sentence) and Arabic ؟ ۔ to ? .
_SHADOW = str.maketrans({
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2039": "'", "\u203a": "'", "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u300c": '"', "\u300d": '"', "\u300e": '"', "\u300f": '"', "\uff08": "(", "\uff09": ")",
    "\u061f": "?", "\u06d4": ".", "\uff01": "!", "\uff1f": "?", "\u203c": "!", "\u2047": "?",
    "\u2048": "?", "\u2049": "!",
})

_CJK_LETTER = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK_LETTER_RE = re.compile(f"[{_CJK_LETTER}]")
# Closing marks that belong to the sentence they end.
CLOSERS = "」』）)]】〕〉》〗〙〛”’\"'»›"
# A CJK sentence end: 。！？ (or ASCII !? ． followed by a CJK letter) plus closing marks.
_CLOSE = re.escape(CLOSERS)
_CJK_END_RE = re.compile(rf"(?:[。！？｡]+|[.!?]+(?=[{_CLOSE}]*[{_CJK_LETTER}]))[{_CLOSE}]*")
# After a closing quote these continue the sentence: 「…。」と言った is one sentence.
_CJK_CONTINUE = frozenset("とっ、，,をにのがはもや")
_TERMINAL_RE = re.compile(rf"[.!?。！？؟۔…][{_CLOSE}]*$")


def is_cjk_text(text: str) -> bool:
    """True when a third or more of the letters are Han or kana (for language "all")."""
    letters = sum(1 for ch in text if ch.isalpha())
    if not letters:
        return False
    return len(_CJK_LETTER_RE.findall(text)) * 3 >= letters


def split_cjk(text: str) -> list[str]:
    """Split after 。！？ (closing quotes/brackets stay); never at a space."""
    pieces: list[str] = []
    start = 0
    for match in _CJK_END_RE.finditer(text):
        end = match.end()
        if end >= len(text) or text[end].isspace() or text[end - 1].isspace():
            continue
        if text[end - 1] in CLOSERS and text[end] in _CJK_CONTINUE:
            continue
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return [p for p in pieces if p]


@dataclass(frozen=True)
class SentenceSplitter:
    """A Punkt model trained on one book, plus the language's punctuation rules."""

    language: str
    params: PunktParameters
    _tokenizer: PunktSentenceTokenizer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tokenizer", PunktSentenceTokenizer(self.params))

    @classmethod
    def train(cls, texts: Iterable[str], language: str) -> SentenceSplitter:
        """Train on the first MAX_TRAIN_CHARS of `texts`; pure and deterministic."""
        params = PunktParameters()
        if language not in NO_SPACE_LANGUAGES:
            sample = _training_sample(texts)
            if sample:
                trainer = PunktTrainer()
                trainer.train(sample.translate(_SHADOW), finalize=False)
                trainer.finalize_training()
                params = trainer.get_params()
        params.abbrev_types.update(seed_abbreviations(language))
        return cls(language, params)

    def split(self, text: str) -> list[str]:
        """Sentences of one normalized paragraph/line, joined back by the joiner."""
        if not text:
            return []
        if self.language in NO_SPACE_LANGUAGES:
            return split_cjk(text)
        if self.language == "all" and is_cjk_text(text):
            # "all" joins sentences with " ", but CJK sentences abut with no space:
            # a split here could not be joined back, so the paragraph stays whole
            # (the segmenter still cuts it, at characters, if it is too long).
            return [text]
        return self._split_punkt(text)

    def _split_punkt(self, text: str) -> list[str]:
        """Punkt's sentences; a long paragraph goes through in windows, each window's
        unfinished last sentence re-split with the next window (same result as whole)."""
        if len(text) <= PUNKT_WINDOW:
            return self._split_window(text)
        pieces: list[str] = []
        carry = ""
        open_long: list[str] = []  # an unfinished sentence too long to carry: fragments
        for window, seam, last in _windows(text, PUNKT_WINDOW):
            found = self._split_window(carry + window)
            carry = ""
            if open_long:
                open_long.append(found[0])
                found = found[1:]
                if not found:
                    open_long.append("" if last else seam)
                    pieces.extend(["".join(open_long)] if last else [])
                    continue
                pieces.append("".join(open_long))
                open_long = []
            if last:
                pieces.extend(found)
                break
            pieces.extend(found[:-1])
            if len(found[-1]) <= PUNKT_WINDOW // 2:
                carry = found[-1] + seam
            else:
                open_long = [found[-1], seam]
        return pieces

    def _split_window(self, text: str) -> list[str]:
        if len(text) >= 2000 and sum(text.count(m) for m in ".!?") * DENSE_MARKS > len(text):
            return _rule_split(text)
        try:
            return self._punkt_pieces(text)
        except TimeoutError:  # nltk's 5 s regex limit: not seen on 20,000 characters
            return [text]

    def _punkt_pieces(self, text: str) -> list[str]:
        tokenizer = self._tokenizer
        pieces: list[str] = []
        start = 0
        for span_start, _span_end in tokenizer.span_tokenize(text.translate(_SHADOW)):
            cut = span_start - 1  # the single space between two sentences
            if cut <= start or text[cut] != " " or text[cut - 1] == " " or text[span_start] == " ":
                continue
            pieces.append(text[start:cut])
            start = span_start
        pieces.append(text[start:])
        return _merge_false_breaks([p for p in pieces if p], never_final(self.language))


def _rule_split(text: str) -> list[str]:
    """Split at a space after . ! ? … (and closing quotes) before a capital letter."""
    pieces: list[str] = []
    start = 0
    for match in _RULE_END_RE.finditer(text):
        space = match.end() - 1
        if space > start:
            pieces.append(text[start:space])
            start = space + 1
    pieces.append(text[start:])
    return [p for p in pieces if p]


def _windows(text: str, size: int) -> Iterator[tuple[str, str, bool]]:
    """(window, seam, last) covering `text`: cut at the last space before `size`
    characters (the seam is that space), or at `size` when there is none (seam "")."""
    pos = 0
    while len(text) - pos > size:
        cut = text.rfind(" ", pos + 1, pos + size)
        if cut > pos:
            yield text[pos:cut], " ", False
            pos = cut + 1
        else:
            yield text[pos:pos + size], "", False
            pos += size
    yield text[pos:], "", True


def _merge_false_breaks(pieces: list[str], titles: frozenset[str]) -> list[str]:
    """Undo Punkt's breaks after a title ("Now, Mr. | Holmes") or before a lower-case
    word ("“Really?” | she asked."): a sentence neither ends nor starts so."""
    groups: list[list[str]] = []  # joined once at the end: merging stays linear
    for piece in pieces:
        first = next((ch for ch in piece if ch.isalpha()), "")
        if groups and (first.islower() or _ends_with_title(groups[-1][-1], titles)):
            groups[-1].append(piece)
        else:
            groups.append([piece])
    return [" ".join(group) for group in groups]


def _ends_with_title(piece: str, titles: frozenset[str]) -> bool:
    if not titles or not piece.endswith("."):
        return False
    last = piece[:-1].rsplit(" ", 1)[-1].lstrip("“‘«\"'(")
    return last.lower() in titles


def _training_sample(texts: Iterable[str]) -> str:
    """The first MAX_TRAIN_CHARS of `texts`, one paragraph per line; a paragraph longer
    than PUNKT_WINDOW is wrapped at spaces (nltk runs each line's regex under a 5 s limit)."""
    parts: list[str] = []
    size = words = 0
    for text in texts:
        if size >= MAX_TRAIN_CHARS or words >= MAX_TRAIN_WORDS:
            break
        words += text.count(" ", 0, MAX_TRAIN_CHARS) + 1
        text = text[:MAX_TRAIN_CHARS]
        parts.append("\n".join(w for w, _, _ in _windows(text, PUNKT_WINDOW)) if len(text) > PUNKT_WINDOW else text)
        size += len(text) + 2
    return "\n\n".join(parts)


def _block_units(kind: str, text: str, joiner: str) -> list[str]:
    """The lines of a verse/list/table block, or the one text of any other block."""
    if kind in LINE_KINDS or kind == "heading":
        return [line for line in text.split("\n") if line]
    return [text.replace("\n", joiner)] if text else []


def chapter_text(chapter: Chapter, language: str) -> str:
    """The chapter's spoken text: blocks (line breaks too) joined with the joiner."""
    joiner = joiner_for(language)
    parts = [text.replace("\n", joiner) for text in (b.text for b in chapter.blocks) if text]
    return joiner.join(parts)


def chapter_sentences(chapter: Chapter, splitter: SentenceSplitter, language: str) -> tuple[Sentence, ...]:
    """Sentences of a normalized chapter, each with the strength of the cut after it."""
    joiner = joiner_for(language)
    texts: list[str] = []
    bounds: list[Boundary] = []
    blocks = chapter.blocks
    for k, block in enumerate(blocks):
        if block.kind == "scene_break":
            if bounds:
                bounds[-1] = max(bounds[-1], Boundary.SCENE)
            continue
        units = _block_units(block.kind, block.text, joiner)
        for u, unit in enumerate(units):
            if block.kind == "heading":
                pieces = [unit]
            else:
                pieces = splitter.split(unit)
            texts.extend(pieces)
            bounds.extend([Boundary.SENTENCE] * len(pieces))
            if len(texts) > MAX_CHAPTER_SENTENCES:
                raise BookError(
                    f"chapter {chapter.index} ({chapter.title[:60]}) has more than {MAX_CHAPTER_SENTENCES:,} "
                    "sentences or lines; split it into chapters with headings")
            if not pieces:
                continue
            if u < len(units) - 1:
                bounds[-1] = Boundary.SENTENCE if _TERMINAL_RE.search(pieces[-1]) else Boundary.LINE
            elif k + 1 < len(blocks) and blocks[k + 1].joined:  # the paragraph goes on in another voice
                bounds[-1] = inner_boundary(pieces[-1])
            else:
                bounds[-1] = Boundary.TITLE if block.kind == "heading" else Boundary.PARAGRAPH
    if bounds:
        bounds[-1] = Boundary.CHAPTER
    result = tuple(Sentence(t, b) for t, b in zip(texts, bounds))
    _check_sentences(result, joiner, chapter_text(chapter, language))
    return result


_CLAUSE_END_RE = re.compile(rf"[,;:—–\-、，；：][{_CLOSE}]*$")


def inner_boundary(text: str) -> Boundary:
    """The cut between two pieces of one paragraph: a sentence if the first ends one, a
    clause after a comma or a dash, else between words."""
    if _TERMINAL_RE.search(text):
        return Boundary.SENTENCE
    return Boundary.CLAUSE if _CLAUSE_END_RE.search(text) else Boundary.WORD


def _check_sentences(sentences: tuple[Sentence, ...], joiner: str, text: str) -> None:
    assert joiner.join(s.text for s in sentences) == text, "sentence split lost or added text"
    for s in sentences:
        assert s.text and "\n" not in s.text and s.text == s.text.strip(), f"bad sentence {s.text[:40]!r}"
