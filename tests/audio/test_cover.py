from __future__ import annotations

import base64

from pipeline.audio.cover import generated_cover, raster_from_svg, usable_cover
from pipeline.models import Cover

PNG = generated_cover("Tiny", ("A. Author",)).data


def test_generated_cover_is_deterministic_png() -> None:
    a = generated_cover("A Christmas Carol", ("Charles Dickens",))
    b = generated_cover("A Christmas Carol", ("Charles Dickens",))
    assert a.media_type == "image/png" and a.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert a.data == b.data
    assert generated_cover("Other", ()).data != a.data


def test_jpeg_and_png_kept_as_is() -> None:
    jpeg = Cover(b"\xff\xd8\xff\xe0" + b"\x00" * 100, "image/jpeg")
    assert usable_cover(jpeg, "T", ()).data == jpeg.data
    assert usable_cover(Cover(PNG, "application/octet-stream"), "T", ()).media_type == "image/png"


def test_svg_with_embedded_raster_and_without() -> None:
    b64 = base64.b64encode(PNG).decode()
    svg = f'<svg xmlns="http://www.w3.org/2000/svg"><image href="data:image/png;base64,{b64}"/></svg>'.encode()
    assert raster_from_svg(svg) == Cover(PNG, "image/png")
    assert usable_cover(Cover(svg, "image/svg+xml"), "T", ()).data == PNG
    vector = Cover(b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', "image/svg+xml")
    out = usable_cover(vector, "Title", ("Me",))
    assert out.media_type == "image/png" and out.data == generated_cover("Title", ("Me",)).data
    assert usable_cover(None, "Title", ("Me",)).data == out.data
