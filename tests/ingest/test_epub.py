"""EPUB ingest: tiny scenario books built in tmp_path, the sample, bad input, the corpus."""

from __future__ import annotations

import re
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from pipeline.errors import BookError, DRMError
from pipeline.ingest import IngestOptions, load_book
from pipeline.models import Book
from tests.conftest import SAMPLES, corpus_file
from tests.ingest.scenarios import build_epub, xhtml

OPTS = IngestOptions()


def body(book: Book) -> list:
    return [c for c in book.chapters if c.matter == "body"]


def all_text(book: Book, matter: str = "body") -> str:
    return "\n".join(b.text for c in book.chapters if c.matter == matter for b in c.blocks)


# --- scenario books -----------------------------------------------------------------------


def test_spine_order_titles_and_matter(tmp_path: Path) -> None:
    docs = [
        ("title.xhtml", xhtml('<section epub:type="titlepage"><h1>Test Book</h1></section>', body_type="frontmatter")),
        ("c2.xhtml", xhtml("<h2>Second</h2><p>Two.</p>")),
        ("c1.xhtml", xhtml("<h2>First<a epub:type=\"noteref\" href=\"n.xhtml#n1\">1</a></h2><p>One.</p>")),
        ("colo.xhtml", xhtml('<section epub:type="colophon"><h2>Colophon</h2><p>Made.</p></section>')),
    ]
    path = build_epub(tmp_path / "b.epub", docs, toc=[("c2.xhtml", "Second"), ("c1.xhtml", "First")])
    book = load_book(path, OPTS)
    assert [c.title for c in book.chapters] == ["Test Book", "Second", "First", "Colophon"]
    assert [c.matter for c in book.chapters] == ["front", "body", "body", "back"]
    assert book.chapters[2].blocks[0].text == "First"  # the note digit is not in the heading
    assert book.meta.authors == ("A. Writer", "B. Writer")
    assert book.format == "epub" and [c.index for c in book.chapters] == [1, 2, 3, 4]


def test_nav_page_and_nonlinear_items_are_not_read(tmp_path: Path) -> None:
    docs = [("toc.xhtml", xhtml("<h1>Contents</h1><p>Chapter One ..... 1</p>")), ("c1.xhtml", xhtml("<p>Real.</p>"))]
    book = load_book(build_epub(tmp_path / "b.epub", docs, nonlinear=("toc.xhtml",)), OPTS)
    assert [c.source for c in book.chapters] == ["c1.xhtml"]
    assert "Contents" not in all_text(book)


def test_ruby_noterefs_and_note_bodies_are_dropped(tmp_path: Path) -> None:
    html = (
        "<p><ruby>山路<rt>やまみち</rt></ruby>を登りながら<ruby>智<rp>(</rp><rt>ち</rt><rp>)</rp></ruby>。</p>"
        '<p>Word<sup><a href="#fn1">1</a></sup> and word<a href="#fn2"><sup>2</sup></a> and '
        'word<a role="doc-noteref" href="#fn3">3</a>.</p>'
        '<aside epub:type="footnote" id="fn1"><p>A footnote body.</p></aside>'
    )
    book = load_book(build_epub(tmp_path / "b.epub", [("c.xhtml", xhtml(html, lang="ja"))], lang="ja"), OPTS)
    texts = [b.text for b in book.chapters[0].blocks]
    assert texts == ["山路を登りながら智。", "Word and word and word."]


