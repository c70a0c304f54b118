"""Read an EPUB (2 or 3) into a `Book` of chapters a listener would recognise.

Reading order comes from the spine (linear="no" skipped; never the manifest, which
would read the TOC page aloud), chapter titles from the nav/NCX via `epub_toc`, and
text from `xhtml`. The zip is checked before ebooklib sees it, so a DRM-protected or
non-EPUB file gets a one-line `BookError` instead of a library traceback.
"""

from __future__ import annotations

import base64
import posixpath
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from pipeline.errors import BookError
from pipeline.ingest import epub_toc as toc_mod
from pipeline.ingest.epub_package import Package, inspect_epub, make_reader
from pipeline.ingest.limits import MAX_BOOK_BLOCKS, MAX_BOOK_CHARS
from pipeline.ingest.options import IngestOptions
from pipeline.ingest.xhtml import (
    Piece,
    document_blocks,
    first_heading,
    head_title,
    local,
    structural_types,
    types_of,
)
from pipeline.ingest.xmlsafe import parse_document
from pipeline.models import Block, Book, BookMeta, Chapter, Cover, Matter

FRONT_TYPES = frozenset({
    "cover", "titlepage", "halftitlepage", "halftitle", "title-page", "toc", "landmarks", "loi", "lot",
    "loa", "lov", "imprint", "seriespage", "errata", "page-list",
})
BACK_TYPES = frozenset({"colophon", "endnotes", "footnotes", "rearnotes", "notes", "index"})
EITHER_TYPES = frozenset({"copyright-page", "copyright"})  # front or back by position


def read_epub(path: Path, options: IngestOptions) -> Book:
    """Read `path` into a Book; any unreadable or protected input raises BookError."""
    path = Path(path)
    package = inspect_epub(path)
    book = _load(path, package)
    meta = _metadata(book, path)
    found: list[str] = list(package.warnings)
    chapters = _chapters(book, meta, options, path, found)
    if not any(c.matter == "body" for c in chapters):
        raise BookError(f"{path.name}: this EPUB has no readable text in its spine")
    cover = _cover(book, posixpath.dirname(package.opf))
    return Book(meta=meta, chapters=tuple(chapters), cover=cover, source=str(path), format="epub",
                warnings=tuple(found))


# --- the zip, before ebooklib --------------------------------------------------------


