"""Real-browser helpers for the proof page: Debian's Chromium driven by Playwright, and test audio.

Nothing is downloaded at run time: the browser is /usr/bin/chromium from apt (never
`playwright install`), the audio is a tone that ffmpeg (imageio-ffmpeg) makes into tmp.

    python -m tests.audio.proof_browser      # remakes docs/proof-page.png (1280x900)
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline.audio.proof import ProofBook, ProofChapter, ProofSegment, write_proof
from pipeline.models import Cover

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_ENV = "AUDIOBOOK_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
RATE = 44100
TIMEOUT_MS = 30_000  # generous: CI machines are small and busy
REPO = Path(__file__).resolve().parents[2]


def require_browser() -> None:
    """Skip when Chromium or Playwright is missing, or fail when CI says a browser must be there."""
    missing = None
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing = f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[test]')"
    if missing is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{missing}, and {REQUIRE_ENV}=1 requires the browser tests to run")
    pytest.skip(missing)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium with a fresh temporary profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=120_000)
        try:
            yield browser
        finally:
            browser.close()


def tone_mp3(path: Path, seconds: float, freq: float) -> Path:
    """A quiet mono sine tone, 44.1 kHz, as MP3 (ffmpeg from imageio-ffmpeg)."""
    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={RATE}:duration={seconds}",
        "-af", "volume=0.25", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k", str(path),
    ]
    subprocess.run(cmd, check=True, timeout=120)
    return path


def at_sample(seconds: float) -> float:
    """A time that is a whole number of samples, as the build computes them."""
    return round(seconds * RATE) / RATE


def timed_segments(chapter: int, lines: list[tuple[str | None, str]], duration: float,
                   gap: float = 0.25) -> tuple[ProofSegment, ...]:
    """Segments laid over `duration` in proportion to their length, with a pause between them."""
    total = sum(len(text) for _, text in lines)
    speech = duration - gap * (len(lines) + 1)
    out, t = [], gap
    for i, (speaker, text) in enumerate(lines):
        length = speech * len(text) / total
        out.append(ProofSegment(chapter, i, text, at_sample(t), at_sample(t + length), speaker))
        t += length + gap
    return tuple(out)


DEMO_CHAPTERS: list[tuple[str, list[tuple[str | None, str]]]] = [
    ("Chapter One: The Tide Clock", [
        (None, "The tide clock in Wrenhaven harbour had run eleven minutes slow for as long as anyone could remember."),
        (None, "Nobody minded. The boats went out by the gulls, not by the clock, and the gulls were never late."),
        ("Odile", "“It keeps its own time,” said Odile, wiping the brass face with her sleeve."),
        (None, "Her brother Tam said nothing. He was counting the steps down to the water, as he did every morning."),
        (None, "Forty-one, the same as yesterday, though the sea had climbed two of them overnight."),
    ]),
    ("Chapter Two: Salt on the Glass", [
        (None, "By noon the fog had lifted off the breakwater and the ferry horn sounded twice."),
        (None, "Odile climbed the tower with a tin of oil and a screwdriver borrowed from the net shed."),
        ("Odile", "“If I fix it,” she called down, “will you stop counting the steps?”"),
        ("Tam", "“If you fix it,” said Tam, “I will count the minutes instead.”"),
        (None, "Below them the harbour filled with light, and somewhere inside the clock a small wheel turned."),
    ]),
]


def demo_cover() -> Cover:
    """A small original PNG cover drawn with Pillow."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (480, 480), (22, 52, 84))
    draw = ImageDraw.Draw(img)
    for i in range(8):  # waves
        y = 300 + i * 22
        draw.arc((-40, y - 30, 520, y + 30), 200, 340, fill=(90 + i * 15, 150 + i * 10, 190), width=4)
    draw.ellipse((170, 70, 310, 210), outline=(236, 200, 120), width=10)  # the clock face
    draw.line((240, 140, 240, 92), fill=(236, 200, 120), width=8)
    draw.line((240, 140, 278, 160), fill=(236, 200, 120), width=8)
    font = ImageFont.load_default(size=44)
    draw.text((240, 250), "The Tide Clock", fill=(250, 246, 236), font=font, anchor="mm")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return Cover(buf.getvalue(), "image/png", "demo")


def demo_site(out: Path) -> Path:
    """The demo book's chapter MP3s and proof.html in `out`; returns the page."""
    chapters = []
    for n, (title, lines) in enumerate(DEMO_CHAPTERS, start=1):
        audio = f"{n:02d} - {title.replace(':', ' -')}.mp3"
        tone_mp3(out / audio, 12.0, 330.0 + 110 * n)
        chapters.append(ProofChapter(n, title, audio, 12.0, timed_segments(n, lines, 12.0)))
    book = ProofBook("The Tide Clock", ("M. Example",), tuple(chapters))
    return write_proof(out, book, demo_cover())


def wait_ready(page: Page) -> None:
    """The page's script has wired everything up (it sets body[data-ready])."""
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=TIMEOUT_MS)


def make_screenshot(dest: Path) -> Path:
    """docs/proof-page.png: a highlighted segment and a flagged one, at 1280x900."""
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        page_path = demo_site(Path(tmp))
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(page_path.as_uri())
        wait_ready(page)
        page.check("#seg-1-3 .flag-toggle")
        page.fill("#seg-1-3 .flag-note", "“Tam”, not “Tom”")
        page.click("#seg-1-1 .seg-text")
        page.wait_for_function("() => !document.getElementById('audio-1').paused", timeout=TIMEOUT_MS)
        page.evaluate("""() => {
            const a = document.getElementById('audio-1'), s = document.getElementById('seg-1-1').dataset;
            a.pause();
            a.currentTime = (Number(s.start) + Number(s.end)) / 2;
        }""")
        page.wait_for_function(
            "() => document.getElementById('seg-1-1').classList.contains('current')"
            " && !document.getElementById('audio-1').seeking", timeout=TIMEOUT_MS)
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.mouse.move(1270, 890)  # no hover tint on the text
        dest.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(dest))
        context.close()
    return dest


if __name__ == "__main__":
    print(make_screenshot(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "proof-page.png"))
