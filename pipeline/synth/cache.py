"""Content-addressed clip cache: `<root>/<key[:2]>/<key>.<ext>`.

A clip path that exists is complete: bytes are written with `fsio.write_atomic` (a
`.part` file, fsynced, renamed) and the directory is fsynced (the yt-dlp `.part` habit),
so a crash never leaves a half clip under a final name.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pipeline.fsio import fsync_dir, write_atomic

QUARANTINE = "quarantine"

AUDIO_EXTS: tuple[str, ...] = ("mp3", "wav", "m4a", "ogg", "flac")


def sniff_ext(data: bytes) -> str:
    """Audio container from the bytes (never from the URL)."""
    head = data[:16]
    if head.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if data[4:8] == b"ftyp":
        return "m4a"
    return "mp3"  # ID3 or a bare MPEG frame sync; the backend already verified it is audio


class ClipCache:
    """Clips keyed by Job.key; one file per key whatever its format."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, key: str) -> Path:
        return self.root / key[:2]

    def path(self, key: str) -> Path | None:
        """The existing complete clip for this key, if any."""
        folder = self._dir(key)
        for ext in AUDIO_EXTS:
            candidate = folder / f"{key}.{ext}"
            if candidate.is_file() and candidate.stat().st_size > 0:
                return candidate
        return None

    def put(self, key: str, data: bytes, ext: str) -> Path:
        """Store a clip atomically and durably; returns its final path."""
        if not data:
            raise ValueError("refusing to cache an empty clip")
        ext = ext.lstrip(".").lower()
        folder = self._dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{key}.{ext}"
        write_atomic(final, data)  # a full disk leaves no half clip behind
        fsync_dir(folder)
        for other in AUDIO_EXTS:  # a re-synthesized clip in another format replaces the old one
            stale = folder / f"{key}.{other}"
            if other != ext and stale.exists():
                stale.unlink()
        return final

    def verify(self, path: Path) -> str | None:
        """Why the clip at `path` is not whole audio (structure only, no decoding), or None."""
        from pipeline.audio.ffmpeg import check_complete  # audio stage, loaded late
        from pipeline.errors import BadAudioError

        try:
            check_complete(path.read_bytes())
        except BadAudioError as exc:
            return exc.message
        except OSError as exc:
            return exc.strerror or type(exc).__name__
        return None

    def quarantine(self, path: Path) -> Path:
        """Move a damaged clip aside (kept for inspection, never used again); returns where."""
        folder = self.root / QUARANTINE
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}"
        os.replace(path, target)
        return target
