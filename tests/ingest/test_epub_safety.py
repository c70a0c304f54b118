"""EPUB safety: zip caps, safe XML, iterative walks, the lazy ebooklib reader."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from lxml import etree

from pipeline.errors import BookError
from pipeline.ingest import IngestOptions, limits, load_book
from pipeline.ingest import epub as epub_mod
from pipeline.ingest.epub_package import inspect_epub
from pipeline.ingest.epub_toc import (
    TocEntry,
    chapter_entries,
    flatten_toc,
    resolve_paths,
)
from pipeline.ingest.xhtml import _list_lines, gather
from tests.ingest.hostile_epub import _book, _opf, _rewrite
from tests.ingest.scenarios import build_epub, xhtml

XHTML11 = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>T</title></head>
<body><p>Caf&eacute; na&iuml;ve&nbsp;style &mdash; <i>ex&shy;tra</i> &amp; &#233;t&eacute; &bogus; end.</p></body></html>"""


def texts(path: Path) -> list[str]:
    return [b.text for c in load_book(path, IngestOptions()).chapters for b in c.blocks]


def test_named_html_entities_of_an_undeclared_dtd_are_read(tmp_path: Path) -> None:
    book = build_epub(tmp_path / "b.epub", [("c.xhtml", XHTML11)])
    assert texts(book) == ["Café naïve style — ex\u00adtra & été end."]  # (no-break space: collapsed)


def test_nesting_just_under_the_cap_is_read_in_full(tmp_path: Path) -> None:
    depth = limits.MAX_XML_DEPTH - 5  # html and body count too
    body = "<blockquote>" * (depth - 3) + "<p>" + "<span>" * 2 + "Deep words." + "</span>" * 2 + "</p>" + \
        "</blockquote>" * (depth - 3)
    assert texts(_book(tmp_path, "deep.epub", body)) == ["Deep words."]


def _nested(tags: list[str], text: str) -> etree._Element:
    """An element tree nested len(tags) deep, built directly (past the parser's cap)."""
    root = etree.Element(tags[0])
    el = root
    for tag in tags[1:]:
        el = etree.SubElement(el, tag)
    el.text = text
    return root


def test_gather_and_list_lines_use_no_recursion() -> None:
    """5,000 levels: a recursive walk would raise RecursionError (limit 1,000)."""
    spans = _nested(["p"] + ["span", "div"] * 2500, "deep")
    spans.text = "Start"
    assert gather(spans) == "Start deep"
    lists = _nested(["ul"] + ["li", "ul"] * 2500 + ["li"], "last")
    for n, li in enumerate(lists.iter("li")):
        li.text = f"item {n}"
    lines = _list_lines(lists, image_alt=False)
    assert len(lines) == 2501 and lines[:2] == ["item 0", "item 1"] and lines[-1] == "item 2500"


def test_nested_lists_keep_every_item_in_document_order(tmp_path: Path) -> None:
    levels = 40
    body = "".join(f"<ul><li>item {i}" for i in range(levels)) + "</li></ul>" * levels
    body += "<ol><li>a<div><ul><li>inside a div</li></ul></div></li><li>b</li></ol>"
    blocks = texts(_book(tmp_path, "lists.epub", body))
    assert blocks[0].split("\n") == [f"item {i}" for i in range(levels)]
    assert blocks[1].split("\n") == ["a", "inside a div", "b"]


def test_a_toc_10000_deep_flattens_without_recursion() -> None:
    from ebooklib.epub import Link, Section

    toc: list[object] = [Link("c.xhtml#deepest", "Deepest")]
    for i in reversed(range(10_000)):
        toc = [(Section(f"Level {i}", href=f"c.xhtml#l{i}"), toc)]
    entries = flatten_toc(toc)
    assert len(entries) == 10_001 and entries[-1].title == "Deepest" and entries[-1].parent == 9_999
    assert [e.anchor for e in chapter_entries(entries, "c.xhtml")] == ["deepest"]


def _resolve_reference(path: str, names: set[str]) -> str:
    """The original quadratic matcher: one name that is a "/"-suffix of it or that it ends."""
    if not path or path in names:
        return path
    matches = [n for n in names if n.endswith("/" + path) or path.endswith("/" + n)]
    return matches[0] if len(matches) == 1 else path


