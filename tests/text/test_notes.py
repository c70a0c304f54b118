"""Plain note markers are dropped only where the book defines the note."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.cli import main
from pipeline.models import Block, Chapter
from pipeline.text.notes import strip_notes
from tests.conftest import corpus_file


def _ch(index: int, title: str, *texts: str, matter: str = "body") -> Chapter:
    return Chapter(index, title, tuple(Block("paragraph", t) for t in texts), matter=matter)  # type: ignore[arg-type]


def test_references_with_a_note_are_dropped_and_the_note_is_not_read() -> None:
    chapters = [
        _ch(1, "CHAPITRE XXII[1].", "L'optimisme, dit-il ailleurs[1], n'est qu'une fatalité.",
            "  [1] Homélie sur l'athéisme.", "Il y a [7] chemins et m² de terre."),
    ]
    (out,), count = strip_notes(chapters)
    assert out.title == "CHAPITRE XXII."
    assert [b.text for b in out.blocks] == ["L'optimisme, dit-il ailleurs, n'est qu'une fatalité.",
                                            "Il y a [7] chemins et m² de terre."]  # no note 7, no note ²
    assert (count.markers, count.notes) == (2, 1)
    kept, _ = strip_notes(chapters, keep_notes=True)
    assert kept[0].blocks[1].text == "  [1] Homélie sur l'athéisme."


def test_superscripts_and_a_notes_section_at_the_end() -> None:
    chapters = [
        _ch(1, "One", "It was cold¹ and late.² The end."),
        _ch(2, "Notes", "¹ In the north.", "² After midnight."),
    ]
    out, count = strip_notes(chapters)
    assert out[0].blocks[0].text == "It was cold and late. The end."
    assert out[1].matter == "back" and count.markers == 2  # a notes section: back matter, skipped by default


def test_no_note_paragraphs_means_nothing_is_touched() -> None:
    chapters = [_ch(1, "Maths", "The set [1] and x² stay.")]
    out, count = strip_notes(chapters)
    assert out == tuple(chapters) and count.markers == count.notes == 0


@pytest.mark.corpus
def test_candide_reads_no_note_marker(capsys: pytest.CaptureFixture[str]) -> None:
    path = corpus_file("voltaire_candide_fr.md")
    assert main(["plan", str(path), "--segments", "--backend", "local"]) == 0
    segments = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert segments and not [s["text"] for s in segments if re.search(r"\[(\d+|[a-z])\]", s["text"])]
    assert main(["plan", str(path), "--json", "--backend", "local"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert not [c["title"] for c in data["chapters"] if "[" in c["title"]]
    assert data["notes"]["markers"] >= 40 and data["notes"]["paragraphs"] >= 40
