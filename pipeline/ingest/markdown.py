"""Read a Markdown book into a `Book`: metadata, chapters from headings, spoken blocks.

Chapters start at the shallowest heading level that occurs more than once, so a lone
`# Title` line is the book's title and not a one-chapter book (Chekhov: 1 h1 + 18 h2
→ h2 chapters; Hongloumeng: 1 h1 + 20 h3 → h3; pandoc's manual: 23 h1 → h1).
YAML front matter gives metadata and is never spoken.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from pipeline.errors import BookError
from pipeline.ingest.limits import (
    MARKDOWN_CHUNK_RISKY,
    MAX_BOOK_BLOCKS,
    MAX_BOOK_CHARS,
    MAX_MARKDOWN_BYTES,
    mib,
)
from pipeline.ingest.md_blocks import Item, MdHeading, make_parser, walk_tokens
from pipeline.ingest.md_chunks import MarkdownLimit, chunks
from pipeline.ingest.md_lang import apply_langs
from pipeline.ingest.md_speakers import confirm_cast
from pipeline.ingest.options import IngestOptions
from pipeline.ingest.passages import strip_marks
from pipeline.ingest.xmlsafe import strip_noncharacters
from pipeline.models import Block, Book, BookMeta, Chapter

FRONT_TITLE = "Front matter"
_BINARY_PROBE = 8192


def decode_markdown(path: Path, data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); binary or undecodable bytes → BookError."""
    if b"\x00" in data[:_BINARY_PROBE]:
        raise BookError(f"{path}: not a text file (binary data), cannot read it as Markdown")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BookError(
            f"{path}: not valid UTF-8 at byte offset {exc.start} "
            f"(byte 0x{data[exc.start]:02x}); save the file as UTF-8",
        ) from None


# libyaml when present: fast, and it refuses deep nesting (pure-Python PyYAML recurses).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_FRONT_MATTER_CHARS = 1024 * 1024  # metadata, not a book: PyYAML parses ~1 MB/s


