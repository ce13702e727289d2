"""Copy-constrained decoding: the answer may only be text copied from the given context (plus `[n]` markers).

Why: a 135M model given the right chunk still writes "3" where the chunk says "30", or "1" taken from the key
"TR-1". Constraining decoding to copies of the context turns it into an extractive reader: each step keeps only
the best-scored candidate tokens whose text keeps the answer a copy (docs/benchmarks.md, ## Answers).

The rule works on text, not token ids, so it does not care how the tokenizer split the context:
- the answer is a sequence of *segments* separated by citation markers `[n]`, sentence punctuation followed by a
  space, or a newline; every segment must be a contiguous, case-insensitive, whitespace-normalised substring of
  the context (`mode="span"`), or every word of it must occur in the context (`mode="words"`, the looser bag rule);
- a segment must start whole and a finished one must be whole at both ends in some occurrence, so "3" cannot stop inside "30", "8" inside
  "89.00", and "1" is not a copy of the key "TR-1" (numbers are copied whole, as in `citations.fact_tokens`);
- `[`, digits and `]` are allowed while a marker is open; EOS is allowed when the answer is at a boundary;
- an optional "The answer is:" lead-in is free (SmolLM2 insists on it; `answer.clean_answer` strips it).

Only the `top_k` best-scored candidates are checked at each step (greedy needs the first valid one), so the
cost is a few dozen short decodes per token. If no candidate is valid, EOS is forced: the answer stops.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any, Literal

Mode = Literal["span", "words"]
_SEP = re.compile(r"\[\d+\]|[.;:!?,](?=\s)|\n")
_OPEN_MARKER = re.compile(r"\s*\[\d{0,3}$")
_WORD = re.compile(r"[^\W_]+")
_LEAD_IN_FULL = re.compile(r"^\s*the\s+answer\s+is\b\s*:?\s*", re.IGNORECASE)
_LEAD_IN_TEXT = "the answer is: "
"""Tiny models announce their answer; the lead-in is free text (clean_answer strips it), the rest is a copy."""


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


_FREE_ANSWERS = ("yes", "no")


class CopyChecker:
    """Decides whether a partial answer is still a copy of `context` (pure text logic, tested without a model)."""

    def __init__(self, context: str, mode: Mode = "span") -> None:
        self.context = _norm(context)
        self.mode = mode
        self.words = set(_WORD.findall(self.context))

    def _segment_ok(self, seg: str, complete: bool) -> bool:
        s = _norm(seg)
        s = s.strip(" \"'()")
        if not s:
            return True
        # "Yes"/"No" answer a yes/no question whether or not the sources contain the word: without this, a
        # context that happens to contain "no" (and no "yes") forced every yes/no answer to "No".
        bare = s.rstrip(".,;:!?") if complete else s
        if any(a == bare or (not complete and a.startswith(bare)) for a in _FREE_ANSWERS):
            return True
        if complete and s[-1] in ".,;:!?":  # trailing punctuation after a complete span
            s = s[:-1].rstrip()
            if not s:
                return True
        if self.mode == "words":
            toks = _WORD.findall(s)
            last_partial = not complete and bool(s) and s[-1].isalnum()
            full, part = (toks[:-1], toks[-1:]) if last_partial else (toks, [])
            if any(t not in self.words for t in full):
                return False
            return all(any(w.startswith(p) for w in self.words) for p in part)
        # A partial segment must already start whole (so a copy cannot begin inside "TR-1" or "30").
        return self._ends_at_boundary(s, need_right=complete)

    def _ends_at_boundary(self, s: str, need_right: bool = True) -> bool:
        """True when some occurrence of `s` in the context is whole at both ends: not glued to a letter or digit,
        and a number not glued to a key either ("1" in "TR-1", "0" in "89.00" are pieces, not copies)."""
        ctx = self.context
        start = ctx.find(s)
        while start >= 0:
            end = start + len(s)
            right_ok = end == len(ctx) or not (ctx[end].isalnum() and s[-1].isalnum())
            if s[-1].isdigit() and end + 1 < len(ctx) and ctx[end] in "-.,/" and ctx[end + 1].isalnum():
                right_ok = False
            left_ok = start == 0 or not (ctx[start - 1].isalnum() and s[0].isalnum())
            if s[0].isdigit() and start >= 2 and ctx[start - 1] in "-.,/" and ctx[start - 2].isalnum():
                left_ok = False
            if left_ok and (right_ok or not need_right):
                return True
            start = ctx.find(s, start + 1)
        return False

    def ok(self, text: str, finished: bool = False) -> bool:
        """True when `text` (the answer so far) is a valid copy; `finished` also requires a clean ending."""
        head = text.lstrip()
        if not finished and head and _LEAD_IN_TEXT.startswith(" ".join(head.lower().split(" "))):
            return True  # a partial "The answer is:" lead-in (clean_answer removes it)
        lead = _LEAD_IN_FULL.match(text)
        if lead is not None:
            text = text[lead.end():]
        marker = _OPEN_MARKER.search(text)
        if marker is not None:
            if finished:
                return False
            text = text[: marker.start()]
            finished_seg = True  # a marker may only open after a complete span
        else:
            finished_seg = finished
        parts = _SEP.split(text)
        # Earlier segments were checked when they were produced; each closed by a separator must be complete.
        for closed in parts[:-1]:
            if not self._segment_ok(closed, complete=True):
                return False
        last = parts[-1]
        if finished_seg or (marker is not None):
            return self._segment_ok(last, complete=True)
        return self._segment_ok(last, complete=False)


class RowConstraint:
    """The copy rule applied to one row's next-token scores: keeps the best-scored candidates that keep the row's
    answer a copy (`CopyChecker`), masks the rest; forces EOS when none is valid.

    Shared by the transformers `LogitsProcessor` below (HF `generate`) and the continuous decoding loop
    (models/continuous.py), so both paths choose exactly the same tokens."""

    def __init__(self, tokenizer: Any, eos_ids: set[int], top_k: int = 64, keep: int = 1) -> None:
        self.tokenizer, self.eos_ids, self.top_k, self.keep = tokenizer, eos_ids, top_k, keep
        self._piece: dict[int, str] = {}

    def piece(self, token_id: int) -> str:
        if token_id not in self._piece:
            self._piece[token_id] = self.tokenizer.decode([token_id], skip_special_tokens=False)
        return self._piece[token_id]

    def apply(self, out: Any, scores: Any, checker: CopyChecker, ids: Sequence[int]) -> None:
        """Write into `out` (one row of scores, a torch tensor) the scores the rule keeps, -inf elsewhere; `scores`
        is the row before masking and `ids` the row's answer tokens so far."""
        import torch

        out.fill_(float("-inf"))
        so_far = self.tokenizer.decode(list(ids), skip_special_tokens=True)
        kept = 0
        top = torch.topk(scores, min(self.top_k, scores.shape[-1]))
        # Best score first, the lower token id among equal (tie-quantised, see tie_break) scores:
        # topk's order of equal values is not specified, this one is.
        order = sorted(zip(top.values.tolist(), top.indices.tolist()), key=lambda vt: (-vt[0], vt[1]))
        for _, tid in order:
            if tid in self.eos_ids:
                valid = checker.ok(so_far, finished=True)
            else:
                valid = checker.ok(so_far + self.piece(tid))
            if valid:
                out[tid] = scores[tid]
                kept += 1
                if kept >= self.keep:
                    break
        if kept == 0:
            for e in self.eos_ids:
                out[e] = 0.0


