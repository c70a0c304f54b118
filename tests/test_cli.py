"""The command line as a user meets it: exit codes, one-line errors, plan output."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.conftest import CORPUS, REPO, SAMPLES

MD_SAMPLE = SAMPLES / "the-cartographers-daughter.md"
EPUB_SAMPLE = SAMPLES / "the-salt-road.epub"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, expected: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and expected in lines[0], err


def test_plan_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", str(MD_SAMPLE), "--json", "--backend", "local")
    assert code == 0
    data = json.loads(out)
    assert data["book"]["language"] == "en" and data["book"]["title"]
    first = data["chapters"][0]
    for key in ("index", "title", "chars", "segments", "credits", "min_credits", "voice_id", "emotion", "speed", "skipped"):
        assert key in first
    active = [c for c in data["chapters"] if not c["skipped"]]
    totals = data["totals"]
    assert totals["credits"] == sum(c["credits"] for c in active)
    assert totals["min_credits"] == sum(-(-c["chars"] // 100) for c in active)
    assert totals["credits"] >= totals["min_credits"]


def test_plan_segments_are_json_lines_that_rebuild_the_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", str(EPUB_SAMPLE), "--segments", "--backend", "local")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and all(r["chars"] <= 500 for r in rows)
    assert {r["boundary_after"] for r in rows} >= {"chapter"}


def test_plan_table_for_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", str(REPO / "recipes" / "the-salt-road.yaml"))
    assert code == 0
    assert "credits" in out and "front matter" in out


def test_unknown_rule_match_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", str(REPO / "tests" / "recipes" / "no_match_rule.yaml"))
    assert code == 0
    assert "no_match_rule.yaml:3: chapters: rule 1 (line 3) matches no chapter" in err


def test_not_an_epub(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "fake.epub"
    bad.write_text("this is not a zip", encoding="utf-8")
    code, _, err = run(capsys, "plan", str(bad))
    assert_one_line_error(code, err, "fake.epub")


def test_zip_without_container(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "nocontainer.epub"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("OEBPS/a.xhtml", "<html/>")
    code, _, err = run(capsys, "plan", str(bad))
    assert_one_line_error(code, err, "container.xml")


def test_drm_epub(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drm = tmp_path / "drm.epub"
    with zipfile.ZipFile(EPUB_SAMPLE) as src, zipfile.ZipFile(drm, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("META-INF/encryption.xml", (
            '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
            'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
            '<enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
            '<enc:CipherData><enc:CipherReference URI="OEBPS/chapter1.xhtml"/></enc:CipherData>'
            "</enc:EncryptedData></encryption>"
        ))
    code, _, err = run(capsys, "plan", str(drm))
    assert_one_line_error(code, err, "DRM")


def test_empty_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("", encoding="utf-8")
    code, _, err = run(capsys, "plan", str(empty))
    assert_one_line_error(code, err, "empty.md")


def test_recipe_pointing_at_missing_book(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", str(REPO / "tests" / "recipes" / "missing_book.yaml"))
    assert_one_line_error(code, err, "missing_book.yaml:2: book: file not found")


def test_missing_book_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", "no-such-book.epub")
    assert_one_line_error(code, err, "no-such-book.epub")


def test_vendor_backend_without_key_is_a_clear_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIOCLEANER_API_KEY", raising=False)
    code, _, err = run(capsys, "plan", str(MD_SAMPLE), "--backend", "audiocleaner")
    assert_one_line_error(code, err, "needs an API key")


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("plan", "build", "status", "voices", "emulator", "check"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and "Usage:" in out, command


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*") if p.suffix in (".epub", ".md")) or ["absent"])
def test_plan_json_on_corpus(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import corpus_file

    path = corpus_file(name)
    code, out, err = run(capsys, "plan", str(path), "--json", "--backend", "local")
    assert code == 0, err
    data = json.loads(out)
    totals = data["totals"]
    assert totals["segments"] > 0 and totals["chars"] > 10_000
    assert 0 <= totals["title_credits"] <= sum(c["segments"] for c in data["chapters"])
    assert totals["credits"] - totals["title_credits"] <= 1.03 * totals["min_credits"]  # headings packed


def test_plan_prints_what_the_ingest_and_the_cover_check_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.ingest.hostile_epub import _opf, _rewrite, cover_garbage

    book = cover_garbage(tmp_path, False)
    opf = _opf(book).replace("</spine>", '<itemref idref="d0"/></spine>')
    _rewrite(book, {"OPS/content.opf": opf.encode()})
    code, out, err = run(capsys, "plan", str(book), "--backend", "local")
    assert code == 0 and "credits" in out
    assert err.splitlines() == [
        "Warning: badcover.epub: the spine lists c1.xhtml more than once; it is read once",
        "Warning: the EPUB's cover (OPS/cover.png) is not a readable image; a generated title card will be used",
    ]


def test_library_loggers_are_quiet_unless_very_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    """httpx logs every request at INFO: that would bury the progress display."""
    import logging

    assert main(["voices"]) == 0
    assert logging.getLogger("httpx").level == logging.WARNING == logging.getLogger("httpcore").level
    assert main(["-vv", "voices"]) == 0
    assert logging.getLogger("httpx").level == logging.DEBUG
    assert main(["voices"]) == 0
    capsys.readouterr()


def test_command_line_overrides_are_validated_like_recipe_keys(capsys: pytest.CaptureFixture[str]) -> None:
    book = str(SAMPLES / "the-cartographers-daughter.md")
    assert main(["plan", book, "--max-chars", "50", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: --max-chars 50: must be between billing_unit (100)") and err.count("\n") == 1
    assert main(["plan", book, "--max-chars", "100", "--json"]) == 0
    capsys.readouterr()
