"""YAML with line numbers, and a reader that turns wrong shapes into pointed errors.

Every recipe message must name the file, the line and the key path
(`recipe.yaml:12: chapters[2].voice: ...`), and unknown keys get a "did you mean".
PyYAML's composer knows the lines; this module keeps them next to the values.
"""

from __future__ import annotations

import difflib
import errno
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import RecipeError


class LineDict(dict[str, Any]):
    """A mapping that remembers the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]
    # Keys merged in from another file (a catalogue's `defaults:`): key -> (that file, the
    # key path of this mapping there), so their messages name where they were written.
    key_origins: dict[str, tuple[Path, str]] | None = None


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise yaml.constructor.ConstructorError(None, None, "keys must be plain scalars", key_node.start_mark)
        key = str(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


MAX_RECIPE_BYTES = 1 << 20  # a recipe is a page of settings; a bigger file is not one


def load_yaml(path: Path) -> Any:
    """Parse a YAML file keeping line numbers; syntax errors become RecipeError.

    Only a regular file of at most MAX_RECIPE_BYTES is read: a FIFO would block forever,
    and a gigabyte "recipe" would be read into memory whole.
    """
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise RecipeError(f"{path}: is a directory, not a recipe file")
        if not stat.S_ISREG(st.st_mode):
            raise RecipeError(f"{path}: is not a regular file (a FIFO, socket or device)")
        if st.st_size > MAX_RECIPE_BYTES:
            raise RecipeError(f"{path}: is {st.st_size:,} bytes, too large for a recipe (at most 1 MiB)")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{path}: recipe file not found") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: cannot read the recipe (not UTF-8 text)") from None
    except OSError as exc:
        reason = "a symbolic link loop" if exc.errno == errno.ELOOP else exc.strerror or exc.__class__.__name__
        raise RecipeError(f"{path}: cannot read the recipe ({reason})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{path}{line}: invalid YAML: {problem}") from None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass
class Where:
    """A position in the recipe: file, key path and line, for messages."""

    file: Path
    path: str
    line: int
    warnings: list[str] = field(default_factory=list)

    def error(self, message: str) -> RecipeError:
        label = self.path or "(top level)"
        return RecipeError(f"{self.file.name}:{self.line}: {label}: {message}")

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.file.name}:{self.line}: {self.path or '(top level)'}: {message}")

    def child(self, key: str | int, line: int | None = None) -> Where:
        path = f"{self.path}[{key}]" if isinstance(key, int) else (f"{self.path}.{key}" if self.path else key)
        return Where(self.file, path, line or self.line, self.warnings)


def mapping(value: Any, where: Where, allowed: Iterable[str]) -> LineDict:
    """Check `value` is a mapping with only `allowed` keys; return it."""
    if not isinstance(value, dict):
        raise where.error(f"expected a mapping of keys, got {type_name(value)}")
    allowed = list(allowed)
    for key in value:
        if key not in allowed:
            line = value.key_lines.get(key, where.line) if isinstance(value, LineDict) else where.line
            raise _key_where(value, key, where, line).error(f"unknown key{did_you_mean(key, allowed)}")
    return value if isinstance(value, LineDict) else _as_linedict(value, where.line)


def _as_linedict(value: dict[str, Any], line: int) -> LineDict:
    result = LineDict(value)
    result.line, result.key_lines = line, {k: line for k in value}
    return result


def at(parent: LineDict, key: str, where: Where) -> Where:
    """The Where of `parent[key]`."""
    return _key_where(parent, key, where, parent.key_lines.get(key, parent.line))


def _key_where(parent: dict[str, Any], key: str, where: Where, line: int) -> Where:
    """`where.child(key)`, unless the key was merged in from another file (see LineDict)."""
    origin = parent.key_origins.get(key) if isinstance(parent, LineDict) and parent.key_origins else None
    if origin is None:
        return where.child(key, line)
    file, path = origin
    return Where(file, f"{path}.{key}", line, where.warnings)


def type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ('{value[:40]}')"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def get_bool(value: Any, where: Where) -> bool:
    if not isinstance(value, bool):
        raise where.error(f"expected true or false, got {type_name(value)}")
    return value


def get_int(value: Any, where: Where, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(f"expected a whole number, got {type_name(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise where.error(f"{value} is out of range ({lo} to {hi})" if hi is not None else f"must be at least {lo}")
    return value


def get_float(value: Any, where: Where, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error(f"expected a number, got {type_name(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise where.error(f"{value} is out of range ({lo} to {hi})")
    return float(value)


def get_str(value: Any, where: Where, choices: Iterable[str] | None = None) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"expected a text value, got {type_name(value)}")
    if choices is not None:
        options = list(choices)
        if value not in options:
            raise where.error(f"'{value}' is not one of {', '.join(options)}{did_you_mean(value, options)}")
    return value


def get_list(value: Any, where: Where) -> LineList:
    if not isinstance(value, list):
        raise where.error(f"expected a list, got {type_name(value)}")
    if isinstance(value, LineList):
        return value
    result = LineList(value)
    result.line, result.item_lines = where.line, [where.line] * len(value)
    return result
