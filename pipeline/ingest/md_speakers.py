"""Speakers in Markdown plays: the common plain-text layout `NAME. speech` or
`**Name.** speech` at the start of a paragraph.

A paragraph so marked becomes a persona label (`Block.role == "name"`) and the speech
(`Block.speaker`). Prose can start paragraphs the same way by chance ("MR. SMITH went"),
so the marks are kept only when the book has a real cast: at least two names with at
least two speeches each; otherwise every paragraph is given back exactly as it was.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from markdown_it.token import Token

from pipeline.models import Block, Chapter

# ALL-CAPS names of one to four words: "ALGERNON.", "LADY BRACKNELL.", "FIRST CLOWN."
_CAPS_NAME = re.compile(r"^((?:[A-ZÀ-ÞА-Я][A-ZÀ-ÞА-Я'’\-]+)(?: [A-ZÀ-ÞА-Я][A-ZÀ-ÞА-Я'’\-]+){0,3})\. +(?=\S)")
MAX_NAME_WORDS = 4
# "MR. SMITH went out": a title's full stop, not a speaker's
_TITLES = frozenset("mr mrs ms dr st sr jr prof rev gen capt col lt sgt mme mlle sra sr herr".split())
MIN_SPEAKERS = 2
MIN_SPEECHES = 2


def bold_name(children: Sequence[Token] | None) -> str | None:
    """The name of a paragraph that opens with `**Name.**` (one to four words), else None."""
    kids = [t for t in children or () if not (t.type == "text" and not t.content)]
    if len(kids) < 4 or kids[0].type != "strong_open":
        return None
    close = next((i for i, t in enumerate(kids) if t.type == "strong_close"), -1)
    if close < 0 or any(t.type != "text" for t in kids[1:close]):
        return None
    name = "".join(t.content for t in kids[1:close]).strip()
    words = name.rstrip(".").split()
    if not name.endswith(".") or not 0 < len(words) <= MAX_NAME_WORDS or not words[0][:1].isupper():
        return None
    return name


def split_speech(block: Block, bold: str | None) -> list[Block]:
    """`Name. speech` as a name block and a speech block, or the block unchanged."""
    if block.kind not in ("paragraph", "verse"):
        return [block]
    name = bold if bold and block.text.startswith(bold + " ") else None
    if name is None:
        match = _CAPS_NAME.match(block.text)
        name = match.group(1) + "." if match and match.group(1).split()[-1].casefold() not in _TITLES else None
    if name is None:
        return [block]
    speech = block.text[len(name):].lstrip(" ")
    speaker = name[:-1]
    return [Block("paragraph", name, block.lang, None, "name"), replace(block, text=speech, speaker=speaker)]


def confirm_cast(chapters: list[Chapter]) -> list[Chapter]:
    """Keep the speaker marks only when the book has a cast; else undo them exactly."""
    speeches = Counter(b.speaker.casefold() for c in chapters for b in c.blocks if b.speaker)
    if sum(1 for n in speeches.values() if n >= MIN_SPEECHES) >= MIN_SPEAKERS:
        return chapters
    return [replace(c, blocks=_undo(c.blocks)) if any(b.role == "name" for b in c.blocks) else c for c in chapters]


def _undo(blocks: tuple[Block, ...]) -> tuple[Block, ...]:
    out: list[Block] = []
    for b in blocks:
        if out and out[-1].role == "name" and b.speaker:
            name = out.pop()
            out.append(replace(b, text=f"{name.text} {b.text}", speaker=None))
        else:
            out.append(b)
    return tuple(out)
