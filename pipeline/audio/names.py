"""Safe, unique, numbered output file names from chapter titles.

Names must survive every filesystem a listener copies them to: no separators or
control characters, no reserved Windows device names, no trailing dots/spaces, NFC
(macOS would otherwise show two spellings of one title), bounded length.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

MAX_STEM = 80
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_SPACES = re.compile(r"\s+")
_COLON = re.compile(r"\s*:\s+")
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CLOCK$"}
    | {f"COM{i}" for i in range(10)}
    | {f"LPT{i}" for i in range(10)}
)


def safe_component(
    text: str, max_len: int = MAX_STEM, fallback: str = "Untitled", guard_reserved: bool = True
) -> str:
    """One path component made safe: the title survives, hostile characters do not."""
    s = unicodedata.normalize("NFC", text)
    s = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in s)
    s = _COLON.sub(" - ", s)  # "Chapter One: The Coast" reads best as "Chapter One - The Coast"
    s = _FORBIDDEN.sub("_", s)
    s = _SPACES.sub(" ", s).strip(" .")
    if len(s) > max_len:
        s = s[:max_len].rstrip(" .")
    if not s:
        s = fallback
    if guard_reserved and s.split(".")[0].upper().strip() in _RESERVED:
        s = f"_{s}"
    return s


def chapter_stems(titles: Sequence[str], numbers: Sequence[int] | None = None) -> list[str]:
    """'01 - Title' stems, zero-padded to the chapter count, unique case-insensitively."""
    nums = list(numbers) if numbers is not None else list(range(1, len(titles) + 1))
    width = max(2, len(str(max(nums, default=1))))
    seen: set[str] = set()
    stems: list[str] = []
    for num, title in zip(nums, titles, strict=True):
        base = f"{num:0{width}d} - {safe_component(title, guard_reserved=False)}"  # prefix guards
        stem, k = base, 2
        while stem.casefold() in seen:
            stem, k = f"{base}-{k}", k + 1
        seen.add(stem.casefold())
        stems.append(stem)
    return stems


def book_stem(title: str) -> str:
    """File stem for the whole-book outputs (M4B, playlist)."""
    return safe_component(title, fallback="Audiobook")
