"""Kanji to kana for the embedded Japanese voice.

eSpeak NG's Japanese reads only kana: every kanji comes out as the English words
"Chinese letter", which makes real Japanese prose (mostly kanji) unlistenable. pykakasi
(pure Python, dictionary inside the wheel, nothing downloaded) rewrites kanji as
hiragana first. Its readings are dictionary-based, not context-aware, so some words
get a wrong reading; for an offline fallback voice that is the right trade.
"""

from __future__ import annotations

import re
import threading
from typing import Any

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005]")  # incl. 々
_LOCK = threading.Lock()
_KAKASI: Any = None


def _kakasi() -> Any:
    global _KAKASI
    with _LOCK:  # building the converter takes ~0.6 s: once per process
        if _KAKASI is None:
            import pykakasi

            _KAKASI = pykakasi.kakasi()
        return _KAKASI


def kanji_to_kana(text: str) -> str:
    """`text` with kanji replaced by hiragana readings; kana, Latin, digits kept."""
    if not _HAN.search(text):
        return text
    parts = _kakasi().convert(text)
    return "".join(p["hira"] if _HAN.search(p["orig"]) else p["orig"] for p in parts)
