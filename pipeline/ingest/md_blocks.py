"""Markdown token stream → spoken blocks and headings (no chapters yet).

We walk markdown-it's flat TOKEN stream instead of rendering HTML and re-parsing it:
it is faster (Don Quijote, 1 MB, in well under a second) and it tells us exactly what
a span is (autolink, footnote reference, image, code) so we can drop what is never
heard. Raw HTML blocks are parsed with lxml (the Hongloumeng keeps its paragraphs as
`<p>` HTML), inline HTML tags are dropped but their text is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from textwrap import dedent

import lxml.html
from lxml import etree
from markdown_it.token import Token

from pipeline.errors import BookError
from pipeline.ingest.limits import MAX_GRID_NESTING
from pipeline.ingest.md_chunks import MarkdownLimit, make_parser
from pipeline.ingest.md_inline import HARD, SOFT, inline_text
from pipeline.ingest.md_lang import html_container_mark
from pipeline.ingest.md_speakers import bold_name, split_speech
from pipeline.ingest.options import IngestOptions
from pipeline.ingest.xmlsafe import check_html
from pipeline.models import Block

__all__ = ["Item", "MdHeading", "make_parser", "walk_tokens"]


_URL = re.compile(
    r"(?:(?:https?|ftp)://|www\.|mailto:)(?:[^\s<>\"]*[^\s<>\".,;:!?)\]'»”])?", re.IGNORECASE
)
# Whitespace runs that are not already one plain space (matching every single space
# would make re.sub build a fragment per word: 300 MB for a 9 MB paragraph).
_SPACES = re.compile(r"[^\S\n]{2,}|[^\S\n ]")
_SCENE = re.compile(r"(?:[*⁂✱]\s*)+|(?:[-–—~=·•_]\s*){3,}")

VERSE_MAX_MEDIAN = 80  # hard-broken lines at most this long (median) read as verse
QUOTE_VERSE_MAX = 60  # soft-wrapped blockquote lines all at most this long → verse


@dataclass(frozen=True)
class MdHeading:
    """A Markdown heading; the chapter grouper decides which level starts chapters."""

    level: int
    text: str
    line: int  # 1-based source line


Item = Block | MdHeading


def clean_line(text: str) -> str:
    """Drop URLs, collapse whitespace to single spaces, trim."""
    return _SPACES.sub(" ", _URL.sub("", text)).strip()


def is_scene_break(text: str) -> bool:
    return bool(text) and _SCENE.fullmatch(text.strip()) is not None


def _is_verse(lines: Sequence[str], soft: bool) -> bool:
    if len(lines) < 2:
        return False
    lengths = sorted(len(line) for line in lines)
    if soft:  # only inside blockquotes: hard-wrapped prose has long, even lines
        return len(lines) >= 3 and lengths[-1] <= QUOTE_VERSE_MAX
    return lengths[len(lengths) // 2] <= VERSE_MAX_MEDIAN


def text_block(raw: str, quoted: bool = False) -> Block | None:
    """Shape raw inline text (HARD/SOFT marks) into a paragraph, verse or scene break.

    Hard breaks make verse when the lines are verse-short, else they become spaces.
    Soft breaks make verse only inside a blockquote of short lines (Don Quijote's
    quoted poems); elsewhere (hard-wrapped prose, Voltaire) they are spaces.
    """
    if HARD in raw:
        lines = [c for c in (clean_line(x.replace(SOFT, " ")) for x in raw.split(HARD)) if c]
        soft = False
    elif quoted and SOFT in raw:
        lines = [c for c in (clean_line(x) for x in raw.split(SOFT)) if c]
        soft = True
    else:
        lines = [clean_line(raw.replace(SOFT, " "))]
        soft = False
    lines = [line for line in lines if line]
    if not lines:
        return None
    if len(lines) == 1 and is_scene_break(lines[0]):
        return Block("scene_break", "")
    if _is_verse(lines, soft):
        return Block("verse", "\n".join(lines))
    return Block("paragraph", " ".join(lines))


# --- raw HTML blocks -----------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    "p div section article aside header footer nav main figure figcaption center blockquote "
    "details summary dl dt dd address li tr td th".split()
)
_SILENT_TAGS = frozenset("script style head title template noscript iframe object svg".split())
_HEADINGS = frozenset(f"h{n}" for n in range(1, 7))


class _HtmlBlocks:
    """Blocks from one raw HTML block: each <p>-like element becomes a paragraph."""

    def __init__(self, options: IngestOptions, quoted: bool) -> None:
        self.options = options
        self.quoted = quoted
        self.blocks: list[Block] = []
        self.buffer: list[str] = []

    def flush(self) -> None:
        block = text_block("".join(self.buffer), self.quoted)
        self.buffer.clear()
        if block is not None:
            self.blocks.append(block)

    def add(self, block: Block | None) -> None:
        self.flush()
        if block is not None:
            self.blocks.append(block)

    def element(self, el: etree._Element) -> None:
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if not tag or tag in _SILENT_TAGS:
            pass  # comments, processing instructions, scripts: never spoken
        elif tag == "br":
            self.buffer.append(HARD)
        elif tag == "img":
            if self.options.image_alt and el.get("alt"):
                self.buffer.append(" " + el.get("alt", "") + " ")
        elif tag == "hr":
            self.add(Block("scene_break", ""))
        elif tag == "pre":
            code = el.text_content().strip("\n")
            self.add(code_block(code) if self.options.code == "read" else None)
        elif tag in _HEADINGS:
            text = clean_line(el.text_content())
            self.add(Block("heading", text) if text else None)
        elif tag == "table":
            self.add(self.table(el))
        elif tag in ("ul", "ol"):
            lines = [clean_line(li.text_content()) for li in el if li.tag == "li"]
            self.add(Block("list", "\n".join(x for x in lines if x)) if any(lines) else None)
        elif tag in _BLOCK_TAGS and el.get("lang"):  # <p lang="fr">: its blocks are in that language
            start = len(self.blocks)
            self.children(el, block=True)
            self.blocks[start:] = [b if b.lang else replace(b, lang=el.get("lang")) for b in self.blocks[start:]]
        else:
            self.children(el, block=tag in _BLOCK_TAGS)
        if el.tail:
            self.buffer.append(el.tail.replace("\n", SOFT))

    def children(self, el: etree._Element, block: bool) -> None:
        if block:
            self.flush()
        if el.text:
            self.buffer.append(el.text.replace("\n", SOFT))
        for child in el:
            self.element(child)
        if block:
            self.flush()

    def table(self, el: etree._Element) -> Block | None:
        if self.options.tables == "skip":
            return None
        rows = []
        for tr in el.iter("tr"):
            cells = [clean_line(c.text_content()) for c in tr if c.tag in ("td", "th")]
            if any(cells):
                rows.append(", ".join(c for c in cells if c))
        return Block("table", "\n".join(rows)) if rows else None


def html_blocks(content: str, options: IngestOptions, quoted: bool = False) -> list[Block]:
    """Blocks spoken from a raw HTML block (tags stripped, <p> text kept)."""
    if not content.strip():
        return []
    try:
        check_html(content.encode("utf-8"), "raw HTML")
    except BookError as exc:
        raise MarkdownLimit(None, exc.message) from None
    try:
        root = lxml.html.fragment_fromstring(content, create_parent="div")
    except (etree.ParserError, ValueError):
        return []
    walker = _HtmlBlocks(options, quoted)
    walker.children(root, block=True)
    return walker.blocks


def code_block(content: str) -> Block | None:
    """Code kept as lines (read aloud only when the recipe asks for it)."""
    lines = [c for c in (_SPACES.sub(" ", x).strip() for x in content.splitlines()) if c]
    return Block("code", "\n".join(lines)) if lines else None


# --- pandoc grid tables (CommonMark sees them as one paragraph of border art) ------

_GRID_BORDER = re.compile(r"\+(?:[-=:]+\+)+[ \t]*$", re.MULTILINE)


def _grid_columns(border: str) -> list[tuple[int, int]]:
    plus = [i for i, ch in enumerate(border) if ch == "+"]
    return list(zip(plus, plus[1:], strict=False))


def grid_table(content: str, options: IngestOptions, depth: int = 0) -> Block | None:
    """A pandoc grid table read like a GFM table; each cell is Markdown of its own.

    Without this, the pandoc manual's 10 option tables would be read as "+----+ | ...".
    """
    if options.tables == "skip":
        return None
    if depth >= MAX_GRID_NESTING:
        raise MarkdownLimit(None, f"pandoc grid tables nested more than {MAX_GRID_NESTING} deep in table cells")
    lines = content.split("\n")
    columns = _grid_columns(lines[0].rstrip())
    rows: list[str] = []
    cells: list[list[str]] = [[] for _ in columns]
    for line in lines[1:]:
        if _GRID_BORDER.fullmatch(line.strip()):
            texts = [_cell_text("\n".join(c), options, depth) for c in cells]
            rows.append(", ".join(t for t in texts if t))
            cells = [[] for _ in columns]
            continue
        for n, (start, end) in enumerate(columns):
            cells[n].append(line[start + 1 : end])
    spoken = [row for row in rows if row]
    if len(spoken) == 1 and len(rows) > 1:
        return None  # only the header is left (the body was code): nothing worth reading
    return Block("table", "\n".join(spoken)) if spoken else None


def _cell_text(markdown: str, options: IngestOptions, depth: int) -> str:
    try:
        items = walk_tokens(make_parser().parse(dedent(markdown)), options, grid_depth=depth + 1)
    except MarkdownLimit as exc:
        exc.line = None  # a line of the cell, not of the file: the table's line is used
        raise
    texts = (it.text.replace("\n", " ") for it in items)
    return clean_line(" ".join(texts))


# --- the token walk ------------------------------------------------------------------


def _close_index(tokens: Sequence[Token], start: int) -> int:
    """Index of the token closing tokens[start] (same nesting level)."""
    level = tokens[start].level
    close = tokens[start].type.replace("_open", "_close")
    for i in range(start + 1, len(tokens)):
        if tokens[i].type == close and tokens[i].level == level:
            return i
    return len(tokens) - 1


def _list_block(tokens: Sequence[Token], options: IngestOptions) -> Block | None:
    """One list → one block, one line per item paragraph (nested items too)."""
    lines: list[str] = []
    for tok in tokens:
        if tok.type == "inline":
            raw = inline_text(tok.children, options).replace(HARD, " ").replace(SOFT, " ")
            lines.append(clean_line(raw))
        elif tok.type == "html_block":
            lines.extend(b.text.replace("\n", " ") for b in html_blocks(tok.content, options))
        elif tok.type in ("fence", "code_block") and options.code == "read":
            block = code_block(tok.content)
            lines.extend(block.text.split("\n") if block else ())
    lines = [line for line in lines if line]
    return Block("list", "\n".join(lines)) if lines else None


def _table_block(tokens: Sequence[Token], options: IngestOptions) -> Block | None:
    """A GFM table read row by row: "cell, cell, cell", rows joined by newlines."""
    rows: list[str] = []
    cells: list[str] = []
    for tok in tokens:
        if tok.type == "tr_open":
            cells = []
        elif tok.type == "inline":
            raw = inline_text(tok.children, options).replace(HARD, " ").replace(SOFT, " ")
            cells.append(clean_line(raw))
        elif tok.type == "tr_close" and any(cells):
            rows.append(", ".join(c for c in cells if c))
    return Block("table", "\n".join(rows)) if rows else None


_CONTAINERS = ("bullet_list_open", "ordered_list_open", "table_open", "footnote_block_open")


def _container(kind: str, inner: Sequence[Token], options: IngestOptions) -> Block | None:
    """A list, a table, or the footnote definitions (kept out of the flow)."""
    if kind == "table_open":
        return _table_block(inner, options) if options.tables == "read" else None
    if kind == "footnote_block_open":
        return None
    return _list_block(inner, options)


def _heading(heading: Token, inline: Token, options: IngestOptions, first_line: int) -> MdHeading:
    raw = inline_text(inline.children, options).replace(HARD, " ").replace(SOFT, " ")
    line = (heading.map[0] + 1 + first_line) if heading.map else 0
    return MdHeading(int(heading.tag[1]), clean_line(raw), line)


def _leaf(tok: Token, options: IngestOptions, quoted: bool, grid_depth: int) -> list[Block]:
    """Blocks from one leaf token: paragraph text, rule, code or raw HTML."""
    block: Block | None = None
    if tok.type == "inline" and _GRID_BORDER.match(tok.content):
        block = grid_table(tok.content, options, grid_depth)
    elif tok.type == "inline":
        block = text_block(inline_text(tok.children, options), quoted)
        if block is not None:
            return split_speech(block, bold_name(tok.children))
    elif tok.type == "hr":
        block = Block("scene_break", "")
    elif tok.type in ("fence", "code_block") and options.code == "read":
        block = code_block(tok.content)
    elif tok.type == "html_block":
        mark = html_container_mark(tok.content)
        return [mark] if mark is not None else html_blocks(tok.content, options, quoted)
    return [block] if block is not None else []


def walk_tokens(tokens: Sequence[Token], options: IngestOptions, *, first_line: int = 0,
                grid_depth: int = 0) -> list[Item]:
    """Headings and spoken blocks, in reading order. `first_line`: the piece's first
    line in the file (0-based), for headings' and errors' line numbers."""
    items: list[Item] = []
    quote_depth = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        try:
            i = _walk_one(tokens, i, options, items, quote_depth, first_line, grid_depth)
        except MarkdownLimit as exc:
            if exc.line is None and grid_depth == 0:
                exc.line = tok.map[0] if tok.map else 0
            raise
        if tok.type in ("blockquote_open", "blockquote_close"):
            quote_depth += 1 if tok.type == "blockquote_open" else -1
        i += 1
    return items


def _walk_one(tokens: Sequence[Token], i: int, options: IngestOptions, items: list[Item], quote_depth: int,
              first_line: int, grid_depth: int) -> int:
    """Add what tokens[i] says to `items`; the index of the last token it used."""
    tok = tokens[i]
    if tok.type in _CONTAINERS:
        end = _close_index(tokens, i)
        block = _container(tok.type, tokens[i + 1 : end], options)
        items.extend([block] if block is not None else [])
        return end
    if tok.type == "footnote_reference_open":  # a footnote's body: not read in the flow
        return _close_index(tokens, i)
    if tok.type == "heading_open":
        items.append(_heading(tok, tokens[i + 1], options, first_line))
        return i + 2  # the inline and the heading_close
    if tok.type not in ("blockquote_open", "blockquote_close"):
        items.extend(_leaf(tok, options, quote_depth > 0, grid_depth))
    return i
