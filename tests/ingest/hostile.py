"""Hostile books, written by code into a directory: what an attacker (or a broken tool)
hands `audiobook plan`. Used by tests/ingest/test_hostile_books.py (small sizes) and
bench/hostile_rss.py (`full=True`: the sizes of the reported attacks, e.g. a 1 GiB
zip member, a 20 MB word).

Each `Hostile` names its writer, the exit code `plan` must give and words its one
"Error:" line (or, for exit 0, a "Warning:" line) must contain.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.ingest.scenarios import CONTAINER, build_epub, xhtml

MIB = 1024 * 1024
Writer = Callable[[Path, bool], Path]


@dataclass(frozen=True)
class Hostile:
    name: str
    write: Writer  # (directory, full) -> the book file
    exit_code: int
    expect: tuple[str, ...]
    bench_only: bool = False  # too slow for the test suite at any size that means anything


def _book(directory: Path, name: str, body: str = "<h1>One</h1><p>Plain text.</p>", **kw: object) -> Path:
    return build_epub(directory / name, [("c1.xhtml", xhtml(body))], **kw)  # type: ignore[arg-type]


def _rewrite(path: Path, changes: dict[str, bytes | None], out: Path | None = None) -> Path:
    """Copy the zip with members replaced (bytes), removed (None) or added."""
    out = out or path
    members = []
    with zipfile.ZipFile(path) as src:
        for info in src.infolist():
            if info.filename in changes:
                data = changes.pop(info.filename)
                if data is not None:
                    members.append((info.filename, data))
            else:
                members.append((info.filename, src.read(info)))
    members += [(n, d) for n, d in changes.items() if d is not None]
    with zipfile.ZipFile(out, "w") as dst:
        for name, data in members:
            dst.writestr(name, data, zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED)
    return out


def _opf(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.read("OPS/content.opf").decode()


def _with_doctype(xml: str, subset: str) -> str:
    head, _, rest = xml.partition("?>")
    root = rest.lstrip().split()[0].lstrip("<").rstrip(">")
    return f"{head}?>\n<!DOCTYPE {root} [\n{subset}\n]>{rest}"


LAUGHS = '<!ENTITY lol "lol">\n' + "\n".join(
    f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
XXE = '<!ENTITY xxe SYSTEM "file:///etc/passwd">'


# --- zip ----------------------------------------------------------------------------


def zip_bomb_member(d: Path, full: bool) -> Path:
    """A ~1 MB zip holding a member that inflates to 1 GiB (tests: 100 MiB)."""
    path = _book(d, "bomb.epub")
    info = zipfile.ZipInfo("OPS/images/bomb.png")
    info.compress_type = zipfile.ZIP_DEFLATED
    chunk = b"\0" * MIB
    with zipfile.ZipFile(path, "a") as zf, zf.open(info, "w", force_zip64=True) as f:
        for _ in range(1024 if full else 100):
            f.write(chunk)
    return path


def zip_lying_header(d: Path, full: bool) -> Path:
    """A member whose headers declare 1,000 bytes but that inflates to 100 MiB."""
    path = _book(d, "liar.epub")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("OPS/liar.css", b" " * (100 * MIB), zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("OPS/liar.css")
    struct.pack_into("<I", data, info.header_offset + 22, 1000)  # local header: uncompressed size
    _patch_central(data, b"OPS/liar.css", lambda at: struct.pack_into("<I", data, at + 24, 1000))
    path.write_bytes(bytes(data))
    return path


def _patch_central(data: bytearray, name: bytes, patch: Callable[[int], None]) -> None:
    """Apply `patch` to the offset of `name`'s central directory entry."""
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        if bytes(data[at + 46:at + 46 + name_len]) == name:
            patch(at)
        at = data.find(b"PK\x01\x02", at + 46 + name_len + extra_len + comment_len)


