"""Map a book's language tag to the vendor's language keys, or guess it from the text.

Books state languages as BCP 47 tags (en-GB, ja-jp, zh-Hans, zh-HK); the vendor takes
all, zh, en, ar, ru, es, fr, pt, de, ko, ja, zh_yue. Many Markdown files state none, so
a cheap script + stop-word guess fills in (the recipe's `language` always wins).
"""

from __future__ import annotations

import re
from collections import Counter

from pipeline.models import VENDOR_LANGUAGES

_CANTONESE_REGIONS = {"hk", "mo", "hant-hk", "hant-mo"}


def vendor_language(tag: str | None) -> str | None:
    """`en-GB` → `en`, `zh-HK`/`yue` → `zh_yue`, `zh-Hans` → `zh`; None if unsupported."""
    if not tag:
        return None
    t = tag.strip().lower().replace("_", "-")
    if t in ("zh-yue", "yue", "zh_yue") or t.startswith("yue-"):
        return "zh_yue"
    primary, _, rest = t.partition("-")
    if primary in ("zh", "cmn"):
        return "zh_yue" if rest in _CANTONESE_REGIONS else "zh"
    return primary if primary in VENDOR_LANGUAGES else None


_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and of to a in that is was he it for with as his on be at by had".split()),
    "es": frozenset("de la que el en y los se del las un por con no una su para es al lo como".split()),
    "fr": frozenset("de la le et les des en un du une que est pas il qui dans à au ne se".split()),
    "pt": frozenset("de que o a e do da em um para é com não uma os no se na por mais".split()),
    "de": frozenset("der die und in den von zu das mit sich des auf für ist im dem nicht ein".split()),
}
_SCRIPTS: tuple[tuple[str, str], ...] = (
    ("ja", r"[\u3040-\u30ff]"),
    ("ko", r"[\uac00-\ud7af]"),
    ("zh", r"[\u4e00-\u9fff]"),
    ("ar", r"[\u0600-\u06ff]"),
    ("ru", r"[\u0400-\u04ff]"),
)


def detect_language(text: str, sample: int = 20_000) -> str:
    """Best guess among the vendor's languages; "en" when nothing stands out."""
    head = text[:sample]
    counts = {lang: len(re.findall(pattern, head)) for lang, pattern in _SCRIPTS}
    letters = sum(1 for ch in head if ch.isalpha()) or 1
    if counts["ja"] > 0.02 * letters:
        return "ja"
    best = max(("ko", "zh", "ar", "ru"), key=lambda k: counts[k])
    if counts[best] > 0.3 * letters:
        return best
    words = Counter(w for w in re.findall(r"[^\W\d_]+", head.lower()))
    scores = {lang: sum(words[w] for w in stop) for lang, stop in _STOPWORDS.items()}
    lang = max(scores, key=lambda k: scores[k])
    return lang if scores[lang] > 0 else "en"