def test_block_kinds(tmp_path: Path) -> None:
    html = """<h2>Kinds</h2>
<p>Prose   with
   spaces.</p>
<div epub:type="z3998:poem"><p><span>Line one,</span><br/><span>line two.</span></p></div>
<p>* * *</p>
<hr/>
<ul><li>apples</li><li><p>pears</p><ul><li>conference</li></ul></li></ul>
<table><tr><th>Name</th><th>Age</th></tr><tr><td>Ann</td><td>30</td></tr></table>
<dl><dt>Baal</dt><dd><p>An old deity.</p></dd></dl>
<blockquote><p>Quoted.</p></blockquote>
<p xml:lang="fr">Bonjour.</p>
<img src="x.png" alt="A map of the road"/>"""
    path = build_epub(tmp_path / "b.epub", [("c.xhtml", xhtml(html))])
    blocks = load_book(path, OPTS).chapters[0].blocks
    assert [(b.kind, b.text, b.lang) for b in blocks] == [
        ("heading", "Kinds", None),
        ("paragraph", "Prose with spaces.", None),
        ("verse", "Line one,\nline two.", None),
        ("scene_break", "", None),
        ("list", "apples\npears\nconference", None),
        ("table", "Name, Age\nAnn, 30", None),
        ("paragraph", "Baal", None),
        ("paragraph", "An old deity.", None),
        ("paragraph", "Quoted.", None),
        ("paragraph", "Bonjour.", "fr"),
    ]
    with_alt = load_book(path, IngestOptions(image_alt=True, tables="skip")).chapters[0].blocks
    assert with_alt[-1].text == "A map of the road"
    assert not any(b.kind == "table" for b in with_alt)


def test_drama_table_is_read_as_speeches_even_when_tables_skipped(tmp_path: Path) -> None:
    html = """<table><tr><td epub:type="z3998:persona">Bernardo</td><td>Who’s there?</td></tr>
<tr><td/><td><i epub:type="z3998:stage-direction">Enter Horatio.</i></td></tr>
<tr><td epub:type="z3998:persona">Francisco</td><td epub:type="z3998:verse"><p><span>For this relief</span><br/><span>much thanks.</span></p></td></tr>
<tr><td epub:type="z3998:persona">Horatio</td><td>Stay! speak! <i epub:type="z3998:stage-direction">Exit <b epub:type="z3998:persona">Ghost</b>.</i> ’Tis gone.</td></tr></table>"""
    path = build_epub(tmp_path / "b.epub", [("c.xhtml", xhtml(html, body_type="bodymatter z3998:drama"))])
    blocks = load_book(path, IngestOptions(tables="skip")).chapters[0].blocks
    assert [(b.kind, b.text) for b in blocks] == [
        ("paragraph", "Bernardo"), ("paragraph", "Who’s there?"), ("paragraph", "Enter Horatio."),
        ("paragraph", "Francisco"), ("verse", "For this relief\nmuch thanks."),
        ("paragraph", "Horatio"), ("paragraph", "Stay! speak!"), ("paragraph", "Exit Ghost."), ("paragraph", "’Tis gone.")]
    assert [(b.role, b.speaker) for b in blocks] == [  # stage directions, even inside a speech, are the narrator's
        ("name", None), ("text", "Bernardo"), ("text", None), ("name", None), ("text", "Francisco"),
        ("name", None), ("text", "Horatio"), ("text", None), ("text", "Horatio")]


def test_one_file_split_at_toc_anchors_with_numbered_titles(tmp_path: Path) -> None:
    act = """<section id="act-1"><h2>Act I</h2>
<section id="s1"><h3>Scene I</h3><p>First scene.</p></section>
<section id="s2"><h3>Scene II</h3><p>Second scene.</p><h4 id="s2-1">I</h4><p>Part one.</p></section></section>"""
    toc = [("act.xhtml", "Act I"), ("act.xhtml#s1", "Scene I"), ("act.xhtml#s2", "Scene II")]
    path = build_epub(tmp_path / "b.epub", [("act.xhtml", xhtml(act))], toc=toc)
    chapters = load_book(path, OPTS).chapters
    assert [c.title for c in chapters] == ["Scene I", "Scene II"]  # flat TOC: no parent to compose
    assert [b.text for b in chapters[0].blocks] == ["Act I", "Scene I", "First scene."]
    assert chapters[1].source == "act.xhtml#s2" and chapters[1].blocks[-1].text == "Part one."