def zip_total_bomb(d: Path, full: bool) -> Path:
    """Five members of 60 MiB each: every one under the member cap, 300 MiB in all."""
    path = _book(d, "total.epub")
    chunk = b"\0" * MIB
    with zipfile.ZipFile(path, "a") as zf:
        for n in range(5):
            info = zipfile.ZipInfo(f"OPS/images/part{n}.png")
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as f:
                for _ in range(60):
                    f.write(chunk)
    return path


def zip_many_members(d: Path, full: bool) -> Path:
    path = _book(d, "many.epub")
    with zipfile.ZipFile(path, "a") as zf:
        for n in range(10_001):
            zf.writestr(f"OPS/m/{n}.txt", b"")
    return path


def zip_truncated(d: Path, full: bool) -> Path:
    good = _book(d, "whole.epub", "<p>" + "Some text. " * 2000 + "</p>")
    path = d / "truncated.epub"
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def zip_crc_error(d: Path, full: bool) -> Path:
    path = _book(d, "crc.epub")
    data = bytearray(path.read_bytes())
    at = data.find(b"application/epub+zip")  # the stored mimetype member's bytes
    data[at] ^= 0x20
    path.write_bytes(bytes(data))
    return path


def zip_password(d: Path, full: bool) -> Path:
    """A member flagged as password-encrypted (ZipCrypto)."""
    path = _book(d, "password.epub")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("OPS/c1.xhtml")
    data[info.header_offset + 6] |= 0x1
    _patch_central(data, b"OPS/c1.xhtml", lambda at: data.__setitem__(at + 8, data[at + 8] | 0x1))
    path.write_bytes(bytes(data))
    return path


def zip_traversal(d: Path, full: bool) -> Path:
    """Members named ../../evil.txt and /abs.txt (we never extract; refuse anyway)."""
    return _rewrite(_book(d, "traversal.epub"), {"../../evil.txt": b"owned", "/abs.txt": b"owned"})


def not_a_zip(d: Path, full: bool) -> Path:
    path = d / "random.epub"
    path.write_bytes(random.Random(1).randbytes(4096))
    return path


def empty_epub(d: Path, full: bool) -> Path:
    path = d / "empty.epub"
    path.write_bytes(b"")
    return path


def no_container(d: Path, full: bool) -> Path:
    return _rewrite(_book(d, "nocontainer.epub"), {"META-INF/container.xml": None})


def missing_opf(d: Path, full: bool) -> Path:
    return _rewrite(_book(d, "noopf.epub"), {"META-INF/container.xml": CONTAINER.replace("content.opf", "gone.opf").encode()})


def broken_opf(d: Path, full: bool) -> Path:
    return _rewrite(_book(d, "brokenopf.epub"), {"OPS/content.opf": b"\x00\x01 not xml <package"})


# --- package documents ----------------------------------------------------------------


def spine_missing_file(d: Path, full: bool) -> Path:
    path = _book(d, "ghost.epub")
    opf = _opf(path).replace("</manifest>", '<item id="ghost" href="ghost.xhtml" media-type="application/xhtml+xml"/>\n</manifest>')
    return _rewrite(path, {"OPS/content.opf": opf.replace("</spine>", '<itemref idref="ghost"/>\n</spine>').encode()})


def empty_spine(d: Path, full: bool) -> Path:
    path = _book(d, "nospine.epub")
    opf = _opf(path)
    start, end = opf.index("<spine"), opf.index("</spine>")
    return _rewrite(path, {"OPS/content.opf": (opf[:start] + '<spine toc="ncx">' + opf[end:]).encode()})


def no_text(d: Path, full: bool) -> Path:
    return _book(d, "imagesonly.epub", '<div><img src="a.png" alt=""/></div>')


def opf_billion_laughs(d: Path, full: bool) -> Path:
    path = _book(d, "opflaughs.epub")
    opf = _with_doctype(_opf(path), LAUGHS).replace("<dc:title>Test Book", "<dc:title>&lol9;")
    return _rewrite(path, {"OPS/content.opf": opf.encode()})


