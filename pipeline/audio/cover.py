"""Cover art every player can show: the book's own image, fitted to 1400x1400 JPEG when
it is larger, an SVG's embedded raster, or a generated title card.

The cover is embedded in every chapter MP3 and in the M4B, so a 50 MB image would be
copied into each of them: anything larger than 1400x1400 pixels, heavier than 2 MiB,
or not JPEG/PNG is decoded, fitted and re-encoded (same input, same bytes). An image
that cannot be decoded, or whose header claims more than 50 megapixels (a
decompression bomb: decoding it could take gigabytes), is not used at all: the title
card is, and `cover_problem` says why so that `plan` can warn before any work.
No cairo here, so SVG vector art cannot be rasterised (the title card is used).
"""

from __future__ import annotations

import base64
import io
import re
import textwrap
import warnings

from pipeline.models import Cover

SIZE = 1400
MAX_COVER_PIXELS = 50_000_000  # ~7,000 x 7,000; decoding costs 3-4 bytes per pixel
MAX_KEPT_BYTES = 2 * 1024 * 1024  # a JPEG/PNG within SIZE and this size is kept byte for byte
JPEG_QUALITY = 90
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


def _raster(cover: Cover) -> Cover | None:
    """The cover's raster image: itself, or the one embedded in an SVG (None: vector)."""
    if b"<svg" in cover.data[:4096] or cover.media_type == "image/svg+xml":
        embedded = raster_from_svg(cover.data)
        return Cover(embedded.data, embedded.media_type, cover.source) if embedded else None
    return cover


def _fit(cover: Cover) -> tuple[Cover | None, str | None]:
    """(the cover ready to embed, None) or (None, why it cannot be used)."""
    from PIL import Image

    where = f"the EPUB's cover ({cover.source})" if cover.source else "the book's cover"
    unusable = f"{where} is not a readable image; a generated title card will be used"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(cover.data))
            width, height = image.size
            if width * height > MAX_COVER_PIXELS:
                return None, (f"{where} is {width:,}x{height:,} pixels, more than the "
                              f"{MAX_COVER_PIXELS // 1_000_000}-megapixel cap; a generated title card will be used")
            kind = _sniff(cover.data)
            if kind and max(width, height) <= SIZE and len(cover.data) <= MAX_KEPT_BYTES:
                image.load()  # decodes the whole image: a truncated file fails here
                return Cover(cover.data, kind, cover.source), None
            return _reencode(image, cover.source), None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, (f"{where} is larger than the {MAX_COVER_PIXELS // 1_000_000}-megapixel cap "
                      "(a decompression bomb); a generated title card will be used")
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError):
        return None, unusable


def _reencode(image: object, source: str) -> Cover:
    """Fit within SIZE x SIZE and encode as baseline JPEG (deterministic for equal input)."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    image.draft("RGB", (SIZE, SIZE))  # JPEG: decode at a reduced scale when it can
    image.load()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    image.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    return Cover(buf.getvalue(), "image/jpeg", source)


def cover_problem(cover: Cover | None) -> str | None:
    """Why the book's cover will not be used (for a plan warning); None when it will be,
    or when there is none or it is SVG vector art (the title card is then expected)."""
    if cover is None:
        return None
    raster = _raster(cover)
    return _fit(raster)[1] if raster is not None else None


def usable_cover(cover: Cover | None, title: str, authors: tuple[str, ...]) -> Cover:
    """A JPEG/PNG cover for tagging: the book's own (fitted) when possible, else a title card."""
    raster = _raster(cover) if cover is not None else None
    fitted = _fit(raster)[0] if raster is not None else None
    return fitted if fitted is not None else generated_cover(title, authors)


def cover_extension(cover: Cover) -> str:
    return "jpg" if cover.media_type == "image/jpeg" else "png"
