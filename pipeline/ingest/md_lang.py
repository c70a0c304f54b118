"""Language passages in Markdown: `<div lang="fr">` / `<p lang="fr">`, pandoc's fenced
divs `::: {lang=fr}` … `:::` and spans `[texte]{lang=fr}`.

The marks never reach the spoken text: a span is read as its text, fence lines and
attribute braces vanish. A whole block in another language gets `Block.lang` (so the
recipe's `languages:` voice reads it); a span inside a paragraph (`[texte]{lang=fr}`,
`<span lang="fr">`) becomes a passage of it (pipeline.ingest.passages), as in EPUBs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from pipeline.ingest.passages import close_mark, open_mark, split_passages
from pipeline.models import Block

# Sentinel texts for an HTML block that only opens or closes a container (its lang kept).
LANG_OPEN, LANG_CLOSE = "\ufdd2", "\ufdd3"
_ATTR_LANG = re.compile(r"""\blang=["']?([A-Za-z][A-Za-z0-9_-]*)""")
_FENCE_OPEN = re.compile(r"^:{3,}[ \t]*(\{[^{}\n]*\}|[\w-]+)?[ \t]*(?=\S|$)")
_FENCE_CLOSE = re.compile(r"(?:^|\s):{3,}$")
_SPAN = re.compile(r"\[([^\[\]\n]+)\]\{([^{}\n]*)\}")
_HTML_OPEN = re.compile(r"^\s*<(div|section|article|aside|blockquote)\b([^>]*)>\s*$", re.IGNORECASE)
_HTML_CLOSE = re.compile(r"^\s*</(div|section|article|aside|blockquote)\s*>\s*$", re.IGNORECASE)
_SPAN_OPEN = re.compile(r"^<span\b([^>]*)>$", re.IGNORECASE)
_SPAN_CLOSE = re.compile(r"^</span\s*>$", re.IGNORECASE)


def span_mark(content: str, open_spans: list[bool]) -> str | None:
    """Inline `<span lang=…>` / `</span>` as passage marks ("" for a span without lang);
    None when `content` is another tag."""
    opened = _SPAN_OPEN.match(content.strip())
    if opened:
        lang = _ATTR_LANG.search(opened.group(1))
        open_spans.append(lang is not None)
        return open_mark(lang.group(1)) if lang else ""
    if _SPAN_CLOSE.match(content.strip()):
        return close_mark() if open_spans and open_spans.pop() else ""
    return None


def html_container_mark(content: str) -> Block | None:
    """An HTML block that is only `<div lang=…>` or `</div>`: a sentinel for `apply_langs`."""
    opened = _HTML_OPEN.match(content)
    if opened:
        lang = _ATTR_LANG.search(opened.group(2))
        return Block("paragraph", LANG_OPEN, lang.group(1) if lang else None)
    return Block("paragraph", LANG_CLOSE) if _HTML_CLOSE.match(content) else None


def apply_langs(items: Sequence[object]) -> list[object]:
    """Blocks inside a language container get its lang; marks are removed from the text."""
    stack: list[str | None] = []
    out: list[object] = []
    for it in items:
        if not isinstance(it, Block) or it.kind in ("scene_break", "code"):
            out.append(it)
            continue
        if it.text in (LANG_OPEN, LANG_CLOSE):
            if it.text == LANG_OPEN:
                stack.append(it.lang or (stack[-1] if stack else None))
            elif stack:
                stack.pop()
            continue
        text, closing = it.text, False
        fence = _FENCE_OPEN.match(text)
        if fence and (fence.group(1) or not stack):
            attr = _ATTR_LANG.search(fence.group(1) or "")
            stack.append(attr.group(1) if attr else (stack[-1] if stack else None))
            text = text[fence.end():].lstrip()
        elif fence and stack and text.strip(": \n") == "":
            stack.pop()
            continue
        if stack and _FENCE_CLOSE.search(text):
            text, closing = _FENCE_CLOSE.sub("", text).rstrip(), True
        text, span_lang = _spans(text)
        lang = span_lang or (stack[-1] if stack else None) or it.lang
        if text:
            out.extend(split_passages(replace(it, text=text, lang=lang), None))
        if closing:
            stack.pop()
    return out


def _spans(text: str) -> tuple[str, str | None]:
    """The text with `[x]{attrs}` read as x; the lang when one span is the whole text."""
    whole = _SPAN.fullmatch(text.strip())
    if whole:
        lang = _ATTR_LANG.search(whole.group(2))
        return whole.group(1), lang.group(1) if lang else None
    return _SPAN.sub(_span_text, text), None


def _span_text(m: re.Match[str]) -> str:
    lang = _ATTR_LANG.search(m.group(2))
    return open_mark(lang.group(1)) + m.group(1) + close_mark() if lang else m.group(1)