def opf_external_entity(d: Path, full: bool) -> Path:
    path = _book(d, "opfxxe.epub")
    opf = _with_doctype(_opf(path), XXE).replace("<dc:title>Test Book", "<dc:title>&xxe;")
    return _rewrite(path, {"OPS/content.opf": opf.encode()})


def ncx_external_entity(d: Path, full: bool) -> Path:
    path = _book(d, "ncxxxe.epub", nav=False)
    with zipfile.ZipFile(path) as zf:
        ncx = zf.read("OPS/toc.ncx").decode()
    return _rewrite(path, {"OPS/toc.ncx": _with_doctype(ncx, XXE).replace("<text>c1", "<text>&xxe;").encode()})


def nav_billion_laughs(d: Path, full: bool) -> Path:
    nav = _with_doctype(xhtml('<nav epub:type="toc"><ol><li><a href="c1.xhtml">&lol9;</a></li></ol></nav>'), LAUGHS)
    return _rewrite(_book(d, "navlaughs.epub"), {"OPS/nav.xhtml": nav.encode()})


def deep_nav(d: Path, full: bool) -> Path:
    """A table of contents nested 10,000 levels deep (ebooklib recurses per level)."""
    inner = '<li><a href="c1.xhtml">x</a><ol>' * 10_000 + "</ol></li>" * 10_000
    nav = xhtml(f'<nav epub:type="toc"><ol>{inner}</ol></nav>')
    return _rewrite(_book(d, "deepnav.epub"), {"OPS/nav.xhtml": nav.encode()})


def deep_ncx(d: Path, full: bool) -> Path:
    path = _book(d, "deepncx.epub", nav=False)
    point = '<navPoint id="p{0}"><navLabel><text>x</text></navLabel><content src="c1.xhtml"/>'
    points = "".join(point.format(i) for i in range(10_000)) + "</navPoint>" * 10_000
    ncx = ('<?xml version="1.0"?><ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">'
           f"<head/><docTitle><text>T</text></docTitle><navMap>{points}</navMap></ncx>")
    return _rewrite(path, {"OPS/toc.ncx": ncx.encode()})


# --- content documents ------------------------------------------------------------------


def deep_blockquotes(d: Path, full: bool) -> Path:
    return _book(d, "blockquotes.epub", "<blockquote>" * 10_000 + "<p>Deep.</p>" + "</blockquote>" * 10_000)


def deep_inline(d: Path, full: bool) -> Path:
    return _book(d, "spans.epub", "<p>" + "<span>" * 10_000 + "deep" + "</span>" * 10_000 + "</p>")


def xhtml_billion_laughs(d: Path, full: bool) -> Path:
    doc = _with_doctype(xhtml("<p>&lol9;</p>"), LAUGHS)
    return build_epub(d / "laughs.epub", [("c1.xhtml", doc)])


def xhtml_external_entity(d: Path, full: bool) -> Path:
    doc = _with_doctype(xhtml("<p>Secret: &xxe;</p>"), XXE)
    return build_epub(d / "xxe.epub", [("c1.xhtml", doc)])


def many_elements(d: Path, full: bool) -> Path:
    """600,000 empty elements in one document (a gigabyte of tree at 10 million)."""
    return _book(d, "elements.epub", "<p>x</p>" + "<b/>" * 600_000)


# --- covers (a warning, not an error) ---------------------------------------------------


def _cover_book(d: Path, name: str, data: bytes, href: str) -> Path:
    item = f'<item id="cv" href="{href}" media-type="image/png" properties="cover-image"/>'
    return _book(d, name, manifest_extra=item, extra={f"OPS/{href}": data})


