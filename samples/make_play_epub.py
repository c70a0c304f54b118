"""Write samples/the-lamplighters.epub: a short original one-act play for the cast feature.

Two scenes in EPUB drama markup as Standard Ebooks writes it: speeches are table rows
with a `z3998:persona` cell, stage directions are rows without one, one speech is verse.
Three speakers: Margit, Tobias and the Mayor. Deterministic bytes (fixed timestamps).

    python samples/make_play_epub.py [output.epub]
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "the-lamplighters.epub"
STAMP = (2024, 1, 1, 0, 0, 0)
TITLE = "The Lamplighters"

HEAD = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="en-GB" lang="en-GB">
<head><title>{title}</title></head>
<body epub:type="bodymatter z3998:drama">
{body}
</body>
</html>
"""

SCENES = [
    ("Scene I: The Square at Dusk", [
        ("", "The town square. A single lamp post, unlit. Enter Margit with a ladder, and Tobias behind her."),
        ("Margit", "Hold it steady. The ladder leans the way the wind leans, and tonight the wind leans east."),
        ("Tobias", "I am holding it. I have been holding it since the bakery. My arms have forgotten they belong to me."),
        ("Margit", "Arms remember. Lamps do not. Every evening they forget they were ever lit, and every evening "
                   "somebody climbs up and reminds them."),
        ("Tobias", "Why us? The Mayor says the new gas pipes will light themselves by spring."),
        ("Margit", "The Mayor says many things in spring. Pass me the taper."),
        ("", "She climbs. The lamp catches with a soft blue cough, then settles into gold."),
        ("Tobias", "There. It looks pleased with itself."),
        ("Margit", ["So would you, if you woke each night", "to find the whole town waiting for your light."]),
    ]),
    ("Scene II: The Mayor’s Visit", [
        ("", "Later. The square is lit. Enter the Mayor, in a coat too warm for the season."),
        ("Mayor", "Margit! Good evening. I have news that will make your knees very happy."),
        ("Margit", "My knees are happy on the ladder. It is the ground that troubles them."),
        ("Mayor", "From next month the pipes will carry the light. No ladders, no tapers, no climbing in the rain."),
        ("Tobias", "And no one to stand under the lamp and say good evening to whoever passes."),
        ("Mayor", "People can say good evening to each other. That is what evenings are for."),
        ("Margit", "Then they will need somewhere bright to stand while they say it. Tobias, the ladder."),
        ("", "Tobias lifts the ladder. They walk off together towards the next dark post. The Mayor watches them go."),
    ]),
]


def _row(speaker: str, speech: str | list[str]) -> str:
    if not speaker:
        return f'<tr><td/><td><i epub:type="z3998:stage-direction">{speech}</i></td></tr>'
    if isinstance(speech, list):
        lines = "<br/>".join(f"<span>{line}</span>" for line in speech)
        return f'<tr><td epub:type="z3998:persona">{speaker}</td><td epub:type="z3998:verse"><p>{lines}</p></td></tr>'
    return f'<tr><td epub:type="z3998:persona">{speaker}</td><td>{speech}</td></tr>'


def scene_doc(n: int) -> str:
    title, rows = SCENES[n]
    table = "\n".join(_row(s, t) for s, t in rows)
    body = f'<section id="scene-{n + 1}" epub:type="z3998:scene"><h2>{title}</h2>\n<table>\n{table}\n</table></section>'
    return HEAD.format(title=title, body=body)


def files() -> list[tuple[str, bytes]]:
    names = [f"scene-{i + 1}.xhtml" for i in range(len(SCENES))]
    items = "\n".join(f'<item id="s{i}" href="{n}" media-type="application/xhtml+xml"/>' for i, n in enumerate(names))
    spine = "\n".join(f'<itemref idref="s{i}"/>' for i in range(len(names)))
    opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:identifier id="uid">urn:uuid:1a3p-11gh-0000-0000-000000000002</dc:identifier>
<dc:title>{TITLE}</dc:title><dc:creator>Wren Adair</dc:creator><dc:language>en-GB</dc:language>
<meta property="dcterms:modified">2024-01-01T00:00:00Z</meta>
</metadata>
<manifest>
<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
{items}
</manifest>
<spine>
{spine}
</spine>
</package>
"""
    links = "".join(f'<li><a href="{n}">{SCENES[i][0]}</a></li>' for i, n in enumerate(names))
    nav = HEAD.replace(' epub:type="bodymatter z3998:drama"', "").format(
        title="Contents", body=f'<nav epub:type="toc"><ol>{links}</ol></nav>')
    container = """<?xml version="1.0" encoding="utf-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>
"""
    out = [("META-INF/container.xml", container), ("OEBPS/content.opf", opf), ("OEBPS/nav.xhtml", nav)]
    out += [(f"OEBPS/{n}", scene_doc(i)) for i, n in enumerate(names)]
    return [(name, text.encode("utf-8")) for name, text in out]


def write_epub(path: Path) -> None:
    """mimetype first and STORED, everything else DEFLATED, fixed timestamps."""
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w") as zf:
        info = zipfile.ZipInfo("mimetype", STAMP)
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
