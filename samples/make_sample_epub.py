"""Write samples/the-salt-road.epub: a short original story exercising the EPUB reader.

Three chapters (one title with punctuation), curly-quoted dialogue, a scene break, a
note reference to an endnote, a French passage marked xml:lang="fr", a sung verse,
a nav document (TOC + landmarks) and an NCX, a titlepage and a colophon marked as
front/back matter, and a generated 600x600 PNG cover. Deterministic: fixed zip
timestamps and order, so running it twice gives identical bytes.

    python samples/make_sample_epub.py [output.epub]
"""

from __future__ import annotations

import struct
import sys
import zipfile
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent / "the-salt-road.epub"
STAMP = (2024, 1, 1, 0, 0, 0)
TITLE = "The Salt Road"
AUTHOR = "Wren Adair"
CH2_TITLE = "Chapter 2: The Ferryman’s Toll — Paid in Salt?"

XHTML_HEAD = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="en-GB" lang="en-GB">
<head><title>{title}</title></head>
<body epub:type="{body_type}">
"""
XHTML_TAIL = "</body>\n</html>\n"


def page(title: str, body_type: str, inner: str) -> str:
    return XHTML_HEAD.format(title=title, body_type=body_type) + inner + XHTML_TAIL


TITLEPAGE = page("Titlepage", "frontmatter", f"""<section id="titlepage" epub:type="titlepage">
<h1 epub:type="title">{TITLE}</h1>
<p>By {AUTHOR}.</p>
</section>
""")

CHAPTER_1 = page("The Well at Marrow Cross", "bodymatter", """<section id="chapter-1" epub:type="chapter">
<h2>Chapter 1: The Well at Marrow Cross</h2>
<p>Ines Calloway left the village of Marrow Cross before the roosters had agreed that it was morning. She carried a sack of grey salt on her back, her grandmother’s brass scale in one hand, and in the other a letter she had not yet dared to open.</p>
<p>“You’ll be at the river by noon if the road is kind,” said old Tobiah at the well, hauling up a bucket that smelled of iron. “It never is.”</p>
<p>“Then I’ll be there by one,” Ines answered, and he laughed the way people laugh at weather.</p>
<p>The road ran east between drystone walls. Larks rose out of the barley and dropped back again, as if the sky had turned them away at the door.</p>
<hr/>
<p>By midmorning the walls gave out and the land flattened into marsh. Here the old salt pans<a href="endnotes.xhtml#note-1" id="noteref-1" epub:type="noteref">1</a> glittered like broken mirrors, and the wind tasted of the sea long before the sea could be seen.</p>
<p>Ines counted her steps to keep from counting her worries. At four thousand she stopped counting both, because the river was in front of her, wide and brown and in no hurry at all.</p>
</section>
""")

CHAPTER_2 = page("The Ferryman’s Toll", "bodymatter", f"""<section id="chapter-2" epub:type="chapter">
<h2>{CH2_TITLE}</h2>
<p>The ferryman was a long, patient man named Aurèle, who sat on an upturned crate and mended a net that had no holes in it. He looked at her sack before he looked at her face.</p>
<p xml:lang="fr" lang="fr">« Le sel d’abord, la traversée ensuite. Personne ne passe la rivière les mains vides. »</p>
<p>“I have coins,” Ines said, though she had only three, and one of them was bent.</p>
<p>“Coins sink,” said Aurèle, switching to her language as easily as stepping from one stone to the next. “Salt melts. The river prefers what melts. One scoop, weighed on your own scale, and I will take you over.”</p>
<p>She weighed it twice, to be fair to both of them. He poled them out into the current, and as the far bank came closer he sang, not loudly, to nobody in particular:</p>
<blockquote epub:type="z3998:song">
<p><span>Salt for the river and salt for the sea,</span><br/>
<span>Salt for the ferryman, none left for me;</span><br/>
<span>Row to the morning and row to the night,</span><br/>
<span>The water keeps nothing it cannot bite.</span></p>
</blockquote>
<p>“Is that true?” Ines asked. “That it keeps nothing?”</p>
<p>“It keeps the toll,” Aurèle said, and smiled for the first time.</p>
</section>
""")

CHAPTER_3 = page("What the Tide Keeps", "bodymatter", """<section id="chapter-3" epub:type="chapter">
<h2>Chapter 3: What the Tide Keeps</h2>
<p>On the far bank Ines sat down in the reeds and finally broke the seal on the letter. It was in her grandmother’s small, slanted hand, the hand that had labelled every jar in their kitchen.</p>
<p>“If you are reading this,” it began, “you have paid the ferryman, and you did not argue with him, which is more than I managed at your age. Sell the salt in Harrowgate. Keep the scale. And when you come home, come home by the long road, because the short one only teaches you where you have already been.”</p>
<p>Ines folded the letter into four and put it inside her coat, next to the scale. The tide was turning somewhere out past the marsh; she could hear it, a long breath drawn in.</p>
<p>She walked on towards Harrowgate with a lighter sack and a heavier heart, and found, by evening, that the two had begun to balance.</p>
</section>
""")

ENDNOTES = page("Endnotes", "backmatter", """<section id="endnotes" epub:type="endnotes">
<h2>Endnotes</h2>
<ol>
<li id="note-1" epub:type="endnote"><p>Salt pans are shallow pools where sea water is left to evaporate in the sun, leaving a crust of salt to be raked by hand. <a href="chapter-1.xhtml#noteref-1" epub:type="backlink">↩</a></p></li>
</ol>
</section>
""")

COLOPHON = page("Colophon", "backmatter", f"""<section id="colophon" epub:type="colophon">
<h2>Colophon</h2>
<p>{TITLE} was written for the audiobook pipeline’s test suite and is dedicated to the public domain.</p>
</section>
""")

NAV = f"""<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="en-GB" lang="en-GB">
<head><title>Table of Contents</title></head>
<body epub:type="frontmatter">
<nav id="toc" epub:type="toc">
<h2>Table of Contents</h2>
<ol>
<li><a href="titlepage.xhtml">Titlepage</a></li>
<li><a href="chapter-1.xhtml">Chapter 1: The Well at Marrow Cross</a></li>
<li><a href="chapter-2.xhtml">{CH2_TITLE}</a></li>
<li><a href="chapter-3.xhtml">Chapter 3: What the Tide Keeps</a></li>
<li><a href="endnotes.xhtml">Endnotes</a></li>
<li><a href="colophon.xhtml">Colophon</a></li>
</ol>
</nav>
<nav id="landmarks" epub:type="landmarks">
<h2>Landmarks</h2>
<ol>
<li><a href="titlepage.xhtml" epub:type="titlepage">Titlepage</a></li>
<li><a href="chapter-1.xhtml" epub:type="bodymatter">Start of story</a></li>
<li><a href="colophon.xhtml" epub:type="colophon">Colophon</a></li>
</ol>
</nav>
</body>
</html>
"""

NAV_POINTS = [
    ("titlepage.xhtml", "Titlepage"),
    ("chapter-1.xhtml", "Chapter 1: The Well at Marrow Cross"),
    ("chapter-2.xhtml", CH2_TITLE),
    ("chapter-3.xhtml", "Chapter 3: What the Tide Keeps"),
    ("endnotes.xhtml", "Endnotes"),
    ("colophon.xhtml", "Colophon"),
]


def ncx() -> str:
    points = "".join(
        f'<navPoint id="np-{i}" playOrder="{i}"><navLabel><text>{label}</text></navLabel>'
        f'<content src="{href}"/></navPoint>\n'
        for i, (href, label) in enumerate(NAV_POINTS, start=1)
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">
<head><meta name="dtb:uid" content="urn:uuid:5a1t-r0ad-0000-0000-000000000001"/></head>
<docTitle><text>{TITLE}</text></docTitle>
<navMap>
{points}</navMap>
</ncx>
"""


