"""Normalize a chapter to the text that is actually spoken (and billed).

Every character sent to the vendor costs money, so characters that are billed but
never heard (format controls, soft hyphens, runs of whitespace, scene-break marks
and, optionally, quotation marks) are removed here, each removal counted per rule so
the plan can show what was saved. The lexicon (the user's pronunciation fixes) runs
before counting because its output is what gets billed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache

from pipeline.errors import RecipeError
from pipeline.models import Block, Chapter


@dataclass(frozen=True)
class LexiconEntry:
    """Replace `pattern` by `replacement`: a whole word/phrase, or a regex if `regex`."""

    pattern: str
    replacement: str
    regex: bool = False
    case_sensitive: bool = False


@dataclass(frozen=True)
class NormalizeOptions:
    lexicon: tuple[LexiconEntry, ...] = ()
    strip_quotes: bool = False


# Block kinds whose "\n" separates lines (verse, list items, table rows) and survives.
LINE_KINDS = frozenset({"verse", "list", "table", "code"})

# Format (Cf) characters that carry visible meaning and must stay: the Arabic/Syriac
# number signs and other prepended concatenation marks (they render digits' context).
_KEEP_FORMAT = frozenset("\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd")
# Characters that are not Cf but are also never heard.
_EXTRA_INVISIBLE = frozenset("\u00ad\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")

# CJK characters (Han, kana, CJK punctuation, full-width forms): a space beside one is
# never heard (CJK is written without spaces), so it is dropped, not collapsed.
_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3200-\u33ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f"
)
_WS = r"[^\S\n]"  # whitespace other than the line separator "\n"
_CJK_SPACE_RE = re.compile(rf"(?<=[{_CJK}]){_WS}+|{_WS}+(?=[{_CJK}])")
# Runs of whitespace that are not already one plain space (a pattern matching every
# space makes re.sub build one fragment per word: hundreds of MB on a huge paragraph).
_SPACE_RUN_RE = re.compile(r"\s{2,}|[^\S ]")

# Letters, digits and combining marks: what a whole-word lexicon match may not touch.
_WORD_CHAR = (r"\w\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
              r"\u0900-\u0903\u093a-\u094f")
_WORD_CHAR_RE = re.compile(rf"[{_WORD_CHAR}]")
_CJK_CHAR_RE = re.compile(rf"[{_CJK}]")

# A paragraph made only of ornament marks is a scene break that ingest did not catch.
_SCENE_MARK_RE = re.compile(r"^(?:[*⁂✱✲✳✻✼❋⁎∗•·~#=_\-–—]\s*)+$")

# Quotation marks that are never an apostrophe.
_DOUBLE_QUOTES = frozenset("\u201c\u201d\u201e\u201f\"\u00ab\u00bb\u2039\u203a"
                           "\u300c\u300d\u300e\u300f\u301d\u301e\u301f\uff02")
_SINGLE_QUOTES = frozenset("\u2018\u2019\u201a\u201b'")
# Word-initial elisions that keep their leading apostrophe ('tis, 'twas, rock 'n' roll).
_ELISIONS = frozenset(
    "tis twas twill twere twould em n cause cos til till bout round neath gainst mongst "
    "ere im er un ave arf".split()
)


def _is_invisible(ch: str) -> bool:
    if ch in _EXTRA_INVISIBLE:
        return True
    return unicodedata.category(ch) == "Cf" and ch not in _KEEP_FORMAT


@lru_cache(maxsize=1)
def _invisible_table() -> dict[int, None]:
    """str.translate table deleting every invisible character (built once: C speed
    and no per-character list, which a 20 MB chapter would make 160 MB)."""
    planes = (range(0x20000), range(0xE0000, 0xE1000))  # format characters live only here
    return {cp: None for plane in planes for cp in plane if _is_invisible(chr(cp))}


def _remove_invisible(text: str, removed: Counter[str]) -> str:
    if text.isascii():
        return text
    kept = text.translate(_invisible_table())
    removed["invisible"] += len(text) - len(kept)
    return kept


def _collapse_whitespace(text: str, removed: Counter[str], keep_lines: bool) -> str:
    """One space between words (NBSP, thin spaces... too); none beside CJK characters."""
    before = len(text)
    if keep_lines:
        lines = (_collapse_line(line) for line in text.split("\n"))
        text = "\n".join(line for line in lines if line)
    else:
        text = _collapse_line(text)
    removed["whitespace"] += before - len(text)
    return text


def _collapse_line(line: str) -> str:
    line = _SPACE_RUN_RE.sub(" ", line).strip()
    if not line.isascii():
        line = _CJK_SPACE_RE.sub("", line)
    return line


def _boundary(pattern: str, at_start: bool) -> str:
    """A look-around that keeps a whole-word match from starting/ending inside a word.

    Only added when the pattern's edge character is itself a word character that is
    not CJK (CJK has no word separators, so a whole-word rule there would never fire).
    """
    edge = pattern[0] if at_start else pattern[-1]
    if not _WORD_CHAR_RE.match(edge) or _CJK_CHAR_RE.match(edge):
        return ""
    return rf"(?<![{_WORD_CHAR}])" if at_start else rf"(?![{_WORD_CHAR}])"


@lru_cache(maxsize=4096)
def compile_entry(entry: LexiconEntry) -> re.Pattern[str]:
    """The compiled pattern of a lexicon entry; RecipeError names a bad one."""
    if not entry.pattern:
        raise RecipeError("lexicon entry with an empty pattern")
    flags = 0 if entry.case_sensitive else re.IGNORECASE
    if entry.regex:
        source = entry.pattern
    else:
        source = _boundary(entry.pattern, True) + re.escape(entry.pattern) + _boundary(entry.pattern, False)
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise RecipeError(f"lexicon entry {entry.pattern!r}: invalid regular expression: {exc}") from None


def apply_lexicon(text: str, lexicon: tuple[LexiconEntry, ...]) -> str:
    """Apply every entry in order; literal replacements are never template-expanded."""
    for entry in lexicon:
        pattern = compile_entry(entry)
        if entry.regex:
            try:
                text = pattern.sub(entry.replacement, text)
            except (re.error, IndexError) as exc:
                raise RecipeError(f"lexicon entry {entry.pattern!r}: bad replacement: {exc}") from None
        else:
            text = pattern.sub(entry.replacement.replace("\\", "\\\\"), text)  # literal: no \1 expansion
    return text


def strip_quote_marks(text: str) -> str:
    """Remove quotation marks that are not heard, keeping every apostrophe.

    A single quote between two letters is an apostrophe (don't, l'homme); a
    word-initial one is kept for known elisions ('tis, 'n'); a word-final one closes
    a quote only if a single quote was opened before, otherwise it is a possessive or
    an elision (the Joneses', goin') and stays.
    """
    out: list[str] = []
    open_singles = 0
    n = len(text)
    for i, ch in enumerate(text):
        if ch in _DOUBLE_QUOTES:
            continue
        if ch not in _SINGLE_QUOTES:
            out.append(ch)
            continue
        prev_alnum = i > 0 and text[i - 1].isalnum()
        next_alnum = i + 1 < n and text[i + 1].isalnum()
        if prev_alnum and next_alnum:
            out.append(ch)  # apostrophe inside a word
        elif next_alnum:
            if ch == "\u2019" or _word_at(text, i + 1).lower() in _ELISIONS:
                out.append(ch)  # elision: 'tis, 'n'
            else:
                open_singles += 1  # opening quote: dropped
        elif prev_alnum or (i > 0 and text[i - 1] in ".,;:!?…—-"):
            if open_singles:
                open_singles -= 1  # closing quote: dropped
            else:
                out.append(ch)
        # a lone quote between spaces/punctuation is dropped
    return "".join(out)


def _word_at(text: str, start: int) -> str:
    end = start
    while end < len(text) and text[end].isalnum():
        end += 1
    return text[start:end]


def normalize_text(text: str, options: NormalizeOptions, removed: Counter[str], *, keep_lines: bool = False) -> str:
    """The spoken form of `text`; adds each rule's removed character count to `removed`.

    `keep_lines` keeps "\\n" between non-empty lines (verse, lists, tables).
    """
    text = unicodedata.normalize("NFC", text)
    text = _remove_invisible(text, removed)
    text = _collapse_whitespace(text, removed, keep_lines)
    if options.lexicon:
        before = len(text)
        text = apply_lexicon(text, options.lexicon)
        removed["lexicon"] += before - len(text)
        text = unicodedata.normalize("NFC", text)
        text = _collapse_whitespace(text, removed, keep_lines)
    if options.strip_quotes:
        before = len(text)
        text = strip_quote_marks(text)
        removed["strip_quotes"] += before - len(text)
        text = _collapse_whitespace(text, removed, keep_lines)
    return text


def is_scene_break_text(text: str) -> bool:
    """True for `* * *`, `***`, `⁂`, `* * * * *`, `~~~` and similar ornament lines."""
    stripped = text.strip()
    if not stripped or not _SCENE_MARK_RE.match(stripped):
        return False
    marks = stripped.replace(" ", "")
    return "⁂" in marks or len(marks) >= 3 or (len(marks) >= 2 and "*" in marks)


def normalize_block(block: Block, options: NormalizeOptions, removed: Counter[str]) -> Block | None:
    """The block's spoken form; None when nothing is left to say."""
    if block.kind == "scene_break":
        if block.text:
            removed["scene_break_marks"] += len(block.text)
        return replace(block, text="")
    if block.kind == "paragraph" and is_scene_break_text(block.text):
        removed["scene_break_marks"] += len(block.text.strip())
        return Block("scene_break", "", block.lang)
    text = normalize_text(block.text, options, removed, keep_lines=block.kind in LINE_KINDS)
    if not text:
        return None
    return replace(block, text=text)


def normalize_chapter(chapter: Chapter, options: NormalizeOptions) -> tuple[Chapter, Counter[str]]:
    """The chapter with every block and its title normalized; empty blocks dropped.

    The Counter holds billed characters removed per rule ("invisible", "whitespace",
    "lexicon" (net, may be negative), "strip_quotes", "scene_break_marks").
    """
    removed: Counter[str] = Counter()
    blocks = []
    for block in chapter.blocks:
        normalized = normalize_block(block, options, removed)
        if normalized is not None:
            blocks.append(normalized)
    title = normalize_text(chapter.title, options, Counter())
    return replace(chapter, title=title, blocks=tuple(blocks)), removed


_SENTENCE_END = tuple(".!?…。！？؟۔:;")
_CLOSERS = "”’»)]」』）\"'"


def end_heading(text: str) -> str:
    """A heading that will be spoken, ended like a sentence so the voice pauses after it:
    a full stop (an ideographic one after CJK) unless it already ends in punctuation,
    closing quotes and brackets aside."""
    if not text or text.rstrip(_CLOSERS).endswith(_SENTENCE_END):
        return text
    return text + ("。" if any("\u3000" <= ch <= "\u9fff" for ch in text) else ".")
