"""Cut a large Markdown source into pieces markdown-it can parse one at a time.

markdown-it builds its whole token list before we see any of it, ~370 bytes per
token, and a token can come from every third character ("a\\n\\n" repeated: 1 MB of
source took 520 MB). Tokens only start at newlines and at the characters its rules
stop at (`RISKY`), so a source with few of those is parsed whole, exactly as before
(every real book: prose has ~2% of them); a larger one is cut where a new top-level
block starts: after a blank line, before an unindented line, never inside a fenced
code block, a multi-line HTML block or the YAML front matter. Only a pathological
source without such a place is cut at a line start (or, for a single huge line, at a
space), which at worst turns one paragraph into two.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

from pipeline.ingest.limits import MARKDOWN_MAX_NESTING

# Characters at which markdown-it's block and inline rules may start a token.
RISKY = "\n!#$%&*+-:<=>@[\\]^_`{}~|"
_DROP_RISKY = str.maketrans("", "", RISKY)
_WINDOW = 1 << 16  # characters counted per step while looking for the budget's end

_FENCE_RE = r"^ {0,3}(`{3,}|~{3,})"
_HTML_OPEN_RE = r"^ {0,3}<(script|pre|style|textarea|!--|\?|!\[CDATA\[|![A-Za-z])"
_SPECIAL_RE = re.compile(f"{_FENCE_RE}|{_HTML_OPEN_RE}", re.MULTILINE | re.IGNORECASE)
_HTML_CLOSE = {kind: re.compile(re.escape(end), re.IGNORECASE) for kind, end in {
    "script": "</script>", "pre": "</pre>", "style": "</style>", "textarea": "</textarea>",
    "!--": "-->", "?": "?>", "![cdata[": "]]>"}.items()}
_TAG_CLOSE = re.compile(">")
# Where a piece may start, best first: after blank lines at an unindented line that is
# neither a definition nor a list item (which could continue a list); at any
# unindented line; at a line indented < 4 (never an indented code block).
_CUTS = (re.compile(r"\n(?:[ \t]*\n)+(?=[^\s:~])(?![-+*][ \t]|\d{1,9}[.)][ \t])"), re.compile(r"\n(?=\S)"),
         re.compile(r"\n(?= {0,3}\S)"))
_FRONT_CLOSE_RE = re.compile(r"\n-{3,}[ \t]*(?:\n|$)")


def risky(text: str, start: int = 0, end: int | None = None) -> int:
    """How many characters of text[start:end] can start a markdown-it token."""
    part = text[start:end]
    return len(part) - len(part.translate(_DROP_RISKY))


def chunks(text: str, budget: int) -> list[tuple[int, int, int]]:
    """(first line, 0-based; start; end) of pieces covering `text` in order; one when small."""
    if risky(text) <= budget:
        return [(0, 0, len(text))]
    spans: list[tuple[int, int, int]] = []
    start, line = 0, 0
    floor = _front_matter_end(text)
    while start < len(text):
        target = max(_budget_end(text, start, budget), floor)
        cut = _cut_at_or_after(text, start, target) if target < len(text) else len(text)
        spans.append((line, start, cut))
        line += text.count("\n", start, cut)
        start = cut
    return spans


def _front_matter_end(text: str) -> int:
    """End of a YAML front matter block at the top (0 when there is none)."""
    if not text.startswith("---"):
        return 0
    close = _FRONT_CLOSE_RE.search(text, 3)
    return close.end() if close else 0


def _budget_end(text: str, start: int, budget: int) -> int:
    """The first position after `start` where the risky characters reach `budget`."""
    pos, left = start, budget
    while pos < len(text):
        window = text[pos:pos + _WINDOW]
        count = len(window) - len(window.translate(_DROP_RISKY))
        if count >= left:
            return pos + _exact(window, left)
        left -= count
        pos += len(window)
    return len(text)


def _exact(window: str, left: int) -> int:
    """Offset in `window` just after its `left`-th risky character."""
    seen = 0
    for i, ch in enumerate(window):
        if ch in RISKY:
            seen += 1
            if seen >= left:
                return i + 1
    return len(window)


def _cut_at_or_after(text: str, start: int, target: int) -> int:
    """A safe place to cut at or after `target`: clean, else any line start, else a space."""
    span = max(target - start, 1)
    for pattern, reach in zip(_CUTS, (4 * span + _WINDOW, 8 * span + _WINDOW, 8 * span + _WINDOW)):
        cut = _first_outside(text, start, target, pattern, min(len(text), target + reach))
        if cut is not None:
            return cut
    if target + 8 * span + _WINDOW >= len(text):  # the rest is short: take it whole
        return len(text)
    resume = _open_block_end(text, start, target)
    if resume is None:  # inside a fence or HTML block that never closes: one piece to the end
        return len(text)
    if resume > target:
        return resume
    space = text.rfind(" ", start + 1, target + 1)  # one huge line: cut it at a space
    return space + 1 if space > start else target


def _first_outside(text: str, start: int, target: int, pattern: re.Pattern[str], limit: int) -> int | None:
    """The first cut `pattern` finds in [target, limit) outside fenced code and HTML blocks."""
    safe, pos = start, target
    while True:
        match = pattern.search(text, pos, limit)
        if match is None:
            return None
        cut = match.end()
        resume = _open_block_end(text, safe, cut)
        if resume is None:
            return None
        if resume == cut:
            return cut
        safe = pos = resume


def _open_block_end(text: str, scan: int, pos: int) -> int | None:
    """`pos` when no fence/HTML block opened in [scan, pos) is still open there, else the
    end of the line that closes it (None: it never closes). `scan` must be outside one."""
    while True:
        # An opener starting before `pos` is at most 12 characters long: look no further.
        opener = _SPECIAL_RE.search(text, scan, min(len(text), pos + 16))
        if opener is None or opener.start() >= pos:
            return pos
        if opener.group(1):  # re-match a fence without the end limit: its full length counts
            opener = _SPECIAL_RE.match(text, opener.start()) or opener
        close = _closing(text, opener)
        if close is None or close > pos:
            return close
        scan = close


def _closing(text: str, opener: re.Match[str]) -> int | None:
    """End of the line that closes the block `opener` starts (None: never closed)."""
    fence = opener.group(1)
    if fence:
        line = text.find("\n", opener.end())
        match = _fence_closer(fence[0], len(fence)).search(text, len(text) if line < 0 else line + 1)
        found = match.start() if match else -1
    else:
        closer = _HTML_CLOSE.get(opener.group(2).lower(), _TAG_CLOSE)
        match = closer.search(text, opener.end())
        found = match.start() if match else -1
    if found < 0:
        return None
    line = text.find("\n", found)
    return len(text) if line < 0 else line + 1


@lru_cache(maxsize=64)
def _fence_closer(char: str, length: int) -> re.Pattern[str]:
    return re.compile(rf"^ {{0,3}}{re.escape(char)}{{{length},}}[ \t]*$", re.MULTILINE)


# --- the parser ------------------------------------------------------------------------


class MarkdownLimit(Exception):
    """Input beyond what we can read safely; `line` is 0-based within the parsed piece
    (None until the caller knows it). `read_markdown` turns it into a BookError."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _nesting_guard(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """First block rule: refuse text nested deeper than markdown-it would keep.

    markdown-it itself skips such text without a word (`maxNesting`); our limit is one
    level below its own, so it is always this rule that sees the deep line first.
    """
    if state.level >= MARKDOWN_MAX_NESTING:
        raise MarkdownLimit(start_line, (
            f"blockquotes or lists nested more than {MARKDOWN_MAX_NESTING} levels deep (a list level counts 2); "
            "the text there cannot be read"))
    return False


@lru_cache(maxsize=4)
def make_parser(front_matter: bool = True, refs_only: bool = False) -> MarkdownIt:
    """CommonMark + GFM tables/strikethrough + front matter, footnotes, definition lists.

    Footnote bodies stay where they are written (`footnote_tail` off: it would re-emit
    every footnote for each piece) and the walker skips them. `refs_only` parses blocks
    only: it fills `env` with link references and footnote labels for later pieces.
    """
    md = MarkdownIt("commonmark", {"html": True, "maxNesting": MARKDOWN_MAX_NESTING + 1})
    md.enable(["table", "strikethrough"])
    if front_matter:
        md.use(front_matter_plugin)
    md.use(footnote_plugin).use(deflist_plugin)
    md.block.ruler.before(md.block.ruler.get_all_rules()[0], "nesting_guard", _nesting_guard)
    md.core.ruler.disable("footnote_tail")
    if refs_only:
        md.core.ruler.disable(["inline", "text_join"])
    return md