def test_resolve_paths_matches_the_reference_matcher() -> None:
    names = {"OEBPS/text/ch1.xhtml", "OEBPS/text/ch2.xhtml", "a/x.xhtml", "b/x.xhtml", "top.xhtml", "OEBPS/top.xhtml"}
    paths = ["text/ch1.xhtml", "../OEBPS/text/ch2.xhtml", "x.xhtml", "ch3.xhtml", "", "zz/OEBPS/text/ch2.xhtml",
             "top.xhtml", "q/top.xhtml", "ch1.xhtml", "a/x.xhtml", "OEBPS/text/ch1.xhtml"]
    entries = [TocEntry(i, "", p, None, None, False) for i, p in enumerate(paths)]
    assert [e.path for e in resolve_paths(entries, names)] == [_resolve_reference(p, names) for p in paths]


def _with_images(tmp_path: Path) -> Path:
    items = ('<item id="cv" href="cover.png" media-type="image/png" properties="cover-image"/>'
             '<item id="plate" href="plate.jpg" media-type="image/jpeg"/>'
             '<item id="gone" href="gone.jpg" media-type="image/jpeg"/>')
    from tests.audio.test_cover import PNG

    return _book(tmp_path, "images.epub", manifest_extra=items,
                 extra={"OPS/cover.png": PNG, "OPS/plate.jpg": b"J" * (2 * 1024 * 1024)})


def test_ebooklib_never_loads_images_it_does_not_need(tmp_path: Path) -> None:
    path = _with_images(tmp_path)
    package = inspect_epub(path)
    assert package.covers == ("OPS/cover.png",) and "OPS/plate.jpg" in package.skip
    ebook = epub_mod._load(path, package)
    assert ebook.get_item_with_id("plate").content == b""
    assert ebook.get_item_with_id("gone").content == b""  # listed, missing, unused: tolerated
    book = load_book(path)
    assert book.cover is not None and book.cover.source == "OPS/cover.png" and book.cover.data[:4] == b"\x89PNG"


def test_spine_listing_a_document_twice_reads_it_once_with_a_warning(tmp_path: Path) -> None:
    path = _book(tmp_path, "twice.epub")
    opf = _opf(path).replace("</spine>", '<itemref idref="d0"/><itemref idref="nowhere"/></spine>')
    _rewrite(path, {"OPS/content.opf": opf.encode()})
    book = load_book(path)
    assert [c.source for c in book.chapters] == ["c1.xhtml"]
    assert book.warnings == (
        "twice.epub: the spine lists 'nowhere', which is not in the manifest; skipped",
        "twice.epub: the spine lists c1.xhtml more than once; it is read once",
    )


@pytest.mark.parametrize("cap,value,extra,message", [
    ("MAX_MEMBER_BYTES", 1024 * 1024, {"OPS/big.css": b" " * (1024 * 1024 + 1)}, "OPS/big.css inflates to more than 1 MiB"),
    ("MAX_ZIP_BYTES", 3 * 1024 * 1024, {f"OPS/p{n}.css": b" " * (1024 * 1024) for n in range(3)}, "more than 3 MiB"),
    ("MAX_ZIP_MEMBERS", 8, {f"OPS/m{n}.txt": b"" for n in range(4)}, "more than the cap of 8"),
])
def test_zip_caps(cap: str, value: int, extra: dict[str, bytes], message: str, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = _book(tmp_path, "capped.epub", extra=extra)
    assert load_book(path).chapters  # within the real caps
    monkeypatch.setattr(limits, cap, value)
    with pytest.raises(BookError, match=message):
        load_book(path)


def test_a_member_whose_header_lies_is_measured_by_inflating(tmp_path: Path) -> None:
    from tests.ingest.hostile_epub import zip_lying_header

    path = zip_lying_header(tmp_path, False)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("OPS/liar.css").file_size == 1000
    with pytest.raises(BookError, match="OPS/liar.css"):
        load_book(path)


def test_an_external_dtd_is_never_read(tmp_path: Path) -> None:
    """A DOCTYPE naming a local DTD that defines entities: the DTD is not loaded, so
    the secret it holds never reaches the text, the title or anything else."""
    dtd = tmp_path / "secret.dtd"
    dtd.write_text('<!ENTITY secret "TOPSECRET">', encoding="utf-8")
    doctype = f'<!DOCTYPE html SYSTEM "{dtd.as_uri()}">'
    doc = xhtml("<p>Before &secret; after.</p>").replace("?>", "?>\n" + doctype, 1)
    path = build_epub(tmp_path / "dtd.epub", [("c.xhtml", doc)], title="Title &secret;")
    opf = _opf(path).replace("?>", f'?>\n<!DOCTYPE package SYSTEM "{dtd.as_uri()}">', 1)
    _rewrite(path, {"OPS/content.opf": opf.encode()})
    book = load_book(path)
    assert texts(path) == ["Before after."]
    assert "TOPSECRET" not in book.meta.title