def _load(path: Path, package: Package):  # type: ignore[no-untyped-def]  # ebooklib is untyped
    """ebooklib's EpubBook (documents and cover only), warnings silenced, exceptions wrapped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            book = _read(path, package, ignore_ncx=True)
            if not book.toc:
                book = _read(path, package, ignore_ncx=False)
        except BookError:
            raise
        except Exception as exc:  # ebooklib raises KeyError, AttributeError, lxml errors…
            detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else exc.__class__.__name__
            raise BookError(f"{path.name}: cannot read the EPUB package ({detail})") from exc
    if not book.spine:
        raise BookError(f"{path.name}: the EPUB package has an empty spine")
    return book


def _read(path: Path, package: Package, *, ignore_ncx: bool):  # type: ignore[no-untyped-def]
    reader = make_reader(path, package, {"ignore_ncx": ignore_ncx})
    book = reader.load()
    reader.process()
    return book


# --- metadata and cover ---------------------------------------------------------------


def _dc(book, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    values = []
    for value, _attrs in book.get_metadata("DC", name) or []:
        text = " ".join(str(value or "").split())
        if text:
            values.append(text)
    return values


def _metadata(book, path: Path) -> BookMeta:  # type: ignore[no-untyped-def]
    titles = _dc(book, "title")
    languages = _dc(book, "language")
    return BookMeta(
        title=titles[0] if titles else path.stem,
        authors=tuple(dict.fromkeys(_dc(book, "creator"))),
        language=languages[0] if languages else None,
    )


def _cover(book, base: str) -> Cover | None:  # type: ignore[no-untyped-def]
    """EPUB 3 cover-image, else EPUB 2 <meta name="cover">; SVG keeps an embedded raster."""
    from ebooklib import ITEM_COVER

    candidates = [i for i in book.get_items_of_type(ITEM_COVER)]
    for _value, attrs in book.get_metadata("OPF", "meta") or []:  # EPUB 2 <meta name="cover">
        if (attrs or {}).get("name") == "cover":
            item = book.get_item_with_id(attrs.get("content", ""))
            if item is not None:
                candidates.append(item)
    for item in candidates:
        media = (getattr(item, "media_type", "") or "").lower()
        data = _raw(item)
        if not media.startswith("image/") or not data:
            continue
        source = posixpath.join(base, item.get_name())
        if media == "image/svg+xml":
            raster = _svg_raster(data, source)
            if raster is not None:
                return raster
        return Cover(data=data, media_type=media, source=source)
    return None


SVG_IMAGE_RE = re.compile(rb"data:(image/(?:jpeg|jpg|png));base64,([A-Za-z0-9+/=\s]+)")


def _svg_raster(data: bytes, source: str) -> Cover | None:
    """The largest base64 JPEG/PNG embedded in an SVG cover (players cannot show SVG)."""
    best: Cover | None = None
    for match in SVG_IMAGE_RE.finditer(data):
        try:
            raw = base64.b64decode(re.sub(rb"\s+", b"", match.group(2)), validate=False)
        except ValueError:
            continue
        media = match.group(1).decode().replace("jpg", "jpeg")
        if raw and (best is None or len(raw) > len(best.data)):
            best = Cover(data=raw, media_type=media, source=f"{source} (its embedded image)")
    return best


# --- chapters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Draft:
    title: str
    blocks: tuple[Block, ...]
    source: str
    types: frozenset[str]


def _chapters(book, meta: BookMeta, options: IngestOptions, path: Path,  # type: ignore[no-untyped-def]
              found: list[str]) -> list[Chapter]:
    from ebooklib import epub

    names = {item.get_name() for item in book.get_items()}
    entries = toc_mod.index_toc(toc_mod.resolve_paths(toc_mod.flatten_toc(book.toc), names))
    by_id: dict[str, Any] = {}
    for it in book.get_items():  # ebooklib's get_item_with_id scans them all, per call
        by_id.setdefault(it.id, it)
    marks = _landmarks(book, names)
    drafts: list[_Draft] = []
    seen: set[str] = set()
    volume = (0, 0)  # blocks, characters read so far
    for idref, linear in book.spine:
        item = by_id.get(idref)
        if item is None or str(linear).lower() == "no":
            continue
        if idref in seen:
            found.append(f"{path.name}: the spine lists {item.get_name()} more than once; it is read once")
            continue
        seen.add(idref)
        name = item.get_name()
        media = (getattr(item, "media_type", "") or "").lower()
        if media and "html" not in media and "xml" not in media:
            continue
        root = parse_document(_raw(item), f"{path.name}: {name}")
        types = structural_types(root) | marks.get(name, frozenset())
        if isinstance(item, epub.EpubNav) or "nav" in (getattr(item, "properties", None) or []):
            types |= {"toc"}
        new = _file_drafts(root, name, types, entries, meta, options)
        drafts.extend(new)
        volume = _check_volume(volume, new, path)
    return _finish(drafts)


def _check_volume(volume: tuple[int, int], new: list[_Draft], path: Path) -> tuple[int, int]:
    """The running (blocks, characters); BookError once either passes its cap."""
    blocks = volume[0] + sum(len(d.blocks) for d in new)
    chars = volume[1] + sum(len(b.text) for d in new for b in d.blocks)
    if blocks > MAX_BOOK_BLOCKS:
        raise BookError(f"{path.name}: more than {MAX_BOOK_BLOCKS:,} paragraphs and headings (the cap for a book)")
    if chars > MAX_BOOK_CHARS:
        raise BookError(f"{path.name}: more than {MAX_BOOK_CHARS:,} characters of text (the cap for a book)")
    return blocks, chars


def _file_drafts(root: etree._Element, name: str, types: frozenset[str], entries: toc_mod.TocIndex,
                 meta: BookMeta, options: IngestOptions) -> list[_Draft]:
    """One spine file -> one or more drafts, cut at its chapter entries' anchors."""
    chosen = toc_mod.chapter_entries(entries, name)
    split_ids = frozenset(e.anchor for e in chosen if e.anchor)
    pieces = document_blocks(root, book_lang=meta.language, tables=options.tables,
                             image_alt=options.image_alt, split_ids=split_ids if len(chosen) > 1 else frozenset())
    titles = {e.anchor: toc_mod.entry_title(e, entries, meta.title, meta.language) for e in chosen}
    if len(chosen) <= 1:
        blocks = tuple(b for p in pieces for b in p.blocks)
        title = next(iter(titles.values()), None) or first_heading(root) or head_title(root) or name
        return [_Draft(_clean_title(title), blocks, name, types)]
    return _split_drafts(pieces, titles, root, name, types, entries)