def test_epub2_ncx_guide_and_meta_cover(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    docs = [("cover.xhtml", xhtml('<div><img src="c.png" alt="cover"/></div>')),
            ("c1.xhtml", xhtml("<h1>Only</h1><p>Text.</p>")),
            ("legal.xhtml", xhtml("<p>All rights reserved.</p>", title="Legal"))]
    path = build_epub(
        tmp_path / "b.epub", docs, toc=[("c1.xhtml", "Only")], nav=False,
        opf_extra_meta='<meta name="cover" content="img"/>',
        manifest_extra='<item id="img" href="c.png" media-type="image/png"/>',
        extra={"OPS/c.png": png},
    )
    with zipfile.ZipFile(path) as zf:  # an EPUB 2 guide marking the copyright page
        opf = zf.read("OPS/content.opf").decode()
    opf = opf.replace("</package>", '<guide><reference type="copyright-page" href="legal.xhtml" title="Legal"/></guide></package>')
    rebuilt = tmp_path / "c.epub"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(rebuilt, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, opf.encode() if info.filename == "OPS/content.opf" else src.read(info))
    book = load_book(rebuilt, OPTS)
    assert [(c.title, c.matter) for c in book.chapters] == [("Only", "body"), ("Legal", "back")]
    assert book.cover is not None and book.cover.media_type == "image/png" and book.cover.data == png


def test_svg_cover_keeps_embedded_raster(tmp_path: Path) -> None:
    import base64

    jpeg = b"\xff\xd8\xff\xe0" + b"J" * 64
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
           f'<image xlink:href="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}"/></svg>').encode()
    path = build_epub(tmp_path / "b.epub", [("c.xhtml", xhtml("<p>T.</p>"))],
                      manifest_extra='<item id="cv" href="cover.svg" media-type="image/svg+xml" properties="cover-image"/>',
                      extra={"OPS/cover.svg": svg})
    cover = load_book(path, OPTS).cover
    assert cover is not None and cover.media_type == "image/jpeg" and cover.data == jpeg


# --- bad input ----------------------------------------------------------------------------


def _one_line(exc: BaseException, name: str) -> None:
    assert "\n" not in str(exc) and name in str(exc)


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "fake.epub"
    path.write_text("# just markdown\n")
    with pytest.raises(BookError, match="not an EPUB \\(not a zip archive\\)") as info:
        load_book(path)
    _one_line(info.value, "fake.epub")


def test_zip_without_container(tmp_path: Path) -> None:
    path = tmp_path / "nocontainer.epub"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("OPS/c.xhtml", xhtml("<p>x</p>"))
    with pytest.raises(BookError, match="container.xml") as info:
        load_book(path)
    _one_line(info.value, "nocontainer.epub")


ENCRYPTION = """<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
<enc:EncryptedData><enc:EncryptionMethod Algorithm="{alg}"/>
<enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData></enc:EncryptedData>
</encryption>"""


def test_drm_encrypted_content_is_refused(tmp_path: Path) -> None:
    enc = ENCRYPTION.format(alg="http://www.w3.org/2001/04/xmlenc#aes128-cbc", uri="OPS/c.xhtml").encode()
    path = build_epub(tmp_path / "drm.epub", [("c.xhtml", xhtml("<p>x</p>"))], extra={"META-INF/encryption.xml": enc})
    with pytest.raises(DRMError, match="DRM-protected") as info:
        load_book(path)
    _one_line(info.value, "drm.epub")
    assert info.value.exit_code == 2


def test_font_obfuscation_is_not_drm(tmp_path: Path) -> None:
    enc = ENCRYPTION.format(alg="http://www.idpf.org/2008/embedding", uri="OPS/fonts/a.otf").encode()
    path = build_epub(tmp_path / "font.epub", [("c.xhtml", xhtml("<p>Readable.</p>"))],
                      extra={"META-INF/encryption.xml": enc})
    assert all_text(load_book(path)) == "Readable."


