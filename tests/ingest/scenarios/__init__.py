"""Tiny EPUBs built in tmp_path for the EPUB reader's tests (nothing committed)."""

from __future__ import annotations

import zipfile
from pathlib import Path

HEAD = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="{lang}">
<head><title>{title}</title></head>
<body{body_attrs}>
{body}
</body>
</html>
"""

CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>
"""


def xhtml(body: str, title: str = "Doc", lang: str = "en", body_type: str = "") -> str:
    attrs = f' epub:type="{body_type}"' if body_type else ""
    return HEAD.format(lang=lang, title=title, body=body, body_attrs=attrs)


def build_epub(
    path: Path,
    docs: list[tuple[str, str]],
    toc: list[tuple[str, str]] | None = None,
    *,
    title: str = "Test Book",
    lang: str = "en",
    nonlinear: tuple[str, ...] = (),
    extra: dict[str, bytes] | None = None,
    opf_extra_meta: str = "",
    manifest_extra: str = "",
    nav: bool = True,
) -> Path:
    """Write an EPUB 3 (or EPUB 2 with `nav=False`) whose spine is `docs` (name, xhtml)."""
    toc = toc if toc is not None else [(name, name) for name, _ in docs]
    items = "".join(f'<item id="d{i}" href="{n}" media-type="application/xhtml+xml"/>\n' for i, (n, _) in enumerate(docs))
    no = ' linear="no"'
    spine = "".join(f'<itemref idref="d{i}"{no if n in nonlinear else ""}/>\n' for i, (n, _) in enumerate(docs))
    nav_item = '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>\n' if nav else ""
    opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="{'3.0' if nav else '2.0'}" unique-identifier="uid">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
<dc:identifier id="uid">urn:test:1</dc:identifier><dc:title>{title}</dc:title>
<dc:creator>A. Writer</dc:creator><dc:creator>B. Writer</dc:creator><dc:language>{lang}</dc:language>
{opf_extra_meta}
</metadata>
<manifest>
{nav_item}<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
{items}{manifest_extra}</manifest>
<spine toc="ncx">
{spine}</spine>
</package>
"""
    links = "".join(f'<li><a href="{href}">{label}</a></li>' for href, label in toc)
    nav_doc = xhtml(f'<nav epub:type="toc"><ol>{links}</ol></nav>', "Contents", lang)
    points = "".join(
        f'<navPoint id="p{i}" playOrder="{i}"><navLabel><text>{label}</text></navLabel><content src="{href}"/></navPoint>'
        for i, (href, label) in enumerate(toc, 1))
    ncx = f"""<?xml version="1.0" encoding="utf-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><head/><docTitle><text>{title}</text></docTitle>
<navMap>{points}</navMap></ncx>"""
    files = {"META-INF/container.xml": CONTAINER.encode(), "OPS/content.opf": opf.encode(), "OPS/toc.ncx": ncx.encode()}
    if nav:
        files["OPS/nav.xhtml"] = nav_doc.encode()
    files.update({f"OPS/{n}": body.encode() for n, body in docs})
    files.update(extra or {})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip")
        for name, data in files.items():
            zf.writestr(name, data, zipfile.ZIP_DEFLATED)
    return path