@functools.cache
def _processor_class() -> type:
    from transformers import LogitsProcessor

    class CopyLogitsProcessor(LogitsProcessor):
        """Masks every token except the best-scored ones that keep the generated text a copy of the context.

        One context per batch row (None: that row is unconstrained); rows start their answers at `prompt_len`
        (prompts are left-padded to one length). A row that has produced EOS is left alone: its later tokens
        are padding that generate discards.
        """

        def __init__(self, tokenizer: Any, prompt_len: int, contexts: Sequence[str | None], mode: Mode,
                     eos_ids: set[int], top_k: int = 64, keep: int = 1) -> None:
            self.prompt_len, self.eos_ids = prompt_len, eos_ids
            self.checkers = [None if c is None else CopyChecker(c, mode) for c in contexts]
            self.rule = RowConstraint(tokenizer, eos_ids, top_k, keep)

        def __call__(self, input_ids, scores):  # type: ignore[no-untyped-def]
            out = scores.clone()
            for row, checker in enumerate(self.checkers):
                ids = input_ids[row, self.prompt_len :].tolist()
                if checker is None or self.eos_ids.intersection(ids):
                    continue
                self.rule.apply(out[row], scores[row], checker, ids)
            return out

    return CopyLogitsProcessor


TIE_QUANTUM = 1 / 16
"""Logits are rounded to this grid before greedy choices (`tie_break`): differences below it are near-ties."""


@functools.cache
def _tie_class() -> type:
    import torch
    from transformers import LogitsProcessor

    class TieBreakLogits(LogitsProcessor):
        """Round logits to a grid of TIE_QUANTUM so near-ties become exact ties, which greedy argmax (and the copy
        rule's ordering) resolve to the lower token id.

        Why: 1 vs 2 torch threads (or a busy machine picking another kernel split) change logits by ~1e-5; when
        two candidates are that close, the greedy answer flipped between runs. After rounding, only a logit lying
        within ~1e-5 of a grid line can still move, instead of every near-tie.
        """

        def __init__(self, quantum: float = TIE_QUANTUM) -> None:
            self.quantum = quantum

        def __call__(self, input_ids, scores):  # type: ignore[no-untyped-def]
            finite = torch.isfinite(scores)
            rounded = torch.round(scores / self.quantum) * self.quantum
            return torch.where(finite, rounded, scores)

    return TieBreakLogits


def tie_break(quantum: float = TIE_QUANTUM) -> Any:
    """A transformers LogitsProcessor making greedy choices between near-tied tokens deterministic."""
    return _tie_class()(quantum)


def copy_processor(tokenizer: Any, prompt_len: int, context: str | Sequence[str | None], mode: Mode = "span",
                   eos_ids: set[int] | None = None, keep: int = 1) -> Any:
    """A transformers LogitsProcessor enforcing `CopyChecker(context, mode)` on the new tokens; `context` may be
    one string per batch row (None leaves that row unconstrained)."""
    eos = set(eos_ids or ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()))
    contexts = [context] if isinstance(context, str) else list(context)
    return _processor_class()(tokenizer, prompt_len, contexts, mode, eos, keep=keep)
