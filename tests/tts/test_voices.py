"""Voice library loading and checks, and the `audiobook voices` command."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline.cli.voices_cmd import voices
from pipeline.errors import UserError
from pipeline.models import VENDOR_LANGUAGES
from pipeline.tts.voices import builtin_voice_library, check_voice, load_voice_library

# The documented example (audiocleaner-api.md, "The voice library"), plus two voices.
MADISON = {
    "id": 2072, "gender": 2, "language": "en", "age": 2,
    "emotion": ["chat", "customerservice", "narration-professional", "newscast-casual",
                "newscast-formal", "cheerful", "empathetic", "angry", "sad", "excited",
                "friendly", "terrified", "shouting", "unfriendly", "whispering", "hopeful"],
    "name": "madison", "display_name": "Madison",
}
PLAIN = {"id": 3001, "gender": 1, "language": "de", "age": 1, "emotion": [], "name": "karl", "display_name": "Karl"}
ANY = {"id": 3002, "gender": 1, "language": "all", "age": 3, "emotion": ["calm"], "name": "polly", "display_name": "Polly"}
ENVELOPE = {"code": 100000, "message": "Request Success", "data": {"total": 3, "records": [MADISON, PLAIN, ANY]}}


def write(tmp_path: Path, doc: object, name: str = "voices.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("doc", [ENVELOPE, ENVELOPE["data"], [MADISON, PLAIN, ANY]], ids=["envelope", "data", "list"])
def test_loads_every_shape(tmp_path: Path, doc: object) -> None:
    lib = load_voice_library(write(tmp_path, doc))
    madison = lib.get(2072)
    assert madison is not None
    assert (madison.name, madison.display_name, madison.language, madison.gender, madison.age) == (
        "madison", "Madison", "en", 2, 2)
    assert "terrified" in madison.styles and len(madison.styles) == 16
    assert lib.get(1) is None
    assert [v.id for v in lib.for_language("en")] == [2072, 3002]  # "all" fits every language
    assert [v.id for v in lib.for_language("all")] == [2072, 3001, 3002]
    assert lib.source.endswith("voices.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON (line 1"),
        ("", "not valid JSON"),
        ('"voices"', "expected a JSON object or list"),
        ({"code": 101002, "message": "Invalid API key", "data": None}, "error reply (code 101002"),
        ({"data": {"total": 1}}, 'no "records" list'),
        ([{"gender": 1, "language": "en"}], 'records[0] has no "id"'),
        ([{"id": "x", "language": "en"}], "'id' must be an integer"),
        ([{"id": 5}], 'records[0] (id 5) has no "language"'),
        ([{"id": 5, "language": "en", "emotion": "sad"}], "list of style names"),
        ([MADISON, MADISON], "voice id 2072 appears twice"),
        ([7], "records[0] is not an object"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, content: object, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(UserError) as info:
        load_voice_library(path)
    text = str(info.value)
    assert str(path) in text and message in text
    assert "\n" not in text


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read voice list"):
        load_voice_library(tmp_path / "nope.json")


def test_check_voice_errors_and_warnings(tmp_path: Path) -> None:
    lib = load_voice_library(write(tmp_path, ENVELOPE))
    with pytest.raises(UserError, match="voice 9 is not in the voice library"):
        check_voice(lib, 9, "en", 0)
    with pytest.raises(UserError, match="speaks 'en', not 'de'"):
        check_voice(lib, 2072, "de", 0)
    with pytest.raises(UserError, match="emotion id 9"):
        check_voice(lib, 2072, "en", 9)
    assert check_voice(lib, 2072, "all", 0) == []  # "all" on either side is compatible
    assert check_voice(lib, 3002, "ja", 8) == []
    # Madison has a style for every emotion (e.g. unfriendly for 5, excited for 7).
    assert all(check_voice(lib, 2072, "en", emotion) == [] for emotion in range(9))
    assert check_voice(lib, 3001, "de", 0) == []  # auto never warns
    warnings = check_voice(lib, 3001, "de", 4)
    assert len(warnings) == 1 and "afraid" in warnings[0] and "Karl" in warnings[0] and "none" in warnings[0]
    assert check_voice(lib, 3002, "fr", 1)[0].startswith("voice 3002 (Polly) has no style for emotion 1 (happy")


def test_builtin_library_offers_every_language_and_emotion() -> None:
    lib = builtin_voice_library()
    for language in VENDOR_LANGUAGES:
        own = [v for v in lib.voices if v.language == language]
        assert len(own) >= 2
        for v in own:
            assert all(check_voice(lib, v.id, language, e) == [] for e in range(9))
    assert all(v.id > 900000 for v in lib.voices)


def run(*args: str) -> click.testing.Result:
    group = click.Group(commands=[voices])
    return CliRunner().invoke(group, ["voices", *args])


def test_cli_lists_builtin_voices() -> None:
    result = run()
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("\n\n")[0].splitlines()  # then the Piper voices, if any
    assert lines[0].split() == ["ID", "NAME", "LANG", "GENDER", "AGE", "STYLES"]
    assert len(lines) == 1 + len(builtin_voice_library().voices)
    assert "900021" in result.stdout and "Walter (US)" in result.stdout


def test_cli_reads_file_and_filters(tmp_path: Path) -> None:
    path = write(tmp_path, ENVELOPE)
    result = run(str(path), "--language", "de")
    assert result.exit_code == 0, result.output
    ids = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert ids == ["3001", "3002"]


def test_cli_json_is_vendor_shaped(tmp_path: Path) -> None:
    result = run(str(write(tmp_path, ENVELOPE)), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["code"] == 100000 and doc["data"]["total"] == 3
    assert doc["data"]["records"][0] == MADISON
    builtin = json.loads(run("--json", "-l", "ja").stdout)
    assert builtin["data"]["total"] == 4  # ja voices plus the two "all" voices
    # the built-in JSON loads back as a library
    again = load_voice_library(write(tmp_path, builtin, "local.json"))
    assert {v.id for v in again.voices} == {r["id"] for r in builtin["data"]["records"]}


def test_cli_errors_are_user_errors(tmp_path: Path) -> None:
    result = run(str(write(tmp_path, "{bad")))
    assert isinstance(result.exception, UserError)
    result = run("--language", "xx")
    assert isinstance(result.exception, UserError) and "xx" in str(result.exception)
