"""The proof page: proof.html, on which a producer proof-listens to a build and flags retakes.

One static, self-contained document beside the chapter audio, opened from the file system
(file://): no server, no network, every style and script inline. Segments are rendered
here as escaped HTML; the script gets the same book as a JSON block and only wires up
behaviour (click to play from a segment, highlight what is heard, search, flags kept in
localStorage, export of a retake file that `pipeline.retakes.parse_retake_text` reads).

Book text is hostile input: it is html.escape'd in markup, `<` is escaped inside the
JSON block (so no `</script>` or `<!--` can end or confuse it), and a Content-Security-Policy
allows only this module's own script and style (by hash), data: images and local media.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pipeline.audio.proof_assets import CSS, JS
from pipeline.fsio import write_atomic
from pipeline.models import Cover

PROOF_NAME = "proof.html"


@dataclass(frozen=True)
class ProofSegment:
    """One planned segment as it sits in its chapter's audio file."""

    chapter: int  # chapter index (as in the plan): the CHAPTER of a retake line
    index: int  # segment index within the chapter, 0-based as `audiobook plan --segments` numbers them
    text: str  # the text that was read
    start_s: float  # where it starts in the chapter's audio file, seconds (exact, from sample counts)
    end_s: float
    speaker: str | None = None  # cast member; None for narration


@dataclass(frozen=True)
class ProofChapter:
    """A chapter's audio file and the segments heard in it, in order."""

    index: int
    title: str
    audio: str  # the chapter's audio file name, relative to proof.html (e.g. "01 - Chapter One.mp3")
    duration_s: float
    segments: tuple[ProofSegment, ...]


@dataclass(frozen=True)
class ProofBook:
    """What the proof page shows: the book's title, authors and chapters."""

    title: str
    authors: tuple[str, ...]
    chapters: tuple[ProofChapter, ...]


def write_proof(out_dir: Path, book: ProofBook, cover: Cover | None) -> Path:
    """Write out_dir/proof.html atomically (a reader never sees half a page); return its path."""
    out = out_dir / PROOF_NAME
    write_atomic(out, render_proof(book, cover).encode("utf-8"))
    return out


def render_proof(book: ProofBook, cover: Cover | None) -> str:
    """The whole HTML document for `book` (raises ValueError on duplicate or foreign ids)."""
    _check(book)
    title = html.escape(book.title)
    body = "\n".join([
        _header_html(book, cover),
        _TOOLBAR,
        "<main>",
        *(_chapter_html(ch) for ch in book.chapters),
        "</main>",
        _EXPORT_DIALOG,
        f'<script type="application/json" id="proof-data">{_data_json(book)}</script>',
        f"<script>{JS}</script>",
    ])
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>Proof: {title}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def format_time(seconds: float) -> str:
    """m:ss.s, rounded once to tenths so 59.96 s reads 1:00.0, never 0:60.0."""
    tenths = max(0, round(seconds * 10))
    minutes, rest = divmod(tenths, 600)
    return f"{minutes}:{rest // 10:02d}.{rest % 10}"


def audio_src(name: str) -> str:
    """A relative URL for a chapter file: spaces, quotes, &, #, % and non-ASCII percent-encoded.

    ':' is encoded too, so no file name can read as a scheme (javascript:, http:).
    """
    return quote(name, safe="/")


def _check(book: ProofBook) -> None:
    """Element ids and retake ids must be unique: refuse a book that would alias them. A
    chapter cut into parts has one ProofChapter (one file) per part; its segments keep
    the plan's chapter number, which is what a retake names."""
    chapters: set[int] = set()
    seen: set[tuple[int, int]] = set()
    for ch in book.chapters:
        if ch.index in chapters:
            raise ValueError(f"proof page: chapter {ch.index} appears twice")
        chapters.add(ch.index)
        for seg in ch.segments:
            if (seg.chapter, seg.index) in seen:
                raise ValueError(f"proof page: segment {seg.chapter}:{seg.index} repeated")
            seen.add((seg.chapter, seg.index))


def _csp() -> str:
    """Only our own inline script and style run; images are data:, media are local files."""
    return "; ".join([
        "default-src 'none'",
        f"script-src '{_sha256(JS)}'",
        f"style-src '{_sha256(CSS)}'",
        "img-src data:",
        "media-src 'self' file:",
        "base-uri 'none'",
        "form-action 'none'",
    ])


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _header_html(book: ProofBook, cover: Cover | None) -> str:
    authors = ", ".join(book.authors)
    return (
        '<header class="book">\n'
        f"{_cover_html(book, cover)}"
        "<div>\n"
        '<p class="kind">Proof listen</p>\n'
        f'<h1 id="book-title">{html.escape(book.title)}</h1>\n'
        f'<p class="authors" id="book-authors">{html.escape(authors)}</p>\n'
        '<p class="hint">Click a segment to play from it. Flag the ones to read again, then export the retakes.</p>\n'
        "</div>\n</header>"
    )


