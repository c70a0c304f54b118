"""The proof page (proof.html): rendering, and its behaviour in a real headless Chromium.

Browser tests open the page from file:// beside two real MP3s and wait on conditions in
the page (never fixed sleeps), so a busy machine is slower, not red. Without
/usr/bin/chromium they skip, unless AUDIOBOOK_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline.audio.proof import (
    ProofBook,
    ProofChapter,
    ProofSegment,
    audio_src,
    format_time,
    render_proof,
    write_proof,
)
from pipeline.retakes import parse_retake_text
from tests.audio.proof_browser import (
    TIMEOUT_MS,
    chromium,
    demo_cover,
    require_browser,
    timed_segments,
    tone_mp3,
    wait_ready,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request

TITLE = "Lamps & <Ladders> “Quoted” </script>"
XSS = "<script>alert(1)</script>"
AUDIO_2 = "02 - Mara's “Song” & #2 100%.mp3"
DURATION = 10.0
LINES = [
    ("One: <i>Arrival</i>", "01 - Arrival.mp3", [
        (None, "The lamplighter climbed the first ladder."),
        (None, XSS),
        ("Mara", "“Mind the lantern,” said Mara. </script><script>window.__xss = 1</script>"),
        (None, "Night came down over the roofs like a slow tide."),
    ]),
    ("Two: Morning", AUDIO_2, [
        (None, "Morning found the square empty and the lamps still warm."),
        (None, "A gull walked along the Lantern rail, inspecting each wick."),
        ("Tam", "<!--<script> Tam whistled the old tune. <img src=x onerror=alert(2)>"),
        (None, "Then the bells began, one street at a time, all down the hill."),
    ]),
]
VIEWPORT = {"width": 1280, "height": 900}


def hostile_book() -> ProofBook:
    chapters = tuple(
        ProofChapter(n, title, audio, DURATION, timed_segments(n, lines, DURATION))
        for n, (title, audio, lines) in enumerate(LINES, start=1)
    )
    return ProofBook(TITLE, ("Ann <Author>", "B. & C. Writer"), chapters)


def seg(book: ProofBook, chapter: int, index: int) -> ProofSegment:
    return book.chapters[chapter - 1].segments[index]


# -- render_proof, no browser ---------------------------------------------------------------


def test_render_escapes_book_text_and_encodes_audio_names() -> None:
    book, cover = hostile_book(), demo_cover()
    page = render_proof(book, cover)
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<i>Arrival" not in page
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the JSON block and ours
    assert f"<h1 id=\"book-title\">{'Lamps &amp; &lt;Ladders&gt; “Quoted” &lt;/script&gt;'}</h1>" in page
    assert 'src="02%20-%20Mara%27s%20%E2%80%9CSong%E2%80%9D%20%26%20%232%20100%25.mp3"' in page
    assert audio_src("a:b/c d.mp3") == "a%3Ab/c%20d.mp3"  # no scheme can sneak in
    assert f'src="data:image/png;base64,{base64.b64encode(cover.data).decode()}"' in page
    assert 'id="seg-2-1" data-chapter="2" data-segment="1"' in page


def test_render_json_block_carries_the_book_and_cannot_close_early() -> None:
    book = hostile_book()
    page = render_proof(book, None)
    m = re.search(r'<script type="application/json" id="proof-data">(.*?)</script>', page, re.S)
    assert m is not None
    block = m.group(1)
    assert "<" not in block and ">" not in block
    data = json.loads(block)
    assert data["title"] == TITLE
    assert [c["audio"] for c in data["chapters"]] == ["01 - Arrival.mp3", AUDIO_2]
    got = [(s["chapter"], s["index"], s["text"], s["start"], s["end"], s["speaker"])
           for c in data["chapters"] for s in c["segments"]]
    assert got == [(s.chapter, s.index, s.text, s.start_s, s.end_s, s.speaker)
                   for c in book.chapters for s in c.segments]
    assert "<img" not in page  # no cover given


def test_render_csp_allows_exactly_its_own_script_and_style() -> None:
    page = render_proof(hostile_book(), None)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert script is not None and style is not None
    for body in (script.group(1), style.group(1)):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp.group(1)
    assert "default-src 'none'" in csp.group(1) and "unsafe-inline" not in csp.group(1)


def test_render_refuses_ids_that_would_alias() -> None:
    dup = ProofChapter(1, "x", "x.mp3", 2.0, (ProofSegment(1, 0, "a", 0, 1), ProofSegment(1, 0, "b", 1, 2)))
    with pytest.raises(ValueError, match="1:0"):
        render_proof(ProofBook("t", (), (dup,)), None)
    part_one = ProofChapter(100001, "x (part 1 of 2)", "a.mp3", 2.0, (ProofSegment(1, 0, "a", 0, 1),))
    part_two = ProofChapter(200001, "x (part 2 of 2)", "b.mp3", 2.0, (ProofSegment(1, 0, "b", 0, 1),))
    with pytest.raises(ValueError, match="1:0"):  # a chapter's parts never repeat one of its segments
        render_proof(ProofBook("t", (), (part_one, part_two)), None)


def test_format_time_and_write_proof(tmp_path: Path) -> None:
    assert [format_time(t) for t in (0, 2.549, 59.96, 61.26, 3600)] == ["0:00.0", "0:02.5", "1:00.0", "1:01.3", "60:00.0"]
    book = hostile_book()
    out = write_proof(tmp_path / "out", book, None)
    assert out == tmp_path / "out" / "proof.html"
    assert out.read_bytes() == render_proof(book, None).encode("utf-8")
    assert [p.name for p in out.parent.iterdir()] == ["proof.html"]  # no part file left


# -- the page in Chromium --------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    url: str
    book: ProofBook


class Watch:
    """Everything that went wrong on a page: console errors, uncaught errors, failed or foreign requests, dialogs."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.urls: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("request", lambda req: self.urls.append(req.url))
        page.on("dialog", self._dialog)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.problems.append(f"console: {msg.text}")

    def _failed(self, req: Request) -> None:
        # the media stack cancels its own range reads of the audio file (preload=metadata): not a failure
        if req.resource_type == "media" and req.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"request failed: {req.url} {req.failure}")

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self) -> None:
        assert self.problems == []
        assert self.dialogs == []  # no injected script ran
        assert [u for u in self.urls if not u.startswith(("file://", "data:", "blob:"))] == []


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_browser()
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    out = tmp_path_factory.mktemp("proof")
    book = hostile_book()
    for n, ch in enumerate(book.chapters):
        tone_mp3(out / ch.audio, DURATION, 440.0 + 220 * n)
    return Site(write_proof(out, book, demo_cover()).as_uri(), book)


