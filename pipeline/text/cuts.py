"""Where a chapter may be cut: the candidate cuts the segmenter's DP chooses among.

Sentence ends (and stronger) and clause marks always; inside a sentence longer than
`max_chars` (or everywhere with `cuts: word`) word boundaries too, CJK character
boundaries, and character boundaries inside a run with no other cut. Every
candidate is a DP state, so a chapter whose text would give more than
`MAX_CANDIDATES` of them (a 20 MB "word", a million commas: never a real book) gets,
in its largest sentences only, a greedy chain instead: the farthest word (else
character) boundary at most `step` characters on, `step` the largest whole number of
billing units within `max_chars`. A chain packs every piece to a whole number of
billing units, so its credits stay within one per sentence of the exact optimum.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pipeline.models import NO_SPACE_LANGUAGES, Boundary, Sentence, joiner_for

# Candidate cuts in one chapter before the largest sentences are chained: the DP keeps
# ~5 Python objects per candidate, so 300,000 bound it to ~100 MB; a real chapter has
# a few thousand (War and Peace in one chapter: ~200,000).
MAX_CANDIDATES = 300_000


# Punctuation after which (or before which) a clause ends: a short pause is natural.
_CLAUSE_AFTER = ",;:—–…!?)]}”’»›\"'」』）》〉】、，；：،؛"
_CLAUSE_BEFORE = "([{“‘«‹\"「『（《〈【—–"
# Never at the start of a segment (closing marks, CJK small kana and prolonged sound).
_NO_START = "、。，．：；？！）」』”’》〉】〕…‥ー・,.;:?!)]}»›ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ"
# Never at the end of a segment (opening marks).
_NO_END = "「『（“‘《〈【〔([{«‹¿¡"
_SPACE_CLAUSE_RE = re.compile(
    rf"(?<=[{re.escape(_CLAUSE_AFTER)}]) (?=\S)|(?<=\S) (?=[{re.escape(_CLAUSE_BEFORE)}])"
)
_SPACE_WORD_RE = re.compile(r"(?<=\S) (?=\S)")
_CJK_CLAUSE_RE = re.compile(
    rf"(?<=[、，；：,;:」』）)》〉】”’])(?=[^\s{re.escape(_NO_START)}])"
    rf"|(?<=[^\s{re.escape(_NO_END)}])(?=[「『（(《〈【“‘])"
)
_CHAR_RE = re.compile(rf"(?<=[^\s{re.escape(_NO_END)}])(?=[^\s{re.escape(_NO_START)}])")
_GLUE = frozenset("\u200d\ufe0e\ufe0f\u034f")


@dataclass(frozen=True)
class CutTable:
    """Candidate cuts of one chapter, sorted: a segment ending at cut i stops at
    ends[i]; the next starts at starts[i] (after the joiner, if the seam has one).
    Cut 0 is the chapter start, the last one the chapter end."""

    ends: list[int]
    starts: list[int]
    kinds: list[Boundary]

    def __len__(self) -> int:
        return len(self.ends)


def _grapheme_safe(text: str, j: int) -> bool:
    """A cut before text[j] does not split a combining sequence, ZWJ or VS pair."""
    ch = text[j]
    return not (unicodedata.category(ch)[0] == "M" or ch in _GLUE or text[j - 1] in _GLUE)


def _inner_cuts(text: str, cjk: bool, fine: bool) -> list[tuple[int, int, Boundary]]:
    """(position, seam length, kind) of cuts inside one sentence, sorted."""
    if cjk:
        clause = {m.start() for m in _CJK_CLAUSE_RE.finditer(text)}
        if not fine:
            return [(p, 0, Boundary.CLAUSE) for p in sorted(clause)]
        return [
            (p, 0, Boundary.CLAUSE if p in clause else Boundary.CHAR)
            for p in (m.start() for m in _CHAR_RE.finditer(text))
            if p in clause or _grapheme_safe(text, p)
        ]
    clause = {m.start() for m in _SPACE_CLAUSE_RE.finditer(text)}
    if not fine:
        return [(p, 1, Boundary.CLAUSE) for p in sorted(clause)]
    return [
        (p, 1, Boundary.CLAUSE if p in clause else Boundary.WORD)
        for p in (m.start() for m in _SPACE_WORD_RE.finditer(text))
    ]


def candidate_cuts(
    sentences: Sequence[Sentence], language: str, max_chars: int, mode: Literal["clause", "word"],
    billing_unit: int = 100,
) -> CutTable:
    """Every place the chapter may be cut, with its kind.

    Sentence ends (and stronger) and clause marks always; word boundaries (CJK:
    character boundaries) inside sentences longer than `max_chars`, or everywhere in
    "word" mode; then, in any stretch still longer than `max_chars` with no cut,
    character boundaries (grapheme-safe if possible) so that every text can be sent.
    Past MAX_CANDIDATES, the largest sentences get a chain instead (module docstring).
    """
    cjk = language in NO_SPACE_LANGUAGES
    seam = 0 if cjk else 1
    step = billing_unit * (max_chars // billing_unit) if max_chars >= billing_unit else max_chars
    chained = _chained(sentences, cjk, max_chars, mode, step)
    ends, starts, kinds = [0], [0], [Boundary.CHAPTER]
    offset = 0
    for i, sentence in enumerate(sentences):
        t = sentence.text
        inner = _chain(t, cjk, step) if i in chained else _inner_cuts(t, cjk, mode == "word" or len(t) > max_chars)
        for pos, width, kind in inner:
            ends.append(offset + pos)
            starts.append(offset + pos + width)
            kinds.append(kind)
        offset += len(t)
        ends.append(offset)
        starts.append(offset + seam)
        kinds.append(sentence.boundary_after)
        offset += seam
    starts[-1] = ends[-1]
    kinds[-1] = Boundary.CHAPTER
    table = CutTable(ends, starts, kinds)
    text = joiner_for(language).join(s.text for s in sentences)
    return _fill_gaps(table, text, max_chars)


def _chained(sentences: Sequence[Sentence], cjk: bool, max_chars: int, mode: str, step: int) -> frozenset[int]:
    """Indices of the sentences to chain: the largest, until the rest fit the cap."""
    estimates = [_estimate(s.text, cjk, mode == "word" or len(s.text) > max_chars, max_chars) for s in sentences]
    total = len(sentences) + sum(estimates)
    if total <= MAX_CANDIDATES:
        return frozenset()
    chosen: set[int] = set()
    for i in sorted(range(len(estimates)), key=lambda i: (-estimates[i], i)):
        if total <= MAX_CANDIDATES:
            break
        chosen.add(i)
        total -= estimates[i] - len(sentences[i].text) // step
    return frozenset(chosen)


def _estimate(text: str, cjk: bool, fine: bool, max_chars: int) -> int:
    """At least the number of candidates `_inner_cuts` and `_fill_gaps` give a sentence."""
    if cjk:
        return len(text) if fine else sum(1 for _ in _CJK_CLAUSE_RE.finditer(text))
    count = text.count(" ")
    if fine and len(text) > max_chars:  # runs without a space get character cuts
        count += sum(len(m.group()) for m in _long_run(max_chars).finditer(text))
    return count


@lru_cache(maxsize=16)
def _long_run(max_chars: int) -> re.Pattern[str]:
    return re.compile(rf"\S{{{max_chars + 1},}}")


def _chain(text: str, cjk: bool, step: int) -> list[tuple[int, int, Boundary]]:
    """Greedy cuts: from each start, the farthest word boundary within `step`, else
    a character boundary at `step` (grapheme-safe when one is near)."""
    out: list[tuple[int, int, Boundary]] = []
    start, n = 0, len(text)
    while n - start > step:
        space = -1 if cjk else text.rfind(" ", start + 1, start + step + 1)
        if space > start and text[space - 1] != " " and text[space + 1] != " ":
            out.append((space, 1, Boundary.WORD))
            start = space + 1
            continue
        cut = _char_cut(text, start, start + step)
        out.append((cut, 0, Boundary.CHAR))
        start = cut
    return out


def _char_cut(text: str, start: int, hi: int) -> int:
    """The last allowed character cut in (start, hi], looking back at most 64 places."""
    low = max(start, hi - 64)
    for j in range(hi, low, -1):
        if _CHAR_RE.match(text, j) and _grapheme_safe(text, j):
            return j
    for j in range(hi, low, -1):
        if not text[j].isspace() and not text[j - 1].isspace():
            return j
    return hi


def _fill_gaps(table: CutTable, text: str, max_chars: int) -> CutTable:
    """Add CHAR cuts inside stretches longer than max_chars that have no cut at all."""
    extra: list[int] = []
    for i in range(len(table) - 1):
        lo, hi = table.starts[i], table.ends[i + 1]
        if hi - lo > max_chars:
            extra.extend(_gap_positions(text, lo, hi, max_chars))
    if not extra:
        return table
    rows = sorted(
        [(e, s, k) for e, s, k in zip(table.ends, table.starts, table.kinds)]
        + [(p, p, Boundary.CHAR) for p in extra]
    )
    return CutTable([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def _gap_positions(text: str, lo: int, hi: int, max_chars: int) -> list[int]:
    """Character cuts in text[lo:hi]: grapheme-safe ones, else any non-space edge."""
    tests = (
        lambda j: _CHAR_RE.match(text, j) is not None and _grapheme_safe(text, j),
        lambda j: not text[j].isspace() and not text[j - 1].isspace(),
        lambda j: True,
    )
    for test in tests:
        found = [j for j in range(lo + 1, hi) if test(j)]
        bounds = [lo, *found, hi]
        if all(b - a <= max_chars for a, b in zip(bounds, bounds[1:])):
            return found
    raise AssertionError("unreachable: every position is allowed by the last test")


