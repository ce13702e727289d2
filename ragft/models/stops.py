"""Stop strings applied to generated text, shared by the bundled and the HTTP generators.

Servers and `generate` loops stop *after* the token that completes a stop string, so the raw text still
contains it (or a prefix of it, mid-stream). These helpers cut the text before the first stop string and, when
streaming, hold back just enough characters that a partial stop string is never shown to the user. The HF
`generate` path of the bundled generator ends rows by the same rule (`stop_criteria_class`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

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


@functools.cache  # the class is built on first use so importing this module does not import transformers
def stop_criteria_class() -> type:
    import torch
    from transformers import StoppingCriteria

    class StopCriteria(StoppingCriteria):
        """Per row: stop when its new text contains a stop string (or, with `paragraph`, once its first non-empty
        paragraph has ended); every row when `cancel` is set (the stream was closed).

        Decodes only the new tokens each step: cheap for answer-length outputs, and unlike transformers'
        `stop_strings` it needs no per-call preprocessing of the whole vocabulary (seconds for a 49k vocab).
        """

        def __init__(self, tokenizer: Any, prompt_len: int, stop: Sequence[str], cancel: threading.Event,
                     paragraph: bool = False) -> None:
            self.tokenizer, self.prompt_len, self.stop, self.cancel = tokenizer, prompt_len, list(stop), cancel
            self.paragraph = paragraph

        def __call__(self, input_ids, scores, **kwargs):  # type: ignore[no-untyped-def]
            rows = input_ids.shape[0]
            if self.cancel.is_set():
                return torch.ones(rows, dtype=torch.bool, device=input_ids.device)
            if not self.stop and not self.paragraph:
                return torch.zeros(rows, dtype=torch.bool, device=input_ids.device)
            texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len :], skip_special_tokens=True)
            ended = [text_ended(t, self.stop, self.paragraph) for t in texts]
            return torch.tensor(ended, dtype=torch.bool, device=input_ids.device)

    return StopCriteria
