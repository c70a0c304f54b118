from __future__ import annotations

import base64
import io
import random

import pytest
from PIL import Image

from pipeline.audio.cover import (
    MAX_COVER_PIXELS,
    SIZE,
    cover_problem,
    generated_cover,
    raster_from_svg,
    usable_cover,
)
from pipeline.models import Cover

PNG = generated_cover("Tiny", ("A. Author",)).data


def encode(image: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A real picture (not flat), so that resampling and encoding have work to do."""
    image = Image.linear_gradient("L").resize((width, height))
    return Image.merge("RGB", (image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image)).convert(mode)


def decoded(cover: Cover) -> Image.Image:
    image = Image.open(io.BytesIO(cover.data))
    image.load()
    return image


def test_generated_cover_is_deterministic_png() -> None:
    a = generated_cover("A Christmas Carol", ("Charles Dickens",))
    b = generated_cover("A Christmas Carol", ("Charles Dickens",))
    assert a.media_type == "image/png" and a.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert a.data == b.data
    assert generated_cover("Other", ()).data != a.data


def test_small_jpeg_and_png_kept_byte_for_byte() -> None:
    jpeg = encode(gradient(600, 800), "JPEG", quality=80)
    assert usable_cover(Cover(jpeg, "image/jpeg"), "T", ()).data == jpeg
    kept = usable_cover(Cover(PNG, "application/octet-stream"), "T", ())
    assert kept.media_type == "image/png" and kept.data == PNG
    assert cover_problem(Cover(jpeg, "image/jpeg", "OPS/c.jpg")) is None


@pytest.mark.parametrize("mode,fmt", [("RGB", "PNG"), ("RGBA", "PNG"), ("CMYK", "JPEG"), ("P", "GIF"), ("L", "BMP")])
def test_large_or_other_format_is_fitted_as_jpeg_deterministically(mode: str, fmt: str) -> None:
    data = encode(gradient(3000, 2000, mode), fmt)
    first = usable_cover(Cover(data, f"image/{fmt.lower()}", "OPS/big"), "T", ())
    again = usable_cover(Cover(data, f"image/{fmt.lower()}", "OPS/big"), "T", ())
    assert first.media_type == "image/jpeg" and first.data[:3] == b"\xff\xd8\xff"
    assert first.data == again.data
    image = decoded(first)
    assert image.size == (SIZE, 933) and image.mode == "RGB"


def test_small_format_not_jpeg_or_png_is_reencoded_at_its_size() -> None:
    data = encode(gradient(300, 200), "BMP")
    out = usable_cover(Cover(data, "image/bmp"), "T", ())
    assert out.media_type == "image/jpeg" and decoded(out).size == (300, 200)


def test_heavy_png_within_size_is_reencoded() -> None:
    rng = random.Random(7)
    noise = Image.frombytes("RGB", (1200, 1200), bytes(rng.getrandbits(8) for _ in range(1200 * 1200 * 3)))
    data = encode(noise, "PNG")
    assert len(data) > 2 * 1024 * 1024
    out = usable_cover(Cover(data, "image/png"), "T", ())
    assert out.media_type == "image/jpeg" and decoded(out).size == (1200, 1200) and len(out.data) < len(data)


def test_unreadable_and_truncated_images_give_the_title_card_and_a_warning() -> None:
    card = generated_cover("Title", ("Me",))
    truncated = encode(gradient(800, 800), "JPEG")[:2000]
    for data in (b"\xff\xd8\xff\xe0" + b"\x00" * 100, truncated, b"GIF89a garbage", b""):
        cover = Cover(data, "image/jpeg", "OEBPS/cover.jpg")
        assert usable_cover(cover, "Title", ("Me",)).data == card.data
        assert cover_problem(cover) == (
            "the EPUB's cover (OEBPS/cover.jpg) is not a readable image; a generated title card will be used")


@pytest.mark.parametrize("width,height", [(8000, 7000), (12000, 10000)])
def test_decompression_bomb_is_not_decoded(width: int, height: int) -> None:
    bomb = encode(Image.new("1", (width, height)), "PNG")  # a few KB that decode to 56-120 megapixels
    assert len(bomb) < 200_000 and width * height > MAX_COVER_PIXELS
    cover = Cover(bomb, "image/png", "OPS/bomb.png")
    assert usable_cover(cover, "Title", ()).data == generated_cover("Title", ()).data
    problem = cover_problem(cover)
    assert problem is not None and "OPS/bomb.png" in problem and "50-megapixel cap" in problem


def test_svg_with_embedded_raster_and_without() -> None:
    b64 = base64.b64encode(PNG).decode()
    svg = f'<svg xmlns="http://www.w3.org/2000/svg"><image href="data:image/png;base64,{b64}"/></svg>'.encode()
    assert raster_from_svg(svg) == Cover(PNG, "image/png")
    assert usable_cover(Cover(svg, "image/svg+xml"), "T", ()).data == PNG
    vector = Cover(b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', "image/svg+xml")
    out = usable_cover(vector, "Title", ("Me",))
    assert out.media_type == "image/png" and out.data == generated_cover("Title", ("Me",)).data
    assert usable_cover(None, "Title", ("Me",)).data == out.data
    assert cover_problem(vector) is None and cover_problem(None) is None