def _front_matter(tokens: Sequence[Token], path: Path) -> dict[str, Any] | None:
    """The YAML mapping at the top, {} when there is none, None when it is not YAML."""
    if not tokens or tokens[0].type != "front_matter":
        return {}
    if len(tokens[0].content) > MAX_FRONT_MATTER_CHARS:
        raise BookError(f"{path}: the YAML front matter is larger than 1 MiB (the cap for metadata)")
    try:
        data = yaml.load(tokens[0].content, Loader=_YAML_LOADER)
    except (yaml.YAMLError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _scalar(value: object) -> str:
    """A metadata value as text; "" for anything but a scalar. (str() of a nested YAML
    structure built from aliases can be exponentially long: a "billion laughs".)"""
    if isinstance(value, (str, int, float, datetime.date)) and not isinstance(value, bool):
        return " ".join(str(value).split())[:1000]
    return ""


def _authors(meta: dict[str, Any]) -> tuple[str, ...]:
    value = meta.get("author", meta.get("authors"))
    values = value[:100] if isinstance(value, list) else [value]
    names = []
    for v in values:
        name = _scalar(v.get("name") if isinstance(v, dict) else v)
        if name:
            names.append(name)
    return tuple(names)


def book_meta(meta: dict[str, Any], items: Sequence[Item], path: Path) -> BookMeta:
    """Title: front matter, else the single h1, else the file name; language: front matter."""
    title = _scalar(meta.get("title"))
    if not title:
        h1s = [it.text for it in items if isinstance(it, MdHeading) and it.level == 1]
        title = h1s[0] if len(h1s) == 1 and h1s[0] else path.stem
    language = _scalar(meta.get("lang", meta.get("language"))) or None
    return BookMeta(title=title, authors=_authors(meta), language=language)


def chapter_level(items: Sequence[Item], override: int | None) -> int:
    """The shallowest heading level used more than once (a lone h1 is the title)."""
    if override is not None:
        return override
    counts = Counter(it.level for it in items if isinstance(it, MdHeading))
    repeated = [level for level, n in counts.items() if n > 1]
    if repeated:
        return min(repeated)
    below_title = [level for level in counts if level > 1]
    return min(below_title) if below_title else 1


def _as_blocks(items: Sequence[Item]) -> tuple[Block, ...]:
    """Headings become heading blocks; empty blocks go; scene breaks only between text."""
    out: list[Block] = []
    for it in items:
        block = Block("heading", it.text) if isinstance(it, MdHeading) else it
        if block.kind == "scene_break":
            if out and out[-1].kind not in ("scene_break", "heading"):
                out.append(block)
        elif block.text:
            out.append(block)
    while out and out[-1].kind == "scene_break":
        out.pop()
    return tuple(out)


def _front_chapter(items: Sequence[Item]) -> Chapter | None:
    """Text before the first chapter heading: kept as front matter unless only a title."""
    h1 = next((it for it in items if isinstance(it, MdHeading) and it.level == 1 and it.text), None)
    blocks = _as_blocks(items)
    if all(b.kind == "heading" and h1 is not None and b.text == h1.text for b in blocks):
        return None
    line = next((it.line for it in items if isinstance(it, MdHeading)), 1)
    return Chapter(0, h1.text if h1 else FRONT_TITLE, blocks, source=f"line {line}", matter="front")


def group_chapters(items: Sequence[Item], level: int, book_title: str) -> list[Chapter]:
    """Split the item stream at chapter headings (and shallower ones after the front).

    A file without a heading at the chapter level is one body chapter named after the book.
    """
    heads = {i: it for i, it in enumerate(items) if isinstance(it, MdHeading) and it.level <= level}
    first = next((i for i, it in heads.items() if it.level == level), None)
    if first is None:
        return [Chapter(0, book_title, _as_blocks(items), source="line 1")]
    starts = [i for i in heads if i >= first]
    front = _front_chapter(items[:first])
    chapters = [front] if front is not None else []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(items)
        head = heads[start]
        title = head.text or f"Chapter {len(chapters) + 1}"
        chapters.append(Chapter(0, title, _as_blocks(items[start:end]), source=f"line {head.line}"))
    return chapters


def _number(chapters: Sequence[Chapter]) -> tuple[Chapter, ...]:
    return tuple(
        Chapter(i, c.title, c.blocks, source=c.source, matter=c.matter) for i, c in enumerate(chapters, 1)
    )


def read_markdown(path: Path, options: IngestOptions) -> Book:
    """Read a Markdown book. Unreadable, oversized or textless input raises BookError."""
    text = _read_text(path)
    items, meta = _parse(path, text, options, front_matter=True)
    if meta is None:  # `---` text `---` that is not YAML metadata: rules around text
        items, meta = _parse(path, text, options, front_matter=False)
    book = book_meta(meta or {}, items, path)
    items = [replace(it, text=strip_marks(it.text)) if isinstance(it, MdHeading) else it
             for it in apply_langs(items) if isinstance(it, (Block, MdHeading))]
    chapters = confirm_cast(group_chapters(items, chapter_level(items, options.chapter_level), book.title))
    if not any(b.text for c in chapters for b in c.blocks):
        raise BookError(f"{path}: the Markdown file has no text to read")
    return Book(
        meta=book,
        chapters=_number(chapters),
        source=str(path),
        format="markdown",
    )


def _read_text(path: Path) -> str:
    """The file's text with newlines normalized; at most MAX_MARKDOWN_BYTES are read."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_MARKDOWN_BYTES + 1)
    except OSError as exc:
        raise BookError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if len(data) > MAX_MARKDOWN_BYTES:
        raise BookError(f"{path}: the Markdown file is larger than {mib(MAX_MARKDOWN_BYTES)} (the cap for a book)")
    text = strip_noncharacters(decode_markdown(path, data))  # the readers' own marks: never the book's
    del data
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _parse(path: Path, text: str, options: IngestOptions, *,
           front_matter: bool) -> tuple[list[Item], dict[str, Any] | None]:
    """Items of the whole file and its front matter (None: not YAML), parsed piece by
    piece so that parser tokens never outgrow one piece (see `md_chunks`)."""
    spans = chunks(text, MARKDOWN_CHUNK_RISKY)
    env: dict[str, Any] = {}
    if len(spans) > 1:  # link references and footnote labels may be defined in a later piece
        for line, start, end in spans:
            if text.find("]:", start, end) >= 0:  # every definition has one
                _tokens(path, make_parser(front_matter, refs_only=True), text[start:end], env, line)
    items: list[Item] = []
    meta: dict[str, Any] | None = {}
    chars = 0
    for n, (line, start, end) in enumerate(spans):
        tokens = _tokens(path, make_parser(front_matter), text[start:end], env, line)
        if n == 0:
            meta = _front_matter(tokens, path)
            if meta is None:
                return [], None
        try:
            new = walk_tokens(tokens, options, first_line=line)
        except MarkdownLimit as exc:
            raise _limit_error(path, line, exc) from None
        del tokens
        _forget_footnotes(env)
        items.extend(new)
        chars += sum(len(it.text) for it in new)
        _check_volume(path, len(items), chars)
    return items, meta


def _forget_footnotes(env: dict[str, Any]) -> None:
    """Drop the footnotes a piece collected (inline ones hold their tokens: never read),
    keeping every label known as defined, with no id yet."""
    footnotes = env.get("footnotes")
    if footnotes:
        footnotes.get("list", {}).clear()
        refs = footnotes.get("refs", {})
        for label in refs:
            refs[label] = -1


def _tokens(path: Path, parser: MarkdownIt, source: str, env: dict[str, Any], line: int) -> list[Token]:
    try:
        return parser.parse(source, env)
    except MarkdownLimit as exc:
        raise _limit_error(path, line, exc) from None


def _limit_error(path: Path, first_line: int, exc: MarkdownLimit) -> BookError:
    return BookError(f"{path}: line {first_line + (exc.line or 0) + 1}: {exc.message}")


def _check_volume(path: Path, blocks: int, chars: int) -> None:
    if blocks > MAX_BOOK_BLOCKS:
        raise BookError(f"{path}: more than {MAX_BOOK_BLOCKS:,} paragraphs and headings (the cap for a book)")
    if chars > MAX_BOOK_CHARS:
        raise BookError(f"{path}: more than {MAX_BOOK_CHARS:,} characters of text (the cap for a book)")
