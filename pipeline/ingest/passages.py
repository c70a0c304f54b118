"""Language passages inside a block: marks put in while its text is gathered, then the
cut into passages.

An inline element in another language (EPUB `<i xml:lang="fr">`, Markdown
`<span lang="fr">` or `[texte]{lang=fr}`) is gathered as OPEN lang SEP text CLOSE, with
noncharacters no book contains. `split_passages` cuts the block there into blocks that
continue one another (`Block.joined`), each with its language, only at spaces (a passage
takes the punctuation stuck to it), so joined again they give the text back. Whether a
passage gets its own voice is the recipe's choice (`languages:`, `min_passage`): joined
blocks left in one voice are one block again before sentences are split.
"""

from __future__ import annotations

import re
from dataclasses import replace

from pipeline.models import Block
from pipeline.text.dialogue import widen_to_spaces

_OPEN, _SEP, _CLOSE = "\ufdd4", "\ufdd5", "\ufdd6"
_REACH = 24  # characters a passage may take from its neighbours to end at a space
_MARKS = re.compile(f"{_OPEN}[^{_SEP}]*{_SEP}|{_CLOSE}")


def open_mark(lang: str) -> str:
    return _OPEN + lang + _SEP


def close_mark() -> str:
    return _CLOSE


def strip_marks(text: str) -> str:
    """The text as read, for places that are never cut into passages (headings)."""
    return _MARKS.sub("", text) if _OPEN in text or _CLOSE in text else text


def split_passages(block: Block, primary: str | None, no_space: bool = False) -> list[Block]:
    """`block` cut at its passage marks; a passage in the book's language (`primary`)
    or the block's own stays with its neighbours. Blocks without marks come back as they are."""
    if _OPEN not in block.text and _CLOSE not in block.text:
        return [block]
    plain, spans = _spans(block.text)
    if not spans or block.kind != "paragraph":
        return [replace(block, text=plain)]
    if not no_space:  # a span that reaches far to find a space is in text written without them: not cut
        spans = [(a, b, spans[k][2]) for a, b, k in widen_to_spaces(plain, [(a, b) for a, b, _ in spans])
                 if b - a <= spans[k][1] - spans[k][0] + _REACH]
    pieces: list[tuple[str, str | None]] = []
    at = 0
    for start, end, tag in spans:
        pieces += [(plain[at:start].strip(), block.lang), (plain[start:end].strip(), tag)]
        at = end
    pieces.append((plain[at:].strip(), block.lang))
    merged: list[tuple[str, str | None]] = []
    for text, given in pieces:
        lang = None if given and primary and given.replace("_", "-").split("-")[0].lower() == primary else given
        if not text:
            continue
        if merged and merged[-1][1] == lang:
            merged[-1] = (merged[-1][0] + ("" if no_space else " ") + text, lang)
        else:
            merged.append((text, lang))
    if ("" if no_space else " ").join(t for t, _ in merged) != plain:
        return [replace(block, text=plain)]
    if len(merged) == 1:  # one passage is the whole block
        return [replace(block, text=plain, lang=merged[0][1])]
    return [replace(block, text=t, lang=lang, joined=block.joined if k == 0 else True)
            for k, (t, lang) in enumerate(merged)]


def _spans(marked: str) -> tuple[str, list[tuple[int, int, str]]]:
    """The text without marks, and the (start, end, lang) of each outermost passage."""
    out: list[str] = []
    spans: list[tuple[int, int, str]] = []
    stack: list[tuple[int, str]] = []
    size, i = 0, 0
    while i < len(marked):
        ch = marked[i]
        if ch == _OPEN:
            sep = marked.find(_SEP, i)
            if sep > 0:  # else a stray noncharacter from the book itself: dropped
                stack.append((size, marked[i + 1:sep]))
                i = sep
            i += 1
            continue
        if ch == _CLOSE:
            if stack:
                start, lang = stack.pop()
                if not stack and size > start:
                    spans.append((start, size, lang))
        else:
            out.append(ch)
            size += 1
        i += 1
    if stack and size > stack[0][0]:
        spans.append((stack[0][0], size, stack[0][1]))
    return "".join(out), spans
