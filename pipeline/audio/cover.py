"""Cover art every player can show: JPEG/PNG as is, an SVG's embedded raster, or a
generated title card (no cairo here, so SVG vector art cannot be rasterised)."""

from __future__ import annotations

import base64
import io
import re
import textwrap

from pipeline.models import Cover

SIZE = 1400
_DATA_URI = re.compile(rb"data:image/(png|jpe?g);base64,([A-Za-z0-9+/=\s]+)")


def _sniff(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return None


def raster_from_svg(svg: bytes) -> Cover | None:
    """The first base64 PNG/JPEG embedded in an SVG <image>, if any."""
    for match in _DATA_URI.finditer(svg):
        try:
            data = base64.b64decode(re.sub(rb"\s+", b"", match.group(2)), validate=True)
        except ValueError:
            continue
        kind = _sniff(data)
        if kind:
            return Cover(data, kind)
    return None


def generated_cover(title: str, authors: tuple[str, ...]) -> Cover:
    """A plain 1400x1400 PNG title card; same inputs, same bytes."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (SIZE, SIZE), (32, 46, 66))
    draw = ImageDraw.Draw(img)
    draw.rectangle((60, 60, SIZE - 60, SIZE - 60), outline=(214, 190, 140), width=6)
    y = 300
    for text, size, colour in ((title, 110, (245, 240, 228)), (", ".join(authors), 64, (214, 190, 140))):
        font = ImageFont.load_default(size=size)
        for line in textwrap.wrap(text, width=max(8, 2000 // size))[:5] or [""]:
            width = draw.textlength(line, font=font)
            draw.text(((SIZE - width) / 2, y), line, font=font, fill=colour)
            y += int(size * 1.25)
        y += 120
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return Cover(buf.getvalue(), "image/png")


def usable_cover(cover: Cover | None, title: str, authors: tuple[str, ...]) -> Cover:
    """A JPEG/PNG cover for tagging: the book's own when possible, else a title card."""
    if cover is not None:
        kind = _sniff(cover.data)
        if kind:
            return Cover(cover.data, kind)
        if b"<svg" in cover.data[:4096] or cover.media_type == "image/svg+xml":
            embedded = raster_from_svg(cover.data)
            if embedded is not None:
                return embedded
    return generated_cover(title, authors)


def cover_extension(cover: Cover) -> str:
    return "jpg" if cover.media_type == "image/jpeg" else "png"