def test_broken_opf_and_empty_book(tmp_path: Path) -> None:
    broken = tmp_path / "broken.epub"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("META-INF/container.xml", (Path(__file__).parent / "scenarios" / "__init__.py").read_text()
                    .split('CONTAINER = """')[1].split('"""')[0])
        zf.writestr("OPS/content.opf", "<package><metadata>")
    with pytest.raises(BookError) as info:
        load_book(broken)
    _one_line(info.value, "broken.epub")
    empty = build_epub(tmp_path / "empty.epub", [("c.xhtml", xhtml('<div><img src="a.png" alt=""/></div>'))])
    with pytest.raises(BookError, match="no readable text"):
        load_book(empty)


# --- the sample ---------------------------------------------------------------------------


def test_sample_epub() -> None:
    book = load_book(SAMPLES / "the-salt-road.epub")
    assert book.meta.title == "The Salt Road" and book.meta.language == "en-GB"
    assert [(c.title, c.matter) for c in book.chapters] == [
        ("Titlepage", "front"),
        ("Chapter 1: The Well at Marrow Cross", "body"),
        ("Chapter 2: The Ferryman’s Toll — Paid in Salt?", "body"),
        ("Chapter 3: What the Tide Keeps", "body"),
        ("Endnotes", "back"),
        ("Colophon", "back"),
    ]
    text = all_text(book)
    assert 2500 <= len(text) <= 4000
    assert "salt pans glittered" in text and "pans1" not in text
    kinds = {b.kind for c in body(book) for b in c.blocks}
    assert {"heading", "paragraph", "verse", "scene_break"} <= kinds
    assert any(b.lang == "fr" for c in body(book) for b in c.blocks)
    assert "“" in text and "Table of Contents" not in all_text(book, "front")
    assert book.cover is not None and book.cover.media_type == "image/png"
    assert struct.unpack(">II", book.cover.data[16:24]) == (600, 600)