def cover_bomb(d: Path, full: bool) -> Path:
    """A PNG of a few KB that decodes to 144 megapixels."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buf, format="PNG")
    return _cover_book(d, "coverbomb.epub", buf.getvalue(), "cover.png")


def cover_garbage(d: Path, full: bool) -> Path:
    return _cover_book(d, "badcover.epub", b"\x89PNG\r\n\x1a\n" + b"\x00" * 500, "cover.png")


def zip_heavy_images(d: Path, full: bool) -> Path:
    """A legitimate but heavy book: 4 images of 60 MiB (tests: 2 MiB) that ebooklib must not load."""
    path = _book(d, "heavy.epub")
    chunk = random.Random(3).randbytes(MIB)
    with zipfile.ZipFile(path, "a") as zf:
        for n in range(4):
            info = zipfile.ZipInfo(f"OPS/images/plate{n}.jpg")
            with zf.open(info, "w") as f:  # stored: as big in the zip as inflated
                for _ in range(60 if full else 2):
                    f.write(chunk)
    opf = _opf(path).replace("</manifest>", "".join(
        f'<item id="img{n}" href="images/plate{n}.jpg" media-type="image/jpeg"/>' for n in range(4)) + "</manifest>")
    return _rewrite(path, {"OPS/content.opf": opf.encode()})


_WORDS = ("the of and to a in that is was he it for with as his on be at by had not are but from or have an they "
          "which one you were her all she there would their we him been has when who will more no if out so said "
          "what up its about into than them can only other new some could time these two may then do first any my "
          "now such like our over man me even most made after also did many before must through back years where "
          "much your way well down should because each just those people how too little state good very make world "
          "still own see men work long get here between both life being under never day same another").split()


def _prose(chars: int, chapter_every: int | None) -> str:
    """Deterministic prose-like text: sentences of 8-22 words, paragraphs of 3-7."""
    rng = random.Random(5)
    parts: list[str] = []
    size = paragraphs = 0
    while size < chars:
        if chapter_every and paragraphs % chapter_every == 0:
            parts.append(f"## Chapter {paragraphs // chapter_every + 1}\n\n")
        sentences = (" ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 22))).capitalize()
                     + rng.choice(".....?!,") for _ in range(rng.randint(3, 7)))
        parts.append(" ".join(sentences) + "\n\n")
        size += len(parts[-1])
        paragraphs += 1
    return "".join(parts)


def epub_over_text_cap(d: Path, full: bool) -> Path:
    """45 million characters of prose in 45 spine documents (the cap is 40 million)."""
    doc = xhtml("".join(f"<p>{p}</p>" for p in _prose(1_000_000, None).split("\n\n") if p))
    return build_epub(d / "longtext.epub", [(f"c{n}.xhtml", doc) for n in range(45)])


# --- Markdown -------------------------------------------------------------------------------


def _md(d: Path, name: str, text: str) -> Path:
    path = d / name
    path.write_text(text, encoding="utf-8")
    return path


def md_binary(d: Path, full: bool) -> Path:
    path = d / "binary.md"
    path.write_bytes(random.Random(2).randbytes(4096) + b"\x00")
    return path


def md_not_utf8(d: Path, full: bool) -> Path:
    path = d / "latin1.md"
    path.write_bytes("# Título\n\nCanción de año.\n".encode("latin-1"))
    return path


def md_empty(d: Path, full: bool) -> Path:
    return _md(d, "empty.md", "")


def md_whitespace(d: Path, full: bool) -> Path:
    return _md(d, "blank.md", "\n\n   \n\t\n" * 1000)


def md_too_large(d: Path, full: bool) -> Path:
    path = d / "huge.md"
    with path.open("wb") as f:  # sparse: takes no disk
        f.truncate(64 * MIB + 1)
    return path


def md_deep_blockquotes(d: Path, full: bool) -> Path:
    return _md(d, "quotes.md", "# T\n\n" + "> " * 5000 + "deep text\n")


def md_deep_lists(d: Path, full: bool) -> Path:
    return _md(d, "lists.md", "# T\n\n" + "".join("  " * i + f"- item {i}\n" for i in range(200)))


def md_deep_html(d: Path, full: bool) -> Path:
    return _md(d, "html.md", "# T\n\n" + "<div>" * 10_000 + "deep" + "</div>" * 10_000 + "\n")


def md_yaml_bomb(d: Path, full: bool) -> Path:
    """Front matter with YAML aliases nested 9 deep: 10^9 strings if stringified."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return _md(d, "yaml.md", "---\n" + "\n".join(lines) + "\ntitle: *a8\nauthor: *a8\n---\n\n# One\n\nText.\n")


