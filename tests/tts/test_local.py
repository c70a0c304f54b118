"""The embedded eSpeak NG voice: real synthesis through the wheel's library."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from pipeline.audio.ffmpeg import check_complete, decode_to_pcm
from pipeline.errors import TaskNotFoundError, UserError
from pipeline.models import VENDOR_LANGUAGES, TTSRequest, Voice
from pipeline.synth.cache import sniff_ext
from pipeline.tts.local import LocalBackend, Pcm, pcm_to_flac, synthesize_pcm
from pipeline.tts.local_voices import (
    ESPEAK_LANGUAGE,
    LOCAL_VOICES,
    default_local_voice,
    local_voice,
    local_voice_for,
    script_language,
    voices_for_language,
    words_per_minute,
)

# About ten words (or the equivalent in characters) per language.
SAMPLES: dict[str, str] = {
    "all": "Сегодня хорошая погода, давайте пойдём гулять в парк вместе.",
    "zh": "今天天气很好，我们一起去公园散步吧。",
    "en": "The quick brown fox jumps over the lazy dog near the river.",
    "ar": "مرحبا بكم في هذا الكتاب الصوتي الجميل جدا اليوم.",
    "ru": "Сегодня хорошая погода, давайте пойдём гулять в парк.",
    "es": "Hoy hace buen tiempo, vamos a pasear por el parque juntos.",
    "fr": "Il fait beau aujourd'hui, allons nous promener dans le parc.",
    "pt": "Hoje o tempo está bom, vamos passear no parque juntos agora.",
    "de": "Heute ist schönes Wetter, lass uns im Park spazieren gehen.",
    "ko": "오늘은 날씨가 좋으니 함께 공원에 산책하러 갑시다.",
    "ja": "今日はいい天気なので、一緒に公園へ散歩に行きましょう。",
    "zh_yue": "今日天氣好好，我哋一齊去公園行吓啦。",
}
EN = SAMPLES["en"]


def samples(pcm: Pcm) -> np.ndarray:
    return np.frombuffer(pcm.data, dtype="<i2").astype(np.float64)


def rms(pcm: Pcm) -> float:
    a = samples(pcm)
    return float(np.sqrt(np.mean(a**2))) if a.size else 0.0


def zero_crossing_rate(pcm: Pcm) -> float:
    a = samples(pcm)
    a = a[np.abs(a) > 500]  # voiced parts only
    return float(np.mean(np.abs(np.diff(np.sign(a))) > 0))


def test_samples_cover_every_vendor_language() -> None:
    assert set(SAMPLES) == set(VENDOR_LANGUAGES)


@pytest.mark.parametrize("language", VENDOR_LANGUAGES)
def test_every_language_speaks(language: str) -> None:
    pcm = synthesize_pcm(SAMPLES[language], Voice(default_local_voice(language), 0, 1, language))
    assert pcm.sample_rate == 22050
    assert 1.0 < pcm.duration < 9.0, pcm
    assert rms(pcm) > 1000, f"{language} is (nearly) silent"


@pytest.mark.parametrize("language", VENDOR_LANGUAGES)
def test_every_local_voice_of_a_language_differs(language: str) -> None:
    outs = {synthesize_pcm(SAMPLES[language], Voice(v.id, 0, 1, language)).data for v in voices_for_language(language)}
    assert len(outs) == len(voices_for_language(language)) >= 2


def test_japanese_kanji_are_read_not_named() -> None:
    # eSpeak alone says "Chinese letter" for every kanji: kana first, same speech.
    kanji = synthesize_pcm("東京の天気", Voice(900101, 0, 1, "ja"))
    kana = synthesize_pcm("とうきょうのてんき", Voice(900101, 0, 1, "ja"))
    assert kanji.data == kana.data
    assert synthesize_pcm("東京の天気", Voice(900001, 0, 1, "all")).data == synthesize_pcm(
        "とうきょうのてんき", Voice(900001, 0, 1, "all")).data


def test_speed_changes_duration() -> None:
    slow, normal, fast = (synthesize_pcm(EN, Voice(900021, 0, s, "en")).duration for s in (0.5, 1, 2))
    assert slow > normal * 1.5
    assert normal > fast * 1.5
    odd = synthesize_pcm(EN, Voice(900021, 0, 1.3, "en")).duration
    assert fast < odd < normal


def test_emotions_change_output() -> None:
    outs = {e: synthesize_pcm(EN, Voice(900021, e, 1, "en")) for e in range(9)}
    assert len({p.data for p in outs.values()}) == 9
    assert outs[3].duration > outs[1].duration  # sad is slower than happy
    assert zero_crossing_rate(outs[1]) != zero_crossing_rate(outs[3])
    assert rms(outs[2]) > rms(outs[6])  # angry is louder than melancholic


def test_same_request_gives_same_bytes() -> None:
    for vid in (900021, 900022, 900024):  # breathy female variants use random noise
        first = synthesize_pcm(EN, Voice(vid, 1, 1, "en"))
        synthesize_pcm("Something else in between.", Voice(vid, 3, 2, "en"))
        assert synthesize_pcm(EN, Voice(vid, 1, 1, "en")).data == first.data


def test_threads_give_the_same_bytes_as_sequential() -> None:
    requests = [(SAMPLES[lang], Voice(default_local_voice(lang), e % 9, 1, lang)) for e, lang in enumerate(("en", "de", "fr", "ru", "en", "es"))]
    expected = [synthesize_pcm(t, v).data for t, v in requests]
    got: list[bytes | None] = [None] * len(requests)

    def work(i: int) -> None:
        got[i] = synthesize_pcm(*requests[i]).data

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


def test_empty_text_is_empty_audio() -> None:
    assert synthesize_pcm("  ", Voice(900021)).data == b""


def test_bad_requests_are_user_errors() -> None:
    with pytest.raises(UserError, match="emotion"):
        synthesize_pcm(EN, Voice(900021, 12, 1, "en"))
    with pytest.raises(UserError, match="speed"):
        synthesize_pcm(EN, Voice(900021, 0, 0, "en"))
    with pytest.raises(UserError, match="language"):
        synthesize_pcm(EN, Voice(2072, 0, 1, "xx"))


def test_pcm_to_flac_is_lossless_and_compact() -> None:
    pcm = synthesize_pcm(EN, Voice(900021))
    flac = pcm_to_flac(pcm)
    assert check_complete(flac) == "flac" and sniff_ext(flac) == "flac"
    assert decode_to_pcm(flac, sample_rate=22050) == pcm.data
    assert len(flac) < 0.75 * len(pcm.data)  # speech: about half of the 16-bit PCM


def test_vendor_ids_map_onto_local_voices_deterministically() -> None:
    en = voices_for_language("en")
    assert local_voice_for(2072, "en") == en[2072 % len(en)]
    assert local_voice_for(2072, "en") == local_voice_for(2072, "en")
    assert local_voice_for(900022, "de").id == 900022  # a local id is kept
    with pytest.raises(UserError, match="2072"):
        local_voice(2072)
    vendor = synthesize_pcm(EN, Voice(2072, 0, 1, "en"))
    assert vendor.data == synthesize_pcm(EN, Voice(local_voice_for(2072, "en").id, 0, 1, "en")).data


def test_voice_table_shape() -> None:
    ids = [v.id for v in LOCAL_VOICES]
    assert len(set(ids)) == len(ids) and min(ids) > 900000
    for language in VENDOR_LANGUAGES:
        voices = voices_for_language(language)
        assert {v.gender for v in voices} == {1, 2}
        assert len({v.pitch for v in voices}) == len(voices)
        assert default_local_voice(language) == voices[0].id


def test_voice_table_names_real_espeak_data() -> None:
    # eSpeak silently ignores an unknown variant ("en-us+typo"): check the files exist.
    import espeakng_loader

    data = Path(espeakng_loader.get_data_path())
    languages = {p.name.lower() for p in (data / "lang").rglob("*") if p.is_file()}
    for v in LOCAL_VOICES:
        assert (data / "voices" / "!v" / v.variant).is_file(), v
        assert v.espeak_language == "" or v.espeak_language in languages, v
    for esp in ESPEAK_LANGUAGE.values():
        assert esp in languages
        assert (data / f"{esp.split('-')[0]}_dict").is_file()


def test_script_detection_for_language_all() -> None:
    assert script_language("今日はいい天気です") == "ja"
    assert script_language("今天天气很好") == "cmn"
    assert script_language("오늘은 날씨가") == "ko"
    assert script_language("مرحبا بكم") == "ar"
    assert script_language("Привет, мир") == "ru"
    assert script_language("Hello, 世") == "en-us"
    assert script_language("123 ...") == "en-us"


def test_words_per_minute_clamps() -> None:
    assert words_per_minute(1) == 175
    assert words_per_minute(0.5) == 88
    assert words_per_minute(2) == 350
    assert words_per_minute(10) == 450
    assert words_per_minute(0.1) == 80


def test_local_backend_round_trip() -> None:
    async def run() -> None:
        backend = LocalBackend(workers=2)
        try:
            requests = [TTSRequest(SAMPLES[lang], Voice(2072, 0, 1, lang)) for lang in ("en", "fr", "de")]
            ids = [await backend.create(r) for r in requests]
            assert len(set(ids)) == 3
            for job_id, request in zip(ids, requests):
                status = await backend.get(job_id)
                assert status.state == "success" and status.output_url == f"local://{job_id}"
                clip = await backend.download(status.output_url)
                assert sniff_ext(clip) == "flac"
                assert decode_to_pcm(clip, sample_rate=22050) == synthesize_pcm(request.text, request.voice).data
                with pytest.raises(TaskNotFoundError):
                    await backend.download(status.output_url)  # freed
            with pytest.raises(TaskNotFoundError):
                await backend.get("local-99999999")
            with pytest.raises(UserError):
                await backend.create(TTSRequest("x", Voice(1, 0, 1, "xx")))
        finally:
            await backend.aclose()

    asyncio.run(run())


