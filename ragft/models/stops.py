"""Stop strings applied to generated text, shared by the bundled and the HTTP generators.

Servers and `generate` loops stop *after* the token that completes a stop string, so the raw text still
contains it (or a prefix of it, mid-stream). These helpers cut the text before the first stop string and, when
streaming, hold back just enough characters that a partial stop string is never shown to the user.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

PARAGRAPH_BREAK = "\n\n"


def paragraph_ended(text: str) -> bool:
    """True once `text` has a blank line after its first non-blank character: its first non-empty paragraph,
    all that `answer.clean_answer` keeps, is complete (`Decoding.paragraph`)."""
    return PARAGRAPH_BREAK in text.lstrip()


def text_ended(text: str, stop: Sequence[str], paragraph: bool = False) -> bool:
    """Whether a row's generated `text` has ended by its stop rules: a stop string in it, or (with `paragraph`,
    `Decoding.paragraph`) its first non-empty paragraph complete. One rule for every decoding path."""
    return any(s in text for s in stop) or (paragraph and paragraph_ended(text))


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """`text` up to the earliest stop string, and whether one was found."""
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)


def stream_until_stop(pieces: Iterable[str], stop: Sequence[str]) -> Iterator[str]:
    """Re-chunk `pieces` so the concatenation equals `cut_at_stop(full_text)`; stops consuming at a stop string."""
    stop = [s for s in stop if s]
    hold = max((len(s) for s in stop), default=1) - 1  # chars kept back: they may begin a stop string
    text, emitted = "", 0
    for piece in pieces:
        text += piece
        cut, found = cut_at_stop(text, stop)
        if found:
            if len(cut) > emitted:
                yield cut[emitted:]
            return
        safe = len(text) - hold
        if safe > emitted:
            yield text[emitted:safe]
            emitted = safe
    if len(text) > emitted:
        yield text[emitted:]