def md_yaml_deep(d: Path, full: bool) -> Path:
    return _md(d, "yamldeep.md", "---\ntitle: " + "[" * 5000 + "]" * 5000 + "\n---\n\nText.\n")


def md_token_bomb(d: Path, full: bool) -> Path:
    """Empty-ish paragraphs: one parser token per 3 bytes (1 MB took 520 MB before)."""
    return _md(d, "paragraphs.md", "a\n\n" * (300_000 if not full else 2_000_000))


def md_one_word(d: Path, full: bool) -> Path:
    """One 20,000,000-character word (tests: 2,000,000): cut at characters, with a warning."""
    return _md(d, "word.md", "a" * (20_000_000 if full else 2_000_000))


def md_one_sentence(d: Path, full: bool) -> Path:
    """One sentence of 10,000,000 words (tests: 100,000)."""
    return _md(d, "sentence.md", "a " * (10_000_000 if full else 100_000))


def md_prose_near_cap(d: Path, full: bool) -> Path:
    """38 MB of prose in chapters: a (very) long real book; must plan under 500 MB."""
    return _md(d, "prose.md", _prose(38_000_000 if full else 1_000_000, 300))


def md_prose_one_chapter(d: Path, full: bool) -> Path:
    """15 MB of prose without a heading: one chapter (~210,000 sentences) segmented whole."""
    return _md(d, "onechapter.md", _prose(15_000_000 if full else 500_000, None))


def md_prose_over_cap(d: Path, full: bool) -> Path:
    return _md(d, "tooLong.md", _prose(45_000_000, 300))


def not_a_file(d: Path, full: bool) -> Path:
    path = d / "folder.epub"
    path.mkdir()
    return path


def fifo(d: Path, full: bool) -> Path:
    path = d / "pipe.md"
    os.mkfifo(path)
    return path


def symlink_loop(d: Path, full: bool) -> Path:
    path = d / "loop.epub"
    path.symlink_to(path.name)
    return path


def wrong_extension(d: Path, full: bool) -> Path:
    path = d / "book.pdf"
    path.write_bytes(b"%PDF-1.7\n")
    return path


