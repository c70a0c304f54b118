"""Parse untrusted XML/XHTML with bounded depth, bounded size and no entity tricks.

Every document of a book goes through `parse_document` (or `check_xml` for the ones
ebooklib parses itself) because the libraries are not safe on their own: lxml keeps
up to 2,048 nested elements (our walkers recurse per level: RecursionError), a
document of 10 million empty elements takes a gigabyte of tree, and DOCTYPE entity
declarations can expand to gigabytes ("billion laughs") or name local files
(file:///etc/passwd). So the parse is streamed (`iterparse`), counting depth and
elements as they arrive, and stops at the first cap; entity declarations are refused
before the first element. HTML's named entities (`&eacute;` in XHTML 1.1 books whose
DTD is never loaded) are put back as characters instead of being dropped.
"""

from __future__ import annotations

import html.entities
import io
import re

from lxml import etree

from pipeline.errors import BookError
from pipeline.ingest.limits import MAX_XML_DEPTH, MAX_XML_ELEMENTS

_HTML5 = html.entities.html5


def _local(tag: object) -> str:
    return tag.rpartition("}")[2].lower() if isinstance(tag, str) else ""


def _refuse_entities(el: etree._Element, name: str) -> None:
    """BookError when the DOCTYPE's internal subset declares any entity."""
    dtd = el.getroottree().docinfo.internalDTD
    if dtd is None:
        return
    for entity in dtd.iterentities():
        kind = f'SYSTEM "{entity.system_url}"' if entity.system_url else "internal"
        raise BookError(
            f"{name}: declares XML entities in its DOCTYPE (<!ENTITY {entity.name} ...>, {kind}); "
            "they are refused because they can expand to gigabytes or read local files"
        )


def _stream(data: bytes, name: str, *, html: bool) -> etree._Element | None:
    """The document's root, or None when it is not XML; BookError past a cap."""
    context = etree.iterparse(
        io.BytesIO(data), events=("start", "end"), html=html, recover=True, huge_tree=True,
        resolve_entities=False, no_network=True, load_dtd=False,
    )
    depth = count = 0
    try:
        for event, el in context:
            if event == "end":
                depth -= 1
                continue
            if count == 0 and not html:
                _refuse_entities(el, name)
            count += 1
            depth += 1
            if depth > MAX_XML_DEPTH:
                raise BookError(
                    f"{name}: elements nested more than {MAX_XML_DEPTH} deep (line {el.sourceline}); "
                    "no book needs that, the file is malformed or hostile"
                )
            if count > MAX_XML_ELEMENTS:
                raise BookError(f"{name}: more than {MAX_XML_ELEMENTS:,} elements in one document (the cap)")
    except etree.XMLSyntaxError:
        return None
    return context.root


def _inline_entities(root: etree._Element) -> None:
    """Replace undeclared entity references (&eacute;, &nbsp;) by their characters."""
    for ref in list(root.iter(etree.Entity)):
        text = _HTML5.get(f"{ref.name};", "") + (ref.tail or "")
        parent = ref.getparent()
        if parent is None:
            continue
        previous = ref.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + text
        else:
            parent.text = (parent.text or "") + text
        parent.remove(ref)


def parse_document(data: bytes, name: str) -> etree._Element:
    """A content document's root: XML (XHTML) when it parses as such, else HTML.

    Parse BYTES: lxml refuses str input that carries an encoding declaration.
    """
    root = _stream(data, name, html=False)
    if root is None or _local(root.tag) != "html":
        root = _stream(data, name, html=True)
        if root is None:
            raise BookError(f"{name}: unreadable content document (neither XHTML nor HTML)")
    _inline_entities(root)
    _strip_noncharacters(root)
    return root


# U+FDD0..U+FDEF never occur in text; the readers use them as marks (stage directions,
# language passages), so a book's own copies are removed before any mark is put in.
NONCHARACTERS = {c: None for c in range(0xFDD0, 0xFDF0)}
_HAS_NONCHARACTER = re.compile("[\ufdd0-\ufdef]")


def strip_noncharacters(text: str) -> str:
    return text.translate(NONCHARACTERS) if _HAS_NONCHARACTER.search(text) else text


def _strip_noncharacters(root: etree._Element) -> None:
    for el in root.iter():
        if el.text and _HAS_NONCHARACTER.search(el.text):
            el.text = el.text.translate(NONCHARACTERS)
        if el.tail and _HAS_NONCHARACTER.search(el.tail):
            el.tail = el.tail.translate(NONCHARACTERS)


def check_xml(data: bytes, name: str) -> None:
    """Refuse an XML document (OPF, NCX, container) that breaks a cap or declares entities.

    For documents ebooklib parses itself: it must never see what we would refuse.
    """
    if _stream(data, name, html=False) is None:
        raise BookError(f"{name}: is not well-formed XML")


def check_html(data: bytes, name: str) -> None:
    """Refuse HTML (a Markdown file's raw HTML block) nested or sized past the caps,
    before lxml.html builds it for a walker that recurses per level."""
    _stream(data, name, html=True)
