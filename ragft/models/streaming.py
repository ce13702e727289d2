"""A greedy stream decoded by the same `ContinuousDecoder` as every whole answer, its text handed over step by step.

Why: a stream used to run HF `generate`, whose decode steps multiply one row at a time and attend through HF's
SDPA. In bfloat16 those round differently from the continuous decoder (models/packed.py, `FILLER` and
`row_attention`), so the web UI's streamed answer and `ragft ask`'s answer to the same question differed: 4 of 16
free answers on the bundled SmolLM2 (2026-12-02). Decoded here, a stream is the answer `generate_batch` gives, in
pieces. Sampled streams still run HF `generate` (the continuous decoder is greedy only).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

from ragft.errors import ModelError
from ragft.models.compute import compute_thread
from ragft.models.continuous import ContinuousDecoder, Prompt

log = logging.getLogger(__name__)
_END = object()


def stable_text(text: str) -> str:
    """The part of a growing answer's `text` that later tokens cannot change: without a trailing partial
    character (a token may end inside a multi-byte character, decoded as U+FFFD until the next token completes it)
    and without trailing whitespace (a tokenizer that cleans up spaces turns "word ," into "word," once the comma
    comes)."""
    return text.rstrip("\ufffd").rstrip()


def continuous_pieces(decoder: ContinuousDecoder, prompt: Prompt, timeout_s: float = 300.0) -> Iterator[str]:
    """The text of `prompt`'s greedy answer as it grows, one piece per step (a step whose text is not yet stable
    gives none); their concatenation is the text `decoder` delivers at the end. The decoding runs on the compute
    thread; closing this iterator stops it at its next step (its cache is then dropped with the decoder)."""
    compute = compute_thread()
    if compute.on_it():
        raise ModelError("a stream cannot be read on the compute thread")
    pieces: queue.SimpleQueue[Any] = queue.SimpleQueue()
    cancel = threading.Event()
    sent = [""]

    def hand_over(text: str, final: bool = False) -> None:
        if text.startswith(sent[0]) and len(text) > len(sent[0]):
            pieces.put(text[len(sent[0]):])
            sent[0] = text
        elif final and not text.startswith(sent[0]):
            log.warning("stream: the tokenizer changed text it had already streamed; the stream shows %r, the "
                        "answer is %r", sent[0], text)

    def step() -> bool:  # after every step: the running row's text so far; True stops the decoding
        for tokens in decoder.partial().values():
            hand_over(stable_text(decoder.tokenizer.decode(tokens, skip_special_tokens=True)))
        return cancel.is_set()

    def run() -> None:
        admitted = [False]

        def admit(n: int) -> list[Prompt]:
            if admitted[0]:
                return []
            admitted[0] = True
            return [prompt]

        try:
            decoder.run(admit, lambda i, text: hand_over(text, final=True), pause=step)
        except BaseException as exc:  # noqa: BLE001 - raised in the reader's thread below
            pieces.put(exc)
        finally:
            pieces.put(_END)

    worker = compute.submit(run)
    try:
        while True:
            item = pieces.get(timeout=timeout_s)
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        cancel.set()
        worker.result()
