"""Chapter rules of a recipe: match chapters, override voice/emotion/speed/language/skip.

A rule matches by `index` (one or a list), `range` ("3-7" or [3, 7]), `title` (a glob,
case-insensitive) or `title_regex`; several match keys must all hold. Later rules win,
key by key, and the plan shows which rule set each chapter's voice.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from pipeline.recipe_values import parse_emotion, parse_language, parse_speed
from pipeline.yamlsrc import LineList, Where, at, get_bool, get_int, get_list, get_str, mapping

RULE_KEYS = ("name", "index", "range", "title", "title_regex", "voice", "emotion", "speed", "language", "skip")


@dataclass(frozen=True)
class ChapterRule:
    label: str  # "rule 2 (line 14)" or the rule's name
    line: int
    indexes: tuple[int, ...] | None = None
    index_range: tuple[int, int] | None = None
    title_glob: str | None = None
    title_regex: str | None = None
    voice: int | None = None
    emotion: int | None = None
    speed: float | None = None
    language: str | None = None
    skip: bool | None = None

    def matches(self, index: int, title: str) -> bool:
        if self.indexes is not None and index not in self.indexes:
            return False
        if self.index_range is not None and not (self.index_range[0] <= index <= self.index_range[1]):
            return False
        if self.title_glob is not None and not fnmatch.fnmatch(title.casefold(), self.title_glob.casefold()):
            return False
        if self.title_regex is not None and re.search(self.title_regex, title) is None:
            return False
        return True


def parse_rules(items: LineList, where: Where, allow_any_speed: bool = False) -> tuple[ChapterRule, ...]:
    return tuple(
        _parse_rule(item, where.child(i, items.item_lines[i]), i, allow_any_speed) for i, item in enumerate(items)
    )


def _parse_rule(item: Any, where: Where, i: int, allow_any_speed: bool) -> ChapterRule:
    d = mapping(item, where, RULE_KEYS)
    if not any(k in d for k in ("index", "range", "title", "title_regex")):
        raise where.error("a chapter rule needs at least one of index, range, title, title_regex")
    label = get_str(d["name"], at(d, "name", where)) if "name" in d else f"rule {i + 1} (line {d.line})"
    fields: dict[str, Any] = {"label": label, "line": d.line}
    if "index" in d:
        w = at(d, "index", where)
        raw = d["index"]
        values = get_list(raw, w) if isinstance(raw, list) else [raw]
        fields["indexes"] = tuple(get_int(v, w, lo=1) for v in values)
    if "range" in d:
        fields["index_range"] = _parse_range(d["range"], at(d, "range", where))
    if "title" in d:
        fields["title_glob"] = get_str(d["title"], at(d, "title", where))
    if "title_regex" in d:
        w = at(d, "title_regex", where)
        pattern = get_str(d["title_regex"], w)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise w.error(f"invalid regular expression: {exc}") from None
        fields["title_regex"] = pattern
    if "voice" in d:
        fields["voice"] = get_int(d["voice"], at(d, "voice", where), lo=0)
    if "emotion" in d:
        fields["emotion"] = parse_emotion(d["emotion"], at(d, "emotion", where))
    if "speed" in d:
        fields["speed"] = parse_speed(d["speed"], at(d, "speed", where), allow_any_speed)
    if "language" in d:
        fields["language"] = parse_language(d["language"], at(d, "language", where))
    if "skip" in d:
        fields["skip"] = get_bool(d["skip"], at(d, "skip", where))
    return ChapterRule(**fields)


def _parse_range(value: Any, where: Where) -> tuple[int, int]:
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*[-–]\s*(\d+)\s*", value)
        if not m:
            raise where.error(f"'{value}' is not a range like \"3-7\"")
        lo, hi = int(m.group(1)), int(m.group(2))
    else:
        pair = get_list(value, where)
        if len(pair) != 2:
            raise where.error("a range is two chapter numbers, like [3, 7] or \"3-7\"")
        lo, hi = get_int(pair[0], where, lo=1), get_int(pair[1], where, lo=1)
    if lo > hi:
        raise where.error(f"range {lo}-{hi} is empty (the first number must not exceed the second)")
    return lo, hi
