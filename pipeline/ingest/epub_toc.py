"""EPUB table of contents -> which spine file holds which chapters, and their titles.

The reader's chapters are not the spine items: Poe puts ~53 poems in one file,
Hamlet 5 acts with scenes as anchors, War and Peace one chapter per file titled only
"I", "II"…  So the TOC (nav or NCX, as ebooklib reads it) is flattened, entries that
are mere numbered sub-sections of an entry in the same file are folded into it
(Sherlock's "I/II/III", Poe's stanzas), containers are replaced by their deepest
entries (Hamlet's act -> scenes), and bare numerals get their parents' titles.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

ROMAN_RE = r"(?=[MDCLXVI])M{0,4}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
LABELS = r"chapter|scene|act|part|book|stave|section|canto|volume|letter|fit|lesson"
BARE_RE = re.compile(rf"^\s*(?:{ROMAN_RE}|\d+)\s*[.:]?\s*$", re.IGNORECASE)
NUMBERED_RE = re.compile(rf"^\s*(?:{LABELS})\s+(?:{ROMAN_RE}|\d+)\s*[.:]?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class TocEntry:
    """One flattened TOC entry. `parent` is the index of its parent entry (or None)."""

    index: int
    title: str
    path: str  # file name relative to the OPF directory, as ebooklib names items
    anchor: str | None
    parent: int | None
    bare: bool  # its title is only a numeral, and so are its siblings'


def split_href(href: str) -> tuple[str, str | None]:
    path, _, frag = (href or "").partition("#")
    return unquote(posixpath.normpath(path)) if path else "", unquote(frag) or None


def flatten_toc(toc: object) -> list[TocEntry]:
    """Depth-first list of entries from ebooklib's nested `book.toc` (an explicit stack:
    a TOC nested 10,000 deep must not exhaust Python's)."""
    entries: list[TocEntry] = []
    stack = [_group(toc, None)]
    while stack:
        row = next(stack[-1], None)
        if row is None:
            stack.pop()
            continue
        node, title, bare, parent = row
        head, kids = (node[0], node[1]) if isinstance(node, tuple) else (node, [])
        path, anchor = split_href(getattr(head, "href", "") or "")
        index = len(entries)
        entries.append(TocEntry(index, title, path, anchor, parent, bare))
        if kids:
            stack.append(_group(kids, index))
    return entries


def _group(nodes: object, parent: int | None) -> Iterator[tuple[object, str, bool, int | None]]:
    """One sibling group: (node, title, bare, parent) for each node."""
    items = list(nodes) if isinstance(nodes, (list, tuple)) else []
    titles = [_node_title(n) for n in items]
    # "I" is a numeral among "I, II, III" but a letter among "A, B, … I" (Devil's Dictionary).
    numerals = sum(1 for t in titles if BARE_RE.match(t))
    group_bare = numerals * 2 > len(titles)
    return iter([(n, t, group_bare and bool(BARE_RE.match(t)), parent) for n, t in zip(items, titles)])


def _node_title(node: object) -> str:
    head = node[0] if isinstance(node, tuple) else node
    return " ".join(str(getattr(head, "title", "") or "").split())


def resolve_paths(entries: list[TocEntry], names: set[str]) -> list[TocEntry]:
    """Match entry paths to manifest names (NCX/nav hrefs can be relative elsewhere).

    A path resolves to the one name it is a "/"-suffix of, or that is a suffix of it;
    indexed by suffix so a TOC of 100,000 entries costs no more than its length.
    """
    by_suffix: dict[str, set[str]] = {}
    for n in names:
        parts = n.split("/")
        for i in range(1, len(parts)):
            by_suffix.setdefault("/".join(parts[i:]), set()).add(n)
    resolved: dict[str, str] = {}

    def resolve(path: str) -> str:
        if not path or path in names:
            return path
        if path not in resolved:
            parts = path.split("/")
            matches = set(by_suffix.get(path, ())) | {
                tail for tail in ("/".join(parts[i:]) for i in range(1, len(parts))) if tail in names}
            resolved[path] = next(iter(matches)) if len(matches) == 1 else path
        return resolved[path]

    return [TocEntry(e.index, e.title, resolve(e.path), e.anchor, e.parent, e.bare) for e in entries]


@dataclass(frozen=True)
class TocIndex:
    """The flattened TOC, indexed once: a TOC of 100,000 entries over 10,000 files must
    not be rescanned for every file."""

    entries: list[TocEntry]
    by_index: dict[int, TocEntry]
    by_path: dict[str, list[TocEntry]]


def index_toc(entries: list[TocEntry] | TocIndex) -> TocIndex:
    if isinstance(entries, TocIndex):
        return entries
    by_path: dict[str, list[TocEntry]] = {}
    for e in entries:
        by_path.setdefault(e.path, []).append(e)
    return TocIndex(entries, {e.index: e for e in entries}, by_path)


def chapter_entries(entries: list[TocEntry] | TocIndex, path: str) -> list[TocEntry]:
    """The entries of `path` that are chapters to a reader, in TOC order.

    Numbered sub-sections whose parent lives in the same file stay inside it; an
    entry with kept descendants in the same file is a container and gives way to them.
    """
    toc = index_toc(entries)
    by_index = toc.by_index
    mine = toc.by_path.get(path, [])
    kept = [e for e in mine if not (e.bare and e.parent is not None and by_index[e.parent].path == path)]
    containers: set[int] = set()  # ancestors of kept entries, each walked up once
    for e in kept:
        parent = e.parent
        while parent is not None and parent not in containers:
            containers.add(parent)
            parent = by_index[parent].parent
    seen: set[str | None] = set()
    unique = []
    for e in kept:  # two entries for the same spot: keep the first
        if e.index not in containers and e.anchor not in seen:
            seen.add(e.anchor)
            unique.append(e)
    return unique


def entry_title(entry: TocEntry, entries: list[TocEntry] | TocIndex, book_title: str, language: str | None) -> str:
    """The title a listener needs: "Book I, Part I: 1805 — Chapter I" for a bare "I"."""
    own = entry.title
    numbered = entry.bare or bool(NUMBERED_RE.match(own))
    if entry.bare and (language or "en").lower().startswith("en"):
        own = f"Chapter {own.strip().rstrip('.:')}"
    if not numbered:
        return entry.title
    by_index = index_toc(entries).by_index
    chain: list[str] = []
    parent = entry.parent
    while parent is not None:
        title = by_index[parent].title
        if title and title.casefold() != book_title.casefold():
            chain.append(title)
        parent = by_index[parent].parent
    if not chain:
        return own
    return ", ".join(reversed(chain)) + " — " + own


def container_title(entries: list[TocEntry] | TocIndex, path: str) -> str | None:
    """Title of the file-level entry (no anchor) for `path`, if the TOC has one."""
    for e in index_toc(entries).by_path.get(path, []):
        if e.anchor is None and e.title:
            return e.title
    return None
