"""Inline text of XHTML elements: what a narrator reads inside one block.

Whitespace collapsed, `<br/>` kept as a line break, furigana (`<rt>`/`<rp>`), note
references and note bodies left out. With `langs`, an inline element in another
language (`<i xml:lang="fr">`) is wrapped in passage marks (pipeline.ingest.passages)
so the block can be cut into passages with their own voice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

from pipeline.ingest.passages import close_mark, open_mark

EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Elements whose content is walked for further blocks.
CONTAINERS = frozenset({
    "body", "section", "article", "div", "main", "header", "footer", "hgroup", "figure",
    "aside", "nav", "blockquote", "details", "summary", "address", "center", "li", "dd", "td", "th",
})
BLOCK_TAGS = CONTAINERS | HEADINGS | frozenset({
    "p", "ul", "ol", "dl", "dt", "table", "tr", "tbody", "thead", "tfoot", "hr", "pre",
    "figcaption", "caption", "img", "svg", "math",
})
SKIP_TAGS = frozenset({"head", "script", "style", "template", "rt", "rp", "svg", "audio", "video", "object"})
NOTE_TYPES = frozenset({"footnote", "endnote", "rearnote", "note", "footnotes", "rearnotes"})
NOTE_ROLES = frozenset({"doc-footnote", "doc-endnote", "doc-noteref", "doc-backlink"})
REF_TYPES = frozenset({"noteref", "backlink", "pagebreak"})
VERSE_TYPES = frozenset({"z3998:poem", "z3998:verse", "z3998:song", "z3998:lyrics", "z3998:hymn"})
VERSE_CLASSES = frozenset({"verse", "poem", "poetry", "stanza", "song"})
SCENE_BREAK_RE = re.compile(r"^[\s*⁂⁎∗·•~#§]+$")
LINE_BREAK = "\x00"  # marks <br/> while gathering; source newlines are plain whitespace
NOTE_MARK_RE = re.compile(r"^[\s\[\](){}0-9ivxlcdmIVXLCDM*†‡§¶#a-z,.-]{1,8}$")


def local(tag: object) -> str:
    """Tag name without namespace ('' for comments and processing instructions)."""
    return tag.rpartition("}")[2].lower() if isinstance(tag, str) else ""


def types_of(el: etree._Element) -> frozenset[str]:
    """The element's epub:type tokens (namespaced or, after HTML parsing, literal)."""
    value = el.get(EPUB_TYPE) or el.get("epub:type") or ""
    return frozenset(value.split())


def _classes(el: etree._Element) -> frozenset[str]:
    return frozenset((el.get("class") or "").lower().split())


def lang_of(el: etree._Element) -> str | None:
    return el.get(XML_LANG) or el.get("lang") or None


def is_note_reference(el: etree._Element) -> bool:
    """noteref/backlink markers, and `<sup><a href=#…>1</a></sup>` / `<a href=#…><sup>1</sup></a>`."""
    if types_of(el) & REF_TYPES or (el.get("role") or "") in NOTE_ROLES:
        return True
    name = local(el.tag)
    if name == "sup":
        links = [c for c in el if local(c.tag) == "a" and "#" in (c.get("href") or "")]
        return bool(links) and bool(NOTE_MARK_RE.match("".join(el.itertext()) or "x"))
    if name == "a" and "#" in (el.get("href") or ""):
        has_sup = any(local(c.tag) == "sup" for c in el)
        return has_sup and bool(NOTE_MARK_RE.match("".join(el.itertext()) or "x"))
    return False


def is_note_body(el: etree._Element) -> bool:
    """Footnote/endnote bodies placed in the flow (asides), which are not read there."""
    return bool(types_of(el) & NOTE_TYPES and local(el.tag) == "aside") or (el.get("role") or "") in {
        "doc-footnote", "doc-endnote"}


def gather(el: etree._Element, image_alt: bool = False, skip_lists: bool = False, langs: bool = False) -> str:
    """Inline text of `el` with `<br/>` as "\\n"; lines whitespace-collapsed. With
    `langs`, inline elements with a language are wrapped in passage marks."""
    parts: list[str] = []
    _gather_into(el, parts, image_alt, skip_lists, langs)
    lines = (" ".join(line.split()) for line in "".join(parts).split(LINE_BREAK))
    return "\n".join(line for line in lines if line)


def _gather_into(el: etree._Element, parts: list[str], image_alt: bool, skip_lists: bool, langs: bool) -> None:
    """Depth-first over inline content with an explicit stack (never Python recursion)."""
    if el.text:
        parts.append(el.text)
    # Each frame: the children still to visit, and what to append when they are done.
    stack: list[tuple[Iterator[etree._Element], str]] = [(iter(el), "")]
    while stack:
        child = next(stack[-1][0], None)
        if child is None:
            parts.append(stack.pop()[1])
            continue
        name = local(child.tag)
        tail = child.tail or ""
        if not name or name in SKIP_TAGS or is_note_reference(child) or is_note_body(child):
            pass
        elif name == "br":
            parts.append(LINE_BREAK)
        elif name == "img":
            if image_alt and child.get("alt", "").strip():
                parts.append(f" {child.get('alt')} ")
        elif not (skip_lists and name in {"ul", "ol"}):
            spacer = " " if name in BLOCK_TAGS else ""
            lang = lang_of(child) if langs and not spacer else None
            parts.append(spacer + (open_mark(lang) if lang else "") + (child.text or ""))
            stack.append((iter(child), (close_mark() if lang else "") + spacer + tail))
            continue
        parts.append(tail)


def heading_text(el: etree._Element) -> str:
    """A heading's text on one line (no note digits, no furigana)."""
    return " ".join(gather(el).split())
