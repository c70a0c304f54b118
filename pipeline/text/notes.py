"""Plain note markers: `[1]`, `[12]`, `[a]`, `¹` in the text, with their notes as paragraphs.

Why: converted texts (Project Gutenberg, Wikisource) keep note references as plain text
("dit-il ailleurs[1], n'est qu'une...") and the notes as paragraphs starting with the
same marker ("[1] Homélie sur l'athéisme..."), inline after the paragraph or in a notes
section at the end. Read aloud, "bracket one" interrupts the sentence and the note
paragraph interrupts the story; in a title they end up in file names. A marker is only
taken for a note reference when a note paragraph with that marker exists somewhere in
the book: a bracketed number without one (a citation, an index) is text and stays.
A chapter made mostly of notes is back matter (read only with include_matter).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipeline.models import Block, Chapter

SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_DIGITS = str.maketrans(SUPERSCRIPTS, "0123456789")
# A reference: right after a word or punctuation (optionally one space), never at a paragraph start.
_REF = re.compile(rf"(?<=\S) ?(?:\[(\d{{1,3}}|[a-z])\]|([{SUPERSCRIPTS}]{{1,3}}))")
# A note paragraph opens with its marker, then the note's text.
_DEF = re.compile(rf"^\s*(?:\[(\d{{1,3}}|[a-z])\]|([{SUPERSCRIPTS}]{{1,3}}))\s+\S")
NOTES_SHARE = 0.8  # a chapter whose paragraphs are at least this share notes is a notes section


@dataclass(frozen=True)
class NoteCount:
    markers: int = 0  # references dropped from the text and titles
    notes: int = 0  # note paragraphs not read
    chars: int = 0  # billed characters that took


def _number(match: re.Match[str]) -> str:
    return match.group(1) or match.group(2).translate(_DIGITS)


def _is_note(block: Block) -> re.Match[str] | None:
    return _DEF.match(block.text) if block.kind == "paragraph" else None


def strip_notes(chapters: Sequence[Chapter], keep_notes: bool = False) -> tuple[tuple[Chapter, ...], NoteCount]:
    """The chapters without note references (and, unless `keep_notes`, without note
    paragraphs); chapters that are notes sections become back matter."""
    defined = {_number(m) for ch in chapters for b in ch.blocks if (m := _is_note(b))}
    if not defined:
        return tuple(chapters), NoteCount()
    out: list[Chapter] = []
    markers = notes = chars = 0
    for chapter in chapters:
        paragraphs = [b for b in chapter.blocks if b.kind == "paragraph"]
        note_blocks = [b for b in paragraphs if _is_note(b)]
        if paragraphs and len(note_blocks) >= NOTES_SHARE * len(paragraphs) and chapter.matter == "body":
            out.append(replace(chapter, matter="back"))
            continue
        blocks: list[Block] = []
        for block in chapter.blocks:
            if _is_note(block) and not keep_notes:
                notes, chars = notes + 1, chars + len(block.text)
                continue
            text, n, gone = _drop_refs(block.text, defined)
            markers, chars = markers + n, chars + gone
            blocks.append(replace(block, text=text) if n else block)
        title, n, _ = _drop_refs(chapter.title, defined)
        markers += n
        out.append(replace(chapter, title=title, blocks=tuple(blocks)))
    return tuple(out), NoteCount(markers, notes, chars)


def _drop_refs(text: str, defined: set[str]) -> tuple[str, int, int]:
    """(text without the references to defined notes, how many, characters removed)."""
    count = removed = 0

    def drop(m: re.Match[str]) -> str:
        nonlocal count, removed
        if _number(m) not in defined:
            return m.group(0)
        count, removed = count + 1, removed + len(m.group(0))
        return ""

    return _REF.sub(drop, text), count, removed
