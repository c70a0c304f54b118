"""Inline Markdown tokens → spoken text with line-break marks.

Links read as their text, autolinks and footnote references dropped, inline HTML tags
dropped but their text kept (`<br>` is a hard break, `<img alt>` read on request), and
`<span lang>` turned into passage marks (pipeline.ingest.passages).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it.token import Token

from pipeline.ingest.md_lang import span_mark
from pipeline.ingest.options import IngestOptions

HARD = "\n"  # a hard line break (two trailing spaces, backslash, <br>)
SOFT = "\x0b"  # a soft line break (source line wrap); decided per block later
_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_TAG_NAME = re.compile(r"<\s*([a-zA-Z][a-zA-Z0-9]*)")


def _html_inline(content: str, options: IngestOptions) -> str:
    """Inline HTML: tags vanish; <br> is a hard break, <img alt> spoken only on request."""
    match = _TAG_NAME.match(content)
    name = match.group(1).lower() if match else ""
    if name == "br":
        return HARD
    if name == "img" and options.image_alt:
        alt = _ALT.search(content)
        return " " + next((g for g in alt.groups() if g), "") + " " if alt else ""
    return ""


def inline_text(children: Sequence[Token] | None, options: IngestOptions) -> str:
    """Spoken text of an inline token's children, with HARD/SOFT break marks."""
    out: list[str] = []
    skip_link = False
    spans: list[bool] = []  # open <span>s: whether each has a lang (a passage mark)
    for tok in children or ():
        kind = tok.type
        if skip_link:
            skip_link = kind != "link_close"
        elif kind in ("text", "code_inline", "text_special"):
            out.append(tok.content)
        elif kind == "softbreak":
            out.append(SOFT)
        elif kind == "hardbreak":
            out.append(HARD)
        elif kind == "link_open" and tok.markup == "autolink":
            skip_link = True
        elif kind == "image" and options.image_alt:
            out.append(" " + inline_text(tok.children, options) + " ")
        elif kind == "html_inline":
            mark = span_mark(tok.content, spans)
            out.append(_html_inline(tok.content, options) if mark is None else mark)
    return "".join(out)
