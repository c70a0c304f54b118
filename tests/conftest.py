"""Shared fixtures. The corpus lives beside the repository in ../shared/corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.emulator_fixture"]

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
SAMPLES = REPO / "samples"


def corpus_file(name: str) -> Path:
    """Path of a corpus book, skipping the test cleanly when the corpus is absent."""
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"corpus file {name} not available")
    return path


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus not available")
    return CORPUS
