"""Planning a book into chapters a listener would call chapters, and titles that pause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.conftest import corpus_file

BOOK = """---
title: Folding
---

# Book One

The first chapter has a sentence or two. It is short but it is real text.

# Book Two

# Part Three

The third chapter opens book two. It is read after both headings.

# The End
"""


def plan_json(capsys: pytest.CaptureFixture[str], path: Path) -> dict:
    assert main(["plan", str(path), "--json", "--backend", "local"]) == 0
    return json.loads(capsys.readouterr().out)


def segments(capsys: pytest.CaptureFixture[str], path: Path) -> list[dict]:
    assert main(["plan", str(path), "--segments", "--backend", "local"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _write(tmp_path: Path, recipe_extra: str = "") -> Path:
    book = tmp_path / "book.md"
    book.write_text(BOOK, encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"book: {book}\n{recipe_extra}", encoding="utf-8")
    return recipe


def test_a_heading_only_chapter_opens_the_next(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _write(tmp_path)
    chapters = plan_json(capsys, recipe)["chapters"]
    two, three = chapters[1], chapters[2]
    assert two["skipped"] and two["skip_reason"] == "heading only: read at the start of chapter 3"
    assert three["title"] == "Book Two — Part Three" and not three["skipped"]
    assert not chapters[3]["skipped"]  # the last chapter has nothing to open: it stays
    segs = [s for s in segments(capsys, recipe) if s["chapter"] == 3]
    assert segs[0]["text"] == "Book Two. Part Three." and segs[0]["boundary_after"] == "title"


def test_heading_chapters_keep_and_a_voice_change_keep_them_apart(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    kept = plan_json(capsys, _write(tmp_path, "heading_chapters: keep\n"))["chapters"]
    assert not kept[1]["skipped"] and kept[2]["title"] == "Part Three"
    voiced = plan_json(capsys, _write(tmp_path, 'chapters:\n  - {title: "Book Two", speed: 2}\n'))["chapters"]
    assert not voiced[1]["skipped"] and voiced[2]["title"] == "Part Three"


def test_merged_titles_pack_the_heading_with_the_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    separate = plan_json(capsys, _write(tmp_path))
    merged = plan_json(capsys, _write(tmp_path, "titles: merged\n"))
    assert merged["totals"]["title_credits"] == 0
    assert separate["totals"]["credits"] - merged["totals"]["credits"] == separate["totals"]["title_credits"] > 0
    segs = segments(capsys, _write(tmp_path, "titles: merged\n"))
    assert segs[0]["text"].startswith("Book One. The first chapter")


@pytest.mark.corpus
def test_war_and_peace_has_no_heading_only_chapter(capsys: pytest.CaptureFixture[str]) -> None:
    path = corpus_file("leo-tolstoy_war-and-peace_louise-maude_aylmer-maude.epub")
    data = plan_json(capsys, path)
    active = [c for c in data["chapters"] if not c["skipped"]]
    assert all(c["chars"] >= 100 for c in active), [c["title"] for c in active if c["chars"] < 100]
    folded = [c for c in data["chapters"] if c.get("skip_reason", "").startswith("heading only")]
    assert len(folded) >= 20
    assert any(c["title"] == "Book I, Part I: 1805 — Chapter I" for c in active)


def test_a_price_shows_money_beside_credits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = tmp_path / "book.md"
    book.write_text(BOOK, encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("book: book.md\nprice: {per_credit: 0.0125, currency: EUR}\n", encoding="utf-8")
    totals = plan_json(capsys, recipe)["totals"]
    assert totals["money"] == {"currency": "EUR", "per_credit": 0.0125, "planned": totals["credits"] * 0.0125,
                               "to_spend": totals["credits_to_spend"] * 0.0125}
    assert main(["plan", str(recipe), "--backend", "local"]) == 0
    out = capsys.readouterr().out
    assert f"Price: {totals['credits']} credits = {totals['credits'] * 0.0125:,.2f} EUR at 0.0125 EUR per credit" in out


def test_a_batch_sums_money_per_currency(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.md").write_text(BOOK.replace("Folding", f"Folding {name}"), encoding="utf-8")
    (tmp_path / "cat.yaml").write_text("defaults:\n  price: {per_credit: 0.01, currency: USD}\n"
                                       "  output: {directory: 'out/{slug}'}\nbooks: [a.md, b.md]\n", encoding="utf-8")
    data = plan_json(capsys, tmp_path / "cat.yaml")
    credits = data["totals"]["credits"]
    assert data["totals"]["money"] == {"USD": {"planned": round(credits * 0.01, 6),
                                               "to_spend": round(data["totals"]["credits_to_spend"] * 0.01, 6)}}
    assert all(b["totals"]["money"]["currency"] == "USD" for b in data["books"])


@pytest.mark.parametrize(("price", "message"), [
    ("{per_credit: 0.01}", "needs `currency:`"),
    ("{per_credit: -1, currency: USD}", "price.per_credit"),
    ("{per_credit: 0.01, currency: USD, tax: 3}", "price.tax: unknown key"),
    ("0.01", "price: expected a mapping"),
])
def test_bad_prices_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], price: str, message: str) -> None:
    (tmp_path / "book.md").write_text(BOOK, encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"book: book.md\nprice: {price}\n", encoding="utf-8")
    assert main(["plan", str(recipe), "--backend", "local"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