OPF = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid" xml:lang="en-GB">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:identifier id="uid">urn:uuid:5a1t-r0ad-0000-0000-000000000001</dc:identifier>
<dc:title>{TITLE}</dc:title>
<dc:creator id="author">{AUTHOR}</dc:creator>
<dc:language>en-GB</dc:language>
<meta property="dcterms:modified">2024-01-01T00:00:00Z</meta>
<meta name="cover" content="cover-image"/>
</metadata>
<manifest>
<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
<item id="cover-image" href="images/cover.png" media-type="image/png" properties="cover-image"/>
<item id="titlepage" href="titlepage.xhtml" media-type="application/xhtml+xml"/>
<item id="chapter-1" href="chapter-1.xhtml" media-type="application/xhtml+xml"/>
<item id="chapter-2" href="chapter-2.xhtml" media-type="application/xhtml+xml"/>
<item id="chapter-3" href="chapter-3.xhtml" media-type="application/xhtml+xml"/>
<item id="endnotes" href="endnotes.xhtml" media-type="application/xhtml+xml"/>
<item id="colophon" href="colophon.xhtml" media-type="application/xhtml+xml"/>
</manifest>
<spine toc="ncx">
<itemref idref="titlepage"/>
<itemref idref="nav" linear="no"/>
<itemref idref="chapter-1"/>
<itemref idref="chapter-2"/>
<itemref idref="chapter-3"/>
<itemref idref="endnotes"/>
<itemref idref="colophon"/>
</spine>
</package>
"""

CONTAINER = """<?xml version="1.0" encoding="utf-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>
"""


def cover_png(size: int = 600) -> bytes:
    """A two-colour PNG: sand-coloured road over a sea-blue band, written by hand."""
    sand, sea = bytes((222, 196, 150)), bytes((38, 84, 124))
    rows = []
    for y in range(size):
        edge = size // 2 + (y - size // 2) // 3  # a slanting shoreline
        row = b"".join(sand if x < edge or y < size // 3 else sea for x in range(size))
        rows.append(b"\x00" + row)
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def files() -> list[tuple[str, bytes]]:
    text = {
        "META-INF/container.xml": CONTAINER,
        "OEBPS/content.opf": OPF,
        "OEBPS/nav.xhtml": NAV,
        "OEBPS/toc.ncx": ncx(),
        "OEBPS/titlepage.xhtml": TITLEPAGE,
        "OEBPS/chapter-1.xhtml": CHAPTER_1,
        "OEBPS/chapter-2.xhtml": CHAPTER_2,
        "OEBPS/chapter-3.xhtml": CHAPTER_3,
        "OEBPS/endnotes.xhtml": ENDNOTES,
        "OEBPS/colophon.xhtml": COLOPHON,
    }
    out = [(name, body.encode("utf-8")) for name, body in text.items()]
    out.append(("OEBPS/images/cover.png", cover_png()))
    return out


def write_epub(path: Path) -> None:
    """mimetype first and STORED, everything else DEFLATED, fixed timestamps."""
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w") as zf:
        info = zipfile.ZipInfo("mimetype", STAMP)
        info.compress_type = zipfile.ZIP_STORED
        zf.writestr(info, b"application/epub+zip")
        for name, data in files():
            info = zipfile.ZipInfo(name, STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compresslevel=9)
    tmp.replace(path)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    write_epub(target)
    print(f"wrote {target} ({target.stat().st_size} bytes)")