def _split_drafts(pieces: list[Piece], titles: dict[str | None, str], root: etree._Element, name: str,
                  types: frozenset[str], entries: toc_mod.TocIndex) -> list[_Draft]:
    """Drafts for a file cut at anchors; a heading-only lead-in joins the first chapter."""
    drafts: list[_Draft] = []
    lead = pieces[0]
    rest = pieces[1:]
    if lead.blocks and rest and all(b.kind == "heading" for b in lead.blocks):
        rest[0].blocks[:0] = lead.blocks
    elif lead.blocks or None in titles:
        title = titles.get(None) or toc_mod.container_title(entries, name) or first_heading(root) or name
        drafts.append(_Draft(_clean_title(title), tuple(lead.blocks), name, types))
    for piece in rest:
        title = titles.get(piece.anchor) or piece.anchor or name
        drafts.append(_Draft(_clean_title(title), tuple(piece.blocks), f"{name}#{piece.anchor}", types))
    return drafts


def _clean_title(title: str) -> str:
    return " ".join(title.split())


def _finish(drafts: list[_Draft]) -> list[Chapter]:
    """Drop textless drafts (an image-only cover) and settle front/back matter by position."""
    kept = [d for d in drafts if any(b.text for b in d.blocks)]
    matter = [_matter_kind(d.types) for d in kept]
    body_positions = [i for i, m in enumerate(matter) if m is None]
    first_body = body_positions[0] if body_positions else len(kept)
    chapters: list[Chapter] = []
    for i, (draft, kind) in enumerate(zip(kept, matter)):
        resolved: Matter = "body"
        if kind == "front" or (kind == "either" and i < first_body):
            resolved = "front"
        elif kind is not None:
            resolved = "back"
        chapters.append(Chapter(index=len(chapters) + 1, title=draft.title, blocks=draft.blocks,
                                source=draft.source, matter=resolved))
    return chapters


def _matter_kind(types: frozenset[str]) -> Matter | str | None:
    if types & FRONT_TYPES:
        return "front"
    if types & BACK_TYPES:
        return "back"
    if types & EITHER_TYPES:
        return "either"
    return None


def _landmarks(book, names: set[str]) -> dict[str, frozenset[str]]:  # type: ignore[no-untyped-def]
    """epub:type per file from the nav's landmarks and the EPUB 2 guide."""
    from ebooklib import epub

    found: dict[str, set[str]] = {}
    for ref in getattr(book, "guide", None) or []:
        path, _ = toc_mod.split_href(ref.get("href") or "")
        found.setdefault(path, set()).add((ref.get("type") or "").lower())
    for item in book.get_items():
        if not isinstance(item, epub.EpubNav):
            continue
        base = item.get_name().rpartition("/")[0]
        root = parse_document(_raw(item), item.get_name())
        for nav in (e for e in root.iter() if local(e.tag) == "nav" and "landmarks" in types_of(e)):
            for link in (a for a in nav.iter() if local(a.tag) == "a"):
                href = f"{base}/{link.get('href', '')}" if base else link.get("href", "")
                path, _ = toc_mod.split_href(href)
                found.setdefault(path, set()).update(types_of(link))
    resolved = toc_mod.resolve_paths(
        [toc_mod.TocEntry(i, "", p, None, None, False) for i, p in enumerate(found)], names)
    return {e.path: frozenset(found[p]) for e, p in zip(resolved, found)}


def _raw(item) -> bytes:  # type: ignore[no-untyped-def]
    """The item's bytes as stored in the zip.

    `EpubHtml.get_content()` re-serialises the document: it drops <head> and forces
    lang="en" on <html>, which would mislabel every Japanese block as English.
    """
    data = getattr(item, "content", b"") or b""
    return data if isinstance(data, bytes) else str(data).encode("utf-8")
