"""Audio: the ffmpeg wrapper, chapter stitching, loudness, packaging and checks.

Heavy imports (numpy, scipy) load lazily so `pipeline.audio.ffmpeg` stays cheap.
The build calls `assemble_book` and `check_path`.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "assemble_book": "pipeline.audio.package",
    "PackageResult": "pipeline.audio.package",
    "ChapterReport": "pipeline.audio.package",
    "ClipRef": "pipeline.audio.stitch",
    "ChapterInput": "pipeline.audio.stitch",
    "BookInfo": "pipeline.audio.tags",
    "check_path": "pipeline.audio.check",
    "CheckReport": "pipeline.audio.check",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
