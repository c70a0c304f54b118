"""XHTML content document -> `Block`s, the EPUB reader's text layer.

Walks one parsed spine document in reading order and emits what a narrator reads:
headings, paragraphs, verse (lines joined with "\\n"), lists, tables (Hamlet's
speech tables as persona + speech), definition lists and scene breaks. Furigana
(`<rt>`/`<rp>`), note references and note bodies never reach the spoken text.
Elements whose id is in `split_ids` start a new `Piece`, so one file holding
several chapters (Poe's poems, Hamlet's scenes) can be cut at its TOC anchors.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

from lxml import etree

from pipeline.ingest.passages import split_passages, strip_marks
from pipeline.ingest.xhtml_inline import (  # noqa: F401 (re-exported for the EPUB reader and tests)
    BLOCK_TAGS,
    CONTAINERS,
    EPUB_TYPE,
    HEADINGS,
    LINE_BREAK,
    NOTE_MARK_RE,
    NOTE_ROLES,
    NOTE_TYPES,
    REF_TYPES,
    SCENE_BREAK_RE,
    SKIP_TAGS,
    VERSE_CLASSES,
    VERSE_TYPES,
    XML_LANG,
    _classes,
    _gather_into,
    gather,
    heading_text,
    is_note_body,
    is_note_reference,
    lang_of,
    local,
    types_of,
)
from pipeline.models import NO_SPACE_LANGUAGES, Block, BlockKind

DIRECTION = "z3998:stage-direction"
_OPEN, _CLOSE = "\ufdd0", "\ufdd1"  # noncharacters marking stage directions inside a speech


@dataclass
class Piece:
    """A run of blocks; `anchor` is the id that started it (None for the file's start)."""

    anchor: str | None
    blocks: list[Block] = field(default_factory=list)


@dataclass
class _Ctx:
    lang: str | None
    verse: bool = False
    drama: bool = False
    speaker: str | None = None  # the persona of the speech being walked (drama tables)


class BlockWalker:
    """Emit a document's blocks in reading order, cutting pieces at `split_ids`."""

    def __init__(self, *, book_lang: str | None, tables: str = "read", image_alt: bool = False,
                 split_ids: frozenset[str] = frozenset()) -> None:
        self.book_primary = _primary(book_lang)
        self.tables = tables
        self.image_alt = image_alt
        self.split_ids = split_ids
        self.pieces: list[Piece] = [Piece(None)]

    # --- output ---------------------------------------------------------------
    def _emit(self, kind: BlockKind, text: str, ctx: _Ctx, role: Literal["text", "name"] = "text",
              joined: bool = False) -> None:
        if kind == "scene_break":
            blocks = self.pieces[-1].blocks
            if blocks and blocks[-1].kind != "scene_break":
                blocks.append(Block("scene_break", ""))
            return
        if not text:
            return
        lang = ctx.lang if ctx.lang and _primary(ctx.lang) != self.book_primary else None
        speaker = ctx.speaker if role == "text" else None
        block = Block(kind, text, lang if self.book_primary else None, speaker, role, joined)
        self.pieces[-1].blocks.extend(split_passages(block, self.book_primary or None,
                                                     self.book_primary in NO_SPACE_LANGUAGES))

    def _maybe_split(self, el: etree._Element, deep: bool) -> None:
        if not self.split_ids:
            return
        ids = [el.get("id")] if not deep else [e.get("id") for e in el.iter() if isinstance(e.tag, str)]
        for ident in ids:
            if ident and ident in self.split_ids and all(p.anchor != ident for p in self.pieces):
                self.pieces.append(Piece(ident))
                return

    # --- walking ----------------------------------------------------------------
    def run(self, root: etree._Element) -> list[Piece]:
        body = next((e for e in root.iter() if local(e.tag) == "body"), root)
        self.walk(body, _Ctx(lang_of(body) or lang_of(root)))
        for piece in self.pieces:
            while piece.blocks and piece.blocks[-1].kind == "scene_break":
                piece.blocks.pop()
        return self.pieces

    def walk(self, el: etree._Element, ctx: _Ctx) -> None:
        """Walk a container: block children become blocks, stray inline content a paragraph."""
        self._maybe_split(el, deep=False)
        stray = etree.Element("div")
        stray.text = el.text
        for child in el:
            name = local(child.tag)
            if name and (name in BLOCK_TAGS or name in SKIP_TAGS or is_note_body(child)):
                self._paragraph(stray, ctx)
                self.block(child, name, self._child_ctx(child, ctx))
                stray = etree.Element("div")
                stray.text = child.tail
            elif name:
                stray.append(copy.deepcopy(child))  # deepcopy keeps the tail
            elif child.tail:  # a comment or PI: keep only its tail
                if len(stray):
                    stray[-1].tail = (stray[-1].tail or "") + child.tail
                else:
                    stray.text = (stray.text or "") + child.tail
        self._paragraph(stray, ctx)

    def _child_ctx(self, el: etree._Element, ctx: _Ctx) -> _Ctx:
        types = types_of(el)
        verse = ctx.verse or bool(types & VERSE_TYPES) or bool(_classes(el) & VERSE_CLASSES)
        drama = ctx.drama or "z3998:drama" in types
        return _Ctx(lang_of(el) or ctx.lang, verse, drama, ctx.speaker)

    def block(self, el: etree._Element, name: str, ctx: _Ctx) -> None:
        if name in SKIP_TAGS or is_note_body(el) or el.get("hidden") is not None:
            return
        if name in {"math"}:
            self._emit("paragraph", gather(el), ctx)
            return
        self._maybe_split(el, deep=name not in CONTAINERS or name == "hgroup")
        handler = getattr(self, f"_b_{name}", None)
        if handler is not None:
            handler(el, ctx)
        elif name in HEADINGS:
            self._emit("heading", heading_text(el), ctx)
        elif name in CONTAINERS:
            if name == "div" and not any(local(c.tag) in BLOCK_TAGS for c in el):
                self._paragraph(el, ctx)
            else:
                self.walk(el, ctx)
        else:  # p, pre, dt, figcaption, caption and friends
            self._paragraph(el, ctx)

    def _paragraph(self, el: etree._Element, ctx: _Ctx) -> None:
        if ctx.speaker and any(DIRECTION in types_of(e) for e in el.iter() if e is not el):
            self._speech_with_directions(el, ctx)
            return
        text = gather(el, self.image_alt, langs=True)  # inline passages in another language marked
        if not text:
            if "z3998:scene" in types_of(el) or local(el.tag) == "hr":
                self._emit("scene_break", "", ctx)
            return
        if SCENE_BREAK_RE.match(strip_marks(text)):
            self._emit("scene_break", "", ctx)
        elif "\n" in text or ctx.verse:
            self._emit("verse", text, ctx)
        else:
            self._emit("paragraph", text, ctx)

    def _speech_with_directions(self, el: etree._Element, ctx: _Ctx) -> None:
        """A speech with stage directions inside ("Stay! speak! <i>Exit Ghost.</i>"): the
        directions become the narrator's blocks between the speaker's."""
        marked = copy.deepcopy(el)
        for d in [e for e in marked.iter() if e is not marked and DIRECTION in types_of(e)]:
            d.text = _OPEN + (d.text or "")
            if len(d):
                d[-1].tail = (d[-1].tail or "") + _CLOSE
            else:
                d.text += _CLOSE
        kind: BlockKind = "verse" if ctx.verse else "paragraph"
        depth, start, text = 0, 0, gather(marked, self.image_alt)
        pieces: list[tuple[str, bool]] = []
        for i, ch in enumerate(text + _OPEN):
            if ch in (_OPEN, _CLOSE):
                pieces.append((text[start:i], depth > 0))
                depth += 1 if ch == _OPEN else -1
                start = i + 1
        narrator, joined = replace(ctx, speaker=None), False
        for piece, is_direction in pieces:
            lines = [" ".join(line.split()) for line in piece.split("\n")]
            body = "\n".join(line for line in lines if line)
            if body:  # the pieces after the first go on in the same speech: no paragraph pause
                self._emit("verse" if "\n" in body else kind, body, narrator if is_direction else ctx, joined=joined)
                joined = True

    # --- specific elements --------------------------------------------------------
    def _b_hr(self, el: etree._Element, ctx: _Ctx) -> None:
        self._emit("scene_break", "", ctx)

    def _b_img(self, el: etree._Element, ctx: _Ctx) -> None:
        if self.image_alt:
            self._emit("paragraph", " ".join((el.get("alt") or "").split()), ctx)

    def _b_hgroup(self, el: etree._Element, ctx: _Ctx) -> None:
        for child in el:
            if local(child.tag) in HEADINGS | {"p"}:
                self._emit("heading", heading_text(child), self._child_ctx(child, ctx))

    def _b_ul(self, el: etree._Element, ctx: _Ctx) -> None:
        lines = _list_lines(el, self.image_alt)
        self._emit("list", "\n".join(lines), ctx)

    _b_ol = _b_ul

    def _b_dl(self, el: etree._Element, ctx: _Ctx) -> None:
        for child in el:
            name = local(child.tag)
            if name == "dt":
                self._emit("paragraph", heading_text(child), self._child_ctx(child, ctx))
            elif name == "dd":
                self.walk(child, self._child_ctx(child, ctx))
            elif name == "div":  # HTML allows dt/dd groups wrapped in div
                self._b_dl(child, ctx)

    def _b_table(self, el: etree._Element, ctx: _Ctx) -> None:
        rows = [r for r in el.iter() if local(r.tag) == "tr"]
        drama = ctx.drama or any("z3998:persona" in types_of(c) for r in rows for c in r)
        if drama:
            for row in rows:
                self._drama_row(row, ctx)
            return
        if self.tables == "skip":
            return
        for cap in (c for c in el if local(c.tag) == "caption"):
            self._paragraph(cap, ctx)
        lines = []
        for row in rows:
            cells = [" ".join(gather(c, self.image_alt).split()) for c in row if local(c.tag) in {"td", "th"}]
            line = ", ".join(c for c in cells if c)
            if line:
                lines.append(line)
        self._emit("table", "\n".join(lines), ctx)

    def _drama_row(self, row: etree._Element, ctx: _Ctx) -> None:
        """A speech: the persona cell (a "name" block), then the speech cell's own blocks
        spoken by that persona; a row without one (a stage direction) is the narrator's."""
        self._maybe_split(row, deep=True)
        persona = next((heading_text(c) for c in row if local(c.tag) in {"td", "th"}
                        and "z3998:persona" in types_of(c)), "")
        ctx = replace(ctx, speaker=persona or None)
        for cell in row:
            if local(cell.tag) not in {"td", "th"}:
                continue
            cctx = self._child_ctx(cell, ctx)
            if "z3998:persona" in types_of(cell):
                self._emit("paragraph", heading_text(cell), cctx, role="name")
            elif any(local(c.tag) in BLOCK_TAGS for c in cell):
                self.walk(cell, cctx)
            else:
                self._paragraph(cell, cctx)


def _list_lines(el: etree._Element, image_alt: bool) -> list[str]:
    """Items of a (nested) list, one line each; nested lists add their own lines after
    their item's, in document order (an explicit stack: never Python recursion)."""
    lines: list[str] = []
    stack: list[Iterator[etree._Element]] = [iter(el)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        if local(item.tag) != "li":
            continue
        own = " ".join(gather(item, image_alt, skip_lists=True).split())
        if own:
            lines.append(own)
        subs = _own_sublists(item)
        if subs:
            stack.append(itertools.chain.from_iterable(subs))
    return lines


def _own_sublists(item: etree._Element) -> list[etree._Element]:
    """The ul/ol under `item` whose nearest <li> ancestor is `item`, in document order."""
    found: list[etree._Element] = []
    stack = list(reversed(item))
    while stack:
        el = stack.pop()
        name = local(el.tag)
        if name == "li":
            continue
        if name in {"ul", "ol"}:
            found.append(el)
        stack.extend(reversed(el))
    return found


def _primary(lang: str | None) -> str | None:
    return lang.replace("_", "-").split("-")[0].lower() if lang else None


def document_blocks(root: etree._Element, *, book_lang: str | None, tables: str = "read",
                    image_alt: bool = False, split_ids: frozenset[str] = frozenset()) -> list[Piece]:
    """Blocks of one content document, cut into pieces at the ids in `split_ids`."""
    walker = BlockWalker(book_lang=book_lang, tables=tables, image_alt=image_alt, split_ids=split_ids)
    return walker.run(root)


def structural_types(root: etree._Element) -> frozenset[str]:
    """epub:type tokens of body and its wrapping sections (how front/back matter is marked).

    Descends while an element's first child element is itself a section-like wrapper,
    so `<body><section epub:type="backmatter"><section epub:type="colophon">` counts.
    """
    body = next((e for e in root.iter() if local(e.tag) == "body"), None)
    found: set[str] = set()
    el = body
    while el is not None:
        found |= types_of(el)
        kids = [c for c in el if local(c.tag)]
        el = kids[0] if kids and local(kids[0].tag) in {"section", "div", "article", "nav", "main"} else None
    return frozenset(found)


def first_heading(root: etree._Element) -> str | None:
    for el in root.iter():
        if local(el.tag) in HEADINGS:
            text = heading_text(el)
            if text:
                return text
    return None


def head_title(root: etree._Element) -> str | None:
    for el in root.iter():
        if local(el.tag) == "title":
            text = " ".join("".join(el.itertext()).split())
            return text or None
    return None