@pytest.fixture
def session(browser: Browser, site: Site) -> Iterator[tuple[Page, Watch]]:
    """A fresh context (empty localStorage) on the page; CSP bypassed so wait_for_function may evaluate."""
    context = browser.new_context(viewport=VIEWPORT, bypass_csp=True, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watch = Watch(page)
    page.goto(site.url)
    wait_ready(page)
    yield page, watch
    context.close()


def wait_current(page: Page, seg_id: str) -> None:
    """Exactly one segment is highlighted, and it is `seg_id`."""
    page.wait_for_function(
        "id => { const c = document.querySelectorAll('.segment.current'); return c.length === 1 && c[0].id === id; }",
        arg=seg_id, timeout=TIMEOUT_MS)


_METADATA = """() => Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(ok => {
  const done = () => ok({duration: a.duration, error: a.error && a.error.code, src: a.getAttribute('src')});
  if (a.readyState >= 1 || a.error) return done();
  a.addEventListener('loadedmetadata', done, {once: true});
  a.addEventListener('error', done, {once: true});
  setTimeout(done, 30000);
})))"""


@pytest.mark.slow
def test_page_loads_offline_under_its_csp_and_shows_hostile_text_as_text(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport=VIEWPORT)  # the page's own CSP enforced
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watch = Watch(page)
    try:
        page.goto(site.url)
        wait_ready(page)  # our script ran: its hash matches the CSP
        audios = page.evaluate(_METADATA)
        assert [a["error"] for a in audios] == [None, None]
        assert [round(a["duration"], 1) for a in audios] == [DURATION, DURATION]
        assert audios[1]["src"] == audio_src(AUDIO_2)
        assert page.text_content("#book-title") == TITLE
        assert page.text_content("#book-authors") == "Ann <Author>, B. & C. Writer"
        assert page.text_content("#seg-1-1 .seg-text") == XSS
        assert page.text_content("#seg-1-2 .seg-text") == seg(site.book, 1, 2).text
        assert page.text_content("#seg-2-2 .seg-text") == seg(site.book, 2, 2).text
        assert page.text_content("#seg-2-2 .seg-speaker") == "Tam"
        assert page.text_content("#seg-2-1 .seg-time") == format_time(seg(site.book, 2, 1).start_s)
        assert page.text_content("#seg-2-1 .seg-id") == "2:1"
        assert page.evaluate("() => [document.scripts.length, document.images.length, typeof window.__xss]") == [
            2, 1, "undefined"]
        assert page.evaluate("() => document.getElementById('cover').naturalWidth") == 480
        page.click("#seg-1-1 .seg-text")  # the script works under the CSP too
        page.wait_for_selector("#seg-1-1.current", state="attached")
        watch.check()
    finally:
        context.close()


@pytest.mark.slow
def test_click_plays_from_the_segment_and_the_highlight_follows_playback(session: tuple[Page, Watch], site: Site) -> None:
    page, watch = session
    first, target, after, ch2_first = seg(site.book, 1, 0), seg(site.book, 2, 1), seg(site.book, 2, 2), seg(site.book, 2, 0)
    page.click("#seg-1-0 .seg-text")
    page.wait_for_function(  # chapter 1 really plays
        "t => { const a = document.getElementById('audio-1'); return !a.paused && a.currentTime > t; }",
        arg=first.start_s + 0.3)
    page.evaluate("""() => { window.seeks = [];
        const a = document.getElementById('audio-2');
        a.addEventListener('seeked', () => window.seeks.push(a.currentTime)); }""")
    page.click("#seg-2-1 .seg-text")
    page.wait_for_function("() => window.seeks.length > 0")
    assert abs(page.evaluate("() => window.seeks[0]") - target.start_s) < 0.05
    assert page.evaluate("() => document.getElementById('audio-1').paused")  # the other chapter stopped
    wait_current(page, "seg-2-1")
    page.wait_for_function(
        "t => { const a = document.getElementById('audio-2'); return !a.paused && a.currentTime > t; }",
        arg=target.start_s + 0.2)
    # let it play across the boundary into the next segment
    page.evaluate("t => { document.getElementById('audio-2').currentTime = t; }", target.end_s - 0.3)
    wait_current(page, "seg-2-2")
    assert page.evaluate("() => document.getElementById('audio-2').currentTime") >= after.start_s - 0.01
    # a seek on a paused player moves the highlight too
    page.evaluate("t => { const a = document.getElementById('audio-2'); a.pause(); a.currentTime = t; }",
                  (ch2_first.start_s + ch2_first.end_s) / 2)
    wait_current(page, "seg-2-0")
    watch.check()


@pytest.mark.slow
def test_search_hides_segments_that_do_not_match(session: tuple[Page, Watch]) -> None:
    page, watch = session
    visible = "() => [...document.querySelectorAll('.segment')].filter(e => !e.hidden).map(e => e.id)"
    assert page.text_content("#search-count") == "8 segments"
    page.fill("#search", "LANTERN")
    page.wait_for_function("() => document.getElementById('search-count').textContent === '2 of 8 segments match'")
    assert page.evaluate(visible) == ["seg-1-2", "seg-2-1"]
    assert page.is_hidden("#seg-1-0") and page.is_visible("#seg-2-1")
    page.fill("#search", "</script>")
    page.wait_for_function("() => document.getElementById('search-count').textContent === '2 of 8 segments match'")
    assert page.evaluate(visible) == ["seg-1-1", "seg-1-2"]
    page.fill("#search", "")
    page.wait_for_function("() => document.getElementById('search-count').textContent === '8 segments'")
    assert len(page.evaluate(visible)) == 8
    watch.check()


def requests(text: str) -> list[tuple[int, int, str | None, str]]:
    """What pipeline.retakes reads from a retake file: (chapter, segment, replacement, note)."""
    return [(r.chapter, r.segment, r.text, r.note) for r in parse_retake_text(text, "retakes.txt")]


def export(page: Page) -> tuple[str, str]:
    """Click Export retakes: (the downloaded retakes.txt, the text shown in the export box)."""
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.click("#export")
    download = info.value
    assert download.suggested_filename == "retakes.txt"
    path = download.path()
    assert path is not None
    return Path(path).read_text(encoding="utf-8"), page.input_value("#retake-export")


@pytest.mark.slow
def test_flags_export_a_retake_file_and_survive_a_reload(session: tuple[Page, Watch]) -> None:
    page, watch = session
    page.check("#seg-2-1 .flag-toggle")  # flagged out of book order: the export is in book order
    page.fill("#seg-2-1 .flag-text", "A gull walked\nalong the rail.")
    page.check("#seg-1-3 .flag-toggle")
    page.fill("#seg-1-3 .flag-note", "too fast </script> here")
    assert page.text_content("#flag-count") == "2 flagged"
    downloaded, shown = export(page)
    expected = (
        f"# retakes for {TITLE}: audiobook build RECIPE --retake retakes.txt\n\n"
        "# too fast </script> here\n1:3\n\n"
        "2:1 = A gull walked along the rail.\n\n"
    )
    assert downloaded == shown == expected
    assert requests(downloaded) == [(1, 3, None, "too fast </script> here"), (2, 1, "A gull walked along the rail.", "")]
    page.click("#export-close")

    page.reload()
    wait_ready(page)
    assert page.evaluate("() => [...document.querySelectorAll('.segment.flagged')].map(e => e.id)") == [
        "seg-1-3", "seg-2-1"]
    assert page.is_checked("#seg-1-3 .flag-toggle") and page.is_checked("#seg-2-1 .flag-toggle")
    assert page.input_value("#seg-1-3 .flag-note") == "too fast </script> here"
    assert page.input_value("#seg-2-1 .flag-text") == "A gull walked\nalong the rail."
    assert page.is_visible("#seg-2-1 .flag-fields") and page.is_hidden("#seg-1-0 .flag-fields")
    assert page.text_content("#flag-count") == "2 flagged"
    assert export(page) == (expected, expected)
    page.click("#export-close")

    page.uncheck("#seg-1-3 .flag-toggle")
    downloaded, _ = export(page)
    assert requests(downloaded) == [(2, 1, "A gull walked along the rail.", "")]
    watch.check()