def test_sample_script_is_deterministic(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_sample_epub", SAMPLES / "make_sample_epub.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_epub(tmp_path / "a.epub")
    module.write_epub(tmp_path / "b.epub")
    assert (tmp_path / "a.epub").read_bytes() == (tmp_path / "b.epub").read_bytes()
    assert (tmp_path / "a.epub").read_bytes() == (SAMPLES / "the-salt-road.epub").read_bytes()


# --- the corpus -------------------------------------------------------------------------------


def _visible_chars(path: Path, sources: set[str]) -> int:
    """Non-space characters of the kept spine files: body text minus ruby and note markers."""
    from ebooklib import epub

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = epub.read_epub(str(path), {"ignore_ncx": True})
    total = 0
    for idref, _ in book.spine:
        item = book.get_item_with_id(idref)
        if item.get_name() not in sources:
            continue
        root = etree.fromstring(item.content)
        drop = [e for e in root.iter() if isinstance(e.tag, str) and (
            etree.QName(e).localname in {"head", "rt", "rp"}
            or re.search(r"noteref|backlink", e.get("{http://www.idpf.org/2007/ops}type") or ""))]
        for el in drop:  # silence the element and its subtree, keep the text after it
            for sub in el.iter():
                sub.text = None
                if sub is not el:
                    sub.tail = None
        total += len(re.sub(r"\s", "", "".join(root.itertext())))
    return total


CORPUS_CASES = {
    "jane-austen_pride-and-prejudice.epub": 61,
    "charles-dickens_a-christmas-carol.epub": 6,
    "natsume-soseki_kusamakura_ja.epub": 13,
    "arthur-conan-doyle_the-adventures-of-sherlock-holmes.epub": 12,
}


@pytest.mark.parametrize("name,expected", sorted(CORPUS_CASES.items()))
def test_corpus_body_chapter_counts(name: str, expected: int) -> None:
    book = load_book(corpus_file(name))
    assert len(body(book)) == expected


@pytest.mark.parametrize("name", [
    "ambrose-bierce_the-devils-dictionary.epub", "arthur-conan-doyle_the-adventures-of-sherlock-holmes.epub",
    "charles-dickens_a-christmas-carol.epub", "edgar-allan-poe_poetry.epub", "jane-austen_pride-and-prejudice.epub",
    "natsume-soseki_kusamakura_ja.epub", "william-shakespeare_hamlet.epub",
    "leo-tolstoy_war-and-peace_louise-maude_aylmer-maude.epub",
])
def test_corpus_keeps_the_visible_text(name: str) -> None:
    path = corpus_file(name)
    book = load_book(path)
    kept = sum(len(re.sub(r"\s", "", b.text)) for c in book.chapters for b in c.blocks)
    visible = _visible_chars(path, {c.source.split("#")[0] for c in book.chapters})
    assert abs(kept - visible) <= 0.03 * visible, (kept, visible)
    titles = [c.title for c in book.chapters]
    assert not any(re.search(r"[a-z]\d+$", t) for t in titles), titles
    assert not any(t.lower() in {"table of contents", "contents", "目次"} for t in titles)
    assert all(c.title and any(b.text for b in c.blocks) for c in book.chapters)


def test_corpus_christmas_carol() -> None:
    book = load_book(corpus_file("charles-dickens_a-christmas-carol.epub"))
    assert [c.title for c in body(book)] == [
        "Preface", "Stave I: Marley’s Ghost", "Stave II: The First of the Three Spirits",
        "Stave III: The Second of the Three Spirits", "Stave IV: The Last of the Spirits", "Stave V: The End of It"]
    assert {c.title: c.matter for c in book.chapters}["Colophon"] == "back"


def test_corpus_hamlet_scenes() -> None:
    book = load_book(corpus_file("william-shakespeare_hamlet.epub"))
    scenes = [c for c in body(book) if "Scene" in c.title]
    assert len(scenes) == 20 and len(body(book)) <= 21
    assert scenes[0].title == "Act I — Scene I" and scenes[-1].title == "Act V — Scene II"
    first = [b.text for b in scenes[0].blocks[:6]]
    assert first[:2] == ["Act I", "Scene I"] and "Bernardo" in first and "Who’s there?" in first
    assert book.cover is not None and book.cover.media_type in {"image/jpeg", "image/svg+xml"}


def test_corpus_poe_poems_and_clean_titles() -> None:
    book = load_book(corpus_file("edgar-allan-poe_poetry.epub"))
    poems = body(book)
    assert 50 <= len(poems) <= 56
    assert poems[0].title == "Tamerlane" and poems[0].blocks[0].text == "Tamerlane"
    assert "Tamerlane1" not in all_text(book)
    assert sum(1 for c in poems for b in c.blocks if b.kind == "verse") > 200
    assert any(c.matter == "back" and c.title == "Endnotes" for c in book.chapters)


def test_corpus_war_and_peace_chapters_and_speed() -> None:
    path = corpus_file("leo-tolstoy_war-and-peace_louise-maude_aylmer-maude.epub")
    book = load_book(path)  # speed: see bench/credits.py (plan time per book)
    chapters = body(book)
    assert len(chapters) >= 350
    titles = [c.title for c in chapters]
    assert "Book I, Part I: 1805 — Chapter I" in titles
    assert sum("Epilogue" in t and "Chapter" in t for t in titles) == 28
    assert "Part I: 1805" in titles  # a divider page is still a chapter with its heading
    assert sum(1 for c in chapters for b in c.blocks if b.lang == "fr") > 0


def test_corpus_kusamakura_has_no_ruby() -> None:
    book = load_book(corpus_file("natsume-soseki_kusamakura_ja.epub"))
    text = all_text(book)
    assert "山路を登りながら" in text and "やまみち" not in text
    assert [c.title for c in body(book)][:3] == ["一", "二", "三"]
    assert not any(b.lang for c in body(book) for b in c.blocks if b.kind == "paragraph" and "山路" in b.text)