def _cover_html(book: ProofBook, cover: Cover | None) -> str:
    """The cover as a data: URI; anything that is not an image type is left out."""
    if cover is None or not cover.data or not cover.media_type.startswith("image/"):
        return ""
    uri = f"data:{cover.media_type};base64,{base64.b64encode(cover.data).decode('ascii')}"
    alt = html.escape(f"Cover of {book.title}")
    return f'<img id="cover" class="cover" src="{html.escape(uri)}" alt="{alt}">\n'


def _chapter_html(ch: ProofChapter) -> str:
    segments = "\n".join(_segment_html(ch.index, seg) for seg in ch.segments)
    return (
        f'<section class="chapter" id="chapter-{ch.index}" data-chapter="{ch.index}">\n'
        '<div class="chapter-head">\n'
        f'<h2>{html.escape(ch.title)}<span class="duration">{format_time(ch.duration_s)}</span></h2>\n'
        f'<audio id="audio-{ch.index}" class="chapter-audio" data-chapter="{ch.index}" controls preload="metadata" '
        f'src="{html.escape(audio_src(ch.audio))}"></audio>\n'
        "</div>\n"
        f'<ol class="segments">\n{segments}\n</ol>\n'
        "</section>"
    )


def _segment_html(chapter: int, seg: ProofSegment) -> str:
    sid = f"{seg.chapter}:{seg.index}"
    speaker = f'<span class="seg-speaker">{html.escape(seg.speaker)}</span>' if seg.speaker else ""
    return (
        f'<li class="segment" id="seg-{chapter}-{seg.index}" data-chapter="{seg.chapter}" '
        f'data-segment="{seg.index}" data-start="{seg.start_s!r}" data-end="{seg.end_s!r}">\n'
        f'<div class="seg-main" role="button" tabindex="0" title="Play from {format_time(seg.start_s)}">'
        f'<span class="seg-meta"><span class="seg-time">{format_time(seg.start_s)}</span>'
        f'<span class="seg-id">{sid}</span>{speaker}</span>'
        f'<span class="seg-text">{html.escape(seg.text)}</span></div>\n'
        f'<label class="seg-flag"><input type="checkbox" class="flag-toggle" autocomplete="off" '
        f'aria-label="Flag {sid} for a retake"> Flag</label>\n'
        '<div class="flag-fields" hidden>'
        '<input type="text" class="flag-note" autocomplete="off" placeholder="Note (optional)" aria-label="Note">'
        '<textarea class="flag-text" rows="1" autocomplete="off" aria-label="Replacement text" '
        'placeholder="Replacement text (optional: empty reads the same text again)"></textarea></div>\n'
        "</li>"
    )


def _data_json(book: ProofBook) -> str:
    """The book for the script; every `<`, `>` and `&` is a JSON escape, so the block cannot be closed early."""
    data = {
        "title": book.title,
        "chapters": [
            {
                "index": ch.index,
                "audio": ch.audio,
                "duration": _finite(ch.duration_s),
                "segments": [
                    {"chapter": s.chapter, "index": s.index, "start": _finite(s.start_s), "end": _finite(s.end_s),
                     "text": s.text, "speaker": s.speaker}
                    for s in ch.segments
                ],
            }
            for ch in book.chapters
        ],
    }
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError(f"proof page: a time must be finite, got {x}")
    return float(x)


_TOOLBAR = """<div class="toolbar" id="toolbar">
<input type="search" id="search" placeholder="Search the text…" autocomplete="off" aria-label="Search segments">
<span class="count" id="search-count"></span>
<span class="spacer"></span>
<label><input type="checkbox" id="follow" checked> Follow playback</label>
<span class="count" id="flag-count">0 flagged</span>
<button type="button" class="primary" id="export">Export retakes</button>
</div>"""

_EXPORT_DIALOG = """<dialog id="export-dialog" aria-labelledby="export-heading">
<h2 id="export-heading">Retakes</h2>
<p id="export-status"></p>
<textarea id="retake-export" readonly spellcheck="false" aria-label="Retake file"></textarea>
<div class="dialog-actions">
<a id="retake-download" download="retakes.txt" hidden>Download retakes.txt</a>
<button type="button" id="export-close">Close</button>
</div>
<p>Then run: <code>audiobook build RECIPE --retake retakes.txt</code></p>
</dialog>"""
