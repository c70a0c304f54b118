"""Hostile EPUBs for tests/ingest/hostile.py: each writer is (directory, full) -> book."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.ingest.scenarios import CONTAINER, build_epub, xhtml

MIB = 1024 * 1024


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


def epub_huge_toc(d: Path, full: bool) -> Path:
    """2,000 spine documents and a 50,000-entry TOC (tests: 200 and 5,000): linear, not quadratic."""
    n_docs, n_toc = (2_000, 50_000) if full else (200, 5_000)
    docs = [(f"c{i}.xhtml", xhtml(f"<h2>Part {i}</h2><p>Text {i}.</p>")) for i in range(n_docs)]
    toc = [(f"c{i % n_docs}.xhtml#a{i}", f"Entry {i}") for i in range(n_toc)]
    return build_epub(d / "hugetoc.epub", docs, toc=toc)


def epub_over_text_cap(d: Path, full: bool) -> Path:
    """45 million characters of prose in 45 spine documents (the cap is 40 million)."""
    doc = xhtml("".join(f"<p>{p}</p>" for p in _prose(1_000_000, None).split("\n\n") if p))
    return build_epub(d / "longtext.epub", [(f"c{n}.xhtml", doc) for n in range(45)])