ERRORS: tuple[Hostile, ...] = (
    Hostile("zip_bomb_member", zip_bomb_member, 2, ("OPS/images/bomb.png", "64 MiB")),
    Hostile("zip_lying_header", zip_lying_header, 2, ("liar.epub", "OPS/liar.css")),
    Hostile("zip_total_bomb", zip_total_bomb, 2, ("256 MiB", "whole book")),
    Hostile("zip_many_members", zip_many_members, 2, ("10,0", "members", "cap")),
    Hostile("zip_truncated", zip_truncated, 2, ("truncated.epub", "damaged or truncated")),
    Hostile("zip_crc_error", zip_crc_error, 2, ("crc.epub", "damaged", "mimetype")),
    Hostile("zip_password", zip_password, 2, ("OPS/c1.xhtml", "password")),
    Hostile("zip_traversal", zip_traversal, 2, ("../../evil.txt", "unsafe path")),
    Hostile("not_a_zip", not_a_zip, 2, ("random.epub", "not a zip")),
    Hostile("empty_epub", empty_epub, 2, ("empty.epub", "empty file")),
    Hostile("no_container", no_container, 2, ("container.xml",)),
    Hostile("missing_opf", missing_opf, 2, ("gone.opf", "not in the zip")),
    Hostile("broken_opf", broken_opf, 2, ("brokenopf.epub: OPS/content.opf", "not well-formed XML")),
    Hostile("spine_missing_file", spine_missing_file, 2, ("OPS/ghost.xhtml", "not in the zip")),
    Hostile("empty_spine", empty_spine, 2, ("empty spine",)),
    Hostile("no_text", no_text, 2, ("no readable text",)),
    Hostile("opf_billion_laughs", opf_billion_laughs, 2, ("OPS/content.opf", "ENTITY lol")),
    Hostile("opf_external_entity", opf_external_entity, 2, ("OPS/content.opf", "file:///etc/passwd")),
    Hostile("ncx_external_entity", ncx_external_entity, 2, ("OPS/toc.ncx", "ENTITY xxe")),
    Hostile("nav_billion_laughs", nav_billion_laughs, 2, ("OPS/nav.xhtml", "ENTITY")),
    Hostile("deep_nav", deep_nav, 2, ("OPS/nav.xhtml", "nested more than 100 deep")),
    Hostile("deep_ncx", deep_ncx, 2, ("OPS/toc.ncx", "nested more than 100 deep")),
    Hostile("deep_blockquotes", deep_blockquotes, 2, ("c1.xhtml", "nested more than 100 deep")),
    Hostile("deep_inline", deep_inline, 2, ("c1.xhtml", "nested more than 100 deep")),
    Hostile("xhtml_billion_laughs", xhtml_billion_laughs, 2, ("c1.xhtml", "ENTITY lol")),
    Hostile("xhtml_external_entity", xhtml_external_entity, 2, ("c1.xhtml", "file:///etc/passwd")),
    Hostile("many_elements", many_elements, 2, ("c1.xhtml", "500,000 elements")),
    Hostile("md_binary", md_binary, 2, ("binary.md", "not a text file")),
    Hostile("md_not_utf8", md_not_utf8, 2, ("latin1.md", "UTF-8")),
    Hostile("md_empty", md_empty, 2, ("empty.md", "no text")),
    Hostile("md_whitespace", md_whitespace, 2, ("blank.md", "no text")),
    Hostile("md_too_large", md_too_large, 2, ("huge.md", "64 MiB")),
    Hostile("md_deep_blockquotes", md_deep_blockquotes, 2, ("quotes.md: line 3", "nested more than 100")),
    Hostile("md_deep_lists", md_deep_lists, 2, ("lists.md: line 52", "nested more than 100")),
    Hostile("md_deep_html", md_deep_html, 2, ("html.md: line 3", "nested more than 100 deep")),
    Hostile("md_token_bomb", md_token_bomb, 2, ("paragraphs.md", "200,000 paragraphs")),
    Hostile("not_a_file", not_a_file, 2, ("folder.epub",)),
    Hostile("fifo", fifo, 2, ("pipe.md",)),
    Hostile("symlink_loop", symlink_loop, 2, ("loop.epub",)),
    Hostile("wrong_extension", wrong_extension, 2, ("book.pdf",)),
    Hostile("epub_over_text_cap", epub_over_text_cap, 2, ("longtext.epub", "40,000,000 characters"), bench_only=True),
    Hostile("md_prose_over_cap", md_prose_over_cap, 2, ("tooLong.md", "40,000,000 characters"), bench_only=True),
)

# Books that must be read (exit 0) with a warning that says what happened.
WARNINGS: tuple[Hostile, ...] = (
    Hostile("cover_bomb", cover_bomb, 0, ("OPS/cover.png", "megapixel cap", "title card")),
    Hostile("cover_garbage", cover_garbage, 0, ("OPS/cover.png", "not a readable image", "title card")),
    Hostile("md_yaml_bomb", md_yaml_bomb, 0, ()),
    Hostile("md_yaml_deep", md_yaml_deep, 0, ()),
    Hostile("md_one_word", md_one_word, 0, ("chapter 1:", "-character run without spaces", "max_chars 500",
                                           "cut between characters")),
    Hostile("md_one_sentence", md_one_sentence, 0, ()),
    Hostile("zip_heavy_images", zip_heavy_images, 0, ()),
    Hostile("md_prose_near_cap", md_prose_near_cap, 0, (), bench_only=True),
    Hostile("md_prose_one_chapter", md_prose_one_chapter, 0, (), bench_only=True),
)

ALL: tuple[Hostile, ...] = ERRORS + WARNINGS
