"""Continuous batching: greedy decoding of many prompts, at most `width` at a time, a finished row's place taken by
the next prompt at once.

Why: on a CPU a 135M model's decode step is memory-bound, so 8 rows cost little more than one per step
(docs/benchmarks.md, "### Batched generation"). A plain batched `generate` keeps stepping until its longest
answer ends, and most copied answers end much sooner, so most of its later row-steps are padding. Here a row
leaves the batch when it ends (its text is delivered then: a server caller gets its answer without waiting for the
batch), and the next prompt joins at the following step.

How, on HF's KV cache (`DynamicCache`, every layer a `DynamicLayer` of [rows, heads, width, head dim]):
- a joining prompt is prefilled on a copy of the fixed-prefix cache when its prompt starts with that prefix
  (`PrefixCache`: the system prompt, the same for every question), and its first token is chosen; while rows
  decode, its prefill and their next step are one forward pass (models/packed.py, for the model types listed
  there), so the rows do not wait on it; otherwise it is prefilled alone;
- its cache is then left-padded to the batch's width (or the batch to its) and appended as a new row, and each
  row carries its own position ids, as HF `generate` does with left padding. For the model types of
  models/packed.py every step goes through its packed pass, where each row attends to its own columns only
  (`packed.row_attention`) and no matrix product has a single row (`FILLER`), so in bfloat16 a row's logits are
  bit for bit those of the same prompt alone: a greedy answer does not depend on which questions share its batch.
  Other models attend through HF's mask over the padding, equal to alone only up to float reordering;
- a finished row is dropped from the cache, and padding columns every remaining row has are cut off;
- each step feeds every row its last token and chooses the next with the same rules as the HF path of
  `TransformersGenerator` (the 1/16-logit tie-break, then the copy rule per row, `constrain.RowConstraint`), and
  a row ends at EOS, at a stop string in its text, or at `max_tokens`.

Greedy only: sampled answers go through HF `generate` (their seeds are per batch; `TransformersGenerator`).
Models whose cache has other layer kinds (sliding windows: Gemma 3) also do (`plain_cache`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragft.models.constrain import CopyChecker, Mode, RowConstraint, tie_break
from ragft.models.packed import FILLER, PackedStep, packable, packed_attention
from ragft.models.stops import text_ended

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prompt:
    """One prompt to decode: its token ids, the copy rule's context (None: free), and how many leading ids are
    the fixed prefix that `PrefixCache` may hold (0: none)."""

    ids: list[int]
    constrain_to: str | None = None
    fixed: int = 0

    def __post_init__(self) -> None:
        if not self.ids:
            raise ValueError("a prompt needs at least one token")


Admit = Callable[[int], Sequence[Prompt]]
"""Up to n further prompts to start now (an empty list: none waiting); called whenever rows are free."""
Done = Callable[[int, str], None]
"""Prompt number i (in the order `Admit` gave them, from 0) has finished with this raw text (stops not cut)."""


def plain_cache(model: Any) -> bool:
    """True when every layer of the model's `DynamicCache` is a plain `DynamicLayer` (no sliding window), which
    is what the row surgery here assumes."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=model.config).layers)


def cache_of(model: Any, layers: Sequence[tuple[Any, Any]] = ()) -> Any:
    """A `DynamicCache` for `model` holding these per-layer keys and values (the tensors themselves; none: an
    empty cache)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    for layer, (k, v) in zip(cache.layers, layers):
        layer.lazy_initialization(k, v)
        layer.keys, layer.values = k, v
    return cache


class PrefixCache:
    """The KV cache of the fixed prompt prefix (the messages before the last one and the last one's constant
    opening, `BatchItem.head`), kept for the next prompts.

    Only the prefix is kept, never a caller's sources, question or answer (see `TransformersGenerator`).
    `start(ids, fixed)` gives a fresh cache holding a copy of the kept prefix when `ids` starts with it."""

    def __init__(self) -> None:
        self.ids: tuple[int, ...] = ()
        self.layers: list[tuple[Any, Any]] = []

    def held(self, ids: Sequence[int]) -> int:
        """How many leading ids of the prompt `ids` the kept prefix holds (0: it does not start with it)."""
        n = len(self.ids)
        # at least the last prompt token is prefilled: its logits choose the first answer token
        return n if 0 < n < len(ids) and tuple(ids[:n]) == self.ids else 0

    def start(self, model: Any, ids: Sequence[int]) -> tuple[Any, int]:
        """A new cache for the prompt `ids` and how many of its leading ids it already holds."""
        n = self.held(ids)
        if n == 0:
            return cache_of(model), 0
        return cache_of(model, [(k.clone(), v.clone()) for k, v in self.layers]), n

    def keep(self, ids: Sequence[int], fixed: int, cache: Any) -> None:
        """Keep the first `fixed` positions of `cache` (a one-row cache of the prompt `ids`, no padding)."""
        if fixed <= 0 or fixed >= len(ids) or tuple(ids[:fixed]) == self.ids:
            return
        self.layers = [(layer.keys[:, :, :fixed].clone(), layer.values[:, :, :fixed].clone()) for layer in cache.layers]
        self.ids = tuple(ids[:fixed])


@dataclass(eq=False)
class _Row:
    number: int
    checker: CopyChecker | None
    pos: int  # the position id of the next token fed
    new: list[int] = field(default_factory=list)


@dataclass
class DecodeStats:
    """What decoding did: prompts joined (and the seconds their prefills took; a packed join's pass, which also
    steps the rows, counts there), how many joins were packed into the rows' step, forward steps over the batch
    (packed joins included) and row-steps (their ratio is the mean rows per step), and the seconds in all."""

    prompts: int = 0
    packed: int = 0
    prefill_seconds: float = 0.0
    steps: int = 0
    row_steps: int = 0
    seconds: float = 0.0


class ContinuousDecoder:
    """Greedy decoding of prompts from `admit`, at most `width` rows at a time (module docstring).

    Args:
        runner: the model to call (the base model, or the PEFT model in the adapter state wanted).
        tokenizer: its tokenizer (decodes answers for the stop strings and the copy rule).
        width: the most rows decoded together.
        max_tokens, stop: the answer budget and stop strings of every row.
        copy_mode: the copy rule's mode (`constrain.CopyChecker`).
        prefix: the fixed-prefix cache to start prompts from and to fill (None: prefill every prompt whole).
        stats: counters to add this decoder's work to (a generator's totals); a fresh one by default.
        paragraph: a row also ends once its first non-empty paragraph has ended (`Decoding.paragraph`).
    """

    def __init__(self, runner: Any, tokenizer: Any, width: int, max_tokens: int, stop: Sequence[str] = (),
                 copy_mode: Mode = "span", prefix: PrefixCache | None = None, device: str = "cpu",
                 stats: DecodeStats | None = None, paragraph: bool = False) -> None:
        if width < 1:
            raise ValueError(f"width must be at least 1, got {width}")
        self.runner, self.tokenizer, self.width, self.max_tokens = runner, tokenizer, width, max_tokens
        self.stop = [s for s in stop if s]
        self.paragraph = paragraph
        self.copy_mode, self.prefix, self.device = copy_mode, prefix, device
        eos = tokenizer.eos_token_id
        self.eos_ids: set[int] = set() if eos is None else {eos}
        self.rule = RowConstraint(tokenizer, self.eos_ids, keep=1)
        self.tie = tie_break()
        self.stats = stats if stats is not None else DecodeStats()
        self._rows: list[_Row] = []
        self._cache: Any = None
        self._mask: Any = None  # [rows, width] 1 = a real token, 0 = padding
        self._count = 0  # prompts admitted so far
        self.packed = packable(runner)  # joins share a forward pass with the rows' next step (models/packed.py)

    def run(self, admit: Admit, done: Done, pause: Callable[[], bool] | None = None) -> bool:
        """Decode until `admit` has nothing more and every row has ended (True); `done` gets each text as it ends.

        With `pause`, checked after each step: return False as soon as it is true and rows remain; the decoder
        keeps its rows, and `run` (from any thread, one at a time) goes on from there."""
        import torch

        started = time.perf_counter()
        try:
            with torch.inference_mode():
                if not self._rows:
                    self._fill(admit, done)
                while self._rows:
                    logits = self._step()
                    self._advance(logits, self._rows)
                    self._retire(done)
                    self._fill(admit, done)
                    if self._rows and pause is not None and pause():
                        return False
            return True
        finally:
            self.stats.seconds += time.perf_counter() - started

    def partial(self) -> dict[int, list[int]]:
        """Each running row's new tokens so far, by admission number (copies): what a stream has decoded."""
        return {r.number: list(r.new) for r in self._rows}

    # ------------------------------------------------------------------ one step
    def _step(self) -> Any:
        import torch

        rows = self._rows
        self._mask = torch.cat([self._mask, torch.ones(len(rows), 1, dtype=self._mask.dtype, device=self.device)], 1)
        if self.packed:  # each row attends to its own columns (models/packed.py), as it would alone
            filler = FILLER if len(rows) == 1 else 0
            logits, _ = self._packed_pass([r.new[-1] for r in rows] + [rows[0].new[-1]] * filler,
                                          [r.pos for r in rows] + [rows[0].pos] * filler, None, filler, 0)
            logits = logits[:len(rows)]
        else:
            last = torch.tensor([[r.new[-1]] for r in rows], dtype=torch.long, device=self.device)
            pos = torch.tensor([[r.pos] for r in rows], dtype=torch.long, device=self.device)
            out = self.runner(input_ids=last, attention_mask=self._mask, position_ids=pos, cache=self._cache,
                              use_cache=True, logits_to_keep=1)
            logits = out.logits[:, -1, :]
        for r in rows:
            r.pos += 1
        self.stats.steps += 1
        self.stats.row_steps += len(rows)
        return logits

    def _advance(self, logits: Any, rows: Sequence[_Row]) -> None:
        """Choose each row's next token from its logits (the tie-break, then the row's copy rule) and append it."""
        scores = self.tie(None, logits.float())
        out = scores
        if any(r.checker is not None for r in rows):
            out = scores.clone()
            for i, r in enumerate(rows):
                if r.checker is not None:
                    self.rule.apply(out[i], scores[i], r.checker, r.new)
        for r, token in zip(rows, out.argmax(-1).tolist()):
            r.new.append(int(token))

    def _finished(self, row: _Row) -> bool:
        if row.new[-1] in self.eos_ids or len(row.new) >= self.max_tokens:
            return True
        if not self.stop and not self.paragraph:
            return False
        text = self.tokenizer.decode(row.new, skip_special_tokens=True)
        return text_ended(text, self.stop, self.paragraph)

    def _retire(self, done: Done) -> None:
        """Deliver and drop the rows that have ended; cut the padding columns every remaining row has."""
        import torch

        ended = [i for i, r in enumerate(self._rows) if self._finished(r)]
        if not ended:
            return
        for i in ended:
            r = self._rows[i]
            done(r.number, self.tokenizer.decode(r.new, skip_special_tokens=True))
        keep = [i for i in range(len(self._rows)) if i not in set(ended)]
        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._cache = self._mask = None
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.device)
        self._cache.batch_select_indices(index)
        self._mask = self._mask[index]
        lead = int((self._mask.cumsum(1) == 0).sum(1).min())  # leading padding columns of every row
        if lead > 0:
            for layer in self._cache.layers:
                layer.keys, layer.values = layer.keys[:, :, lead:], layer.values[:, :, lead:]
            self._mask = self._mask[:, lead:]

    # ------------------------------------------------------------------ joining
    def _fill(self, admit: Admit, done: Done) -> None:
        """Admit prompts while rows are free (a prompt may end at its first token, freeing its row again)."""
        while len(self._rows) < self.width:
            prompts = list(admit(self.width - len(self._rows)))
            if not prompts:
                return
            for p in prompts:
                if self._rows and self.packed:
                    self._join_packed(p)
                else:
                    self._join(p)
                self._retire(done)

    def _start(self, prompt: Prompt) -> tuple[Any, int]:
        """A cache for `prompt` holding its first `held` ids (a copy of the kept prefix, or nothing), and held."""
        if self.prefix is not None:
            return self.prefix.start(self.runner, prompt.ids)
        return cache_of(self.runner), 0

    def _joined(self, prompt: Prompt, cache: Any, logits: Any, started: float) -> None:
        """The prompt is prefilled into `cache` and `logits` are its last token's: keep the prefix, choose its
        first token and add it as a row."""
        import torch

        if self.prefix is not None:
            self.prefix.keep(prompt.ids, prompt.fixed, cache)
        checker = None if prompt.constrain_to is None else CopyChecker(prompt.constrain_to, self.copy_mode)
        row = _Row(self._count, checker, pos=len(prompt.ids))
        self._count += 1
        self.stats.prompts += 1
        self.stats.prefill_seconds += time.perf_counter() - started
        self._advance(logits, [row])
        self._append(row, cache, torch.ones(1, len(prompt.ids), dtype=torch.long, device=self.device))

    def _join(self, prompt: Prompt) -> None:
        """Prefill `prompt` alone (from the kept prefix when it starts with it), choose its first token, and add
        it as a row of the batch cache."""
        import torch

        started = time.perf_counter()
        cache, held = self._start(prompt)
        ids = prompt.ids
        filler = FILLER if len(ids) - held == 1 else 0  # no one-row products (packed.FILLER); cut off below
        rest = torch.tensor([ids[held:] + ids[-1:] * filler], dtype=torch.long, device=self.device)
        mask = torch.ones(1, len(ids) + filler, dtype=torch.long, device=self.device)
        pos = torch.arange(held, len(ids) + filler, dtype=torch.long, device=self.device)[None]
        out = self.runner(input_ids=rest, attention_mask=mask, position_ids=pos, cache=cache,
                          use_cache=True, logits_to_keep=2)  # two rows for the same reason
        if filler:
            cache.crop(len(ids))
        self._joined(prompt, cache, out.logits[:, -1 - filler, :], started)

    def _join_packed(self, prompt: Prompt) -> None:
        """Prefill `prompt` and step every running row in one forward pass (models/packed.py): the rows advance
        one token (as `_step`), then the prompt joins (as `_join`)."""
        import torch

        started = time.perf_counter()
        rows, ids = self._rows, prompt.ids
        held = self.prefix.held(ids) if self.prefix is not None else 0
        self._mask = torch.cat([self._mask, torch.ones(len(rows), 1, dtype=self._mask.dtype, device=self.device)], 1)
        tokens = [r.new[-1] for r in rows] + list(ids[held:])
        pos = [r.pos for r in rows] + list(range(held, len(ids)))
        own = self.prefix.layers if held and self.prefix is not None else None  # read only: the pass concatenates
        keep = torch.tensor(list(range(len(rows))) + [len(tokens) - 1], device=self.device)
        logits, step = self._packed_pass(tokens, pos, own, 0, keep)
        for r in rows:
            r.pos += 1
        self.stats.steps += 1
        self.stats.row_steps += len(rows)
        self.stats.packed += 1
        self._advance(logits[:len(rows)], rows)
        self._joined(prompt, cache_of(self.runner, step.joiner), logits[len(rows):], started)

    def _packed_pass(self, tokens: list[int], pos: list[int], joiner: Any, filler: int, keep: Any) -> tuple[Any, Any]:
        """One packed forward pass (models/packed.py) of the rows' next tokens, then a joiner's and `filler` tokens
        (`tokens`, at positions `pos`): the logits of the kept positions (`logits_to_keep`) and the pass's state."""
        import torch

        step = PackedStep(len(self._rows), list(self._cache.layers), self._mask, joiner, filler)
        with packed_attention(self.runner):
            out = self.runner(input_ids=torch.tensor([tokens], dtype=torch.long, device=self.device),
                              position_ids=torch.tensor([pos], dtype=torch.long, device=self.device),
                              cache=step, use_cache=True, logits_to_keep=keep, ragft_packed=step)
        return out.logits[0], step

    def _append(self, row: _Row, cache: Any, mask: Any) -> None:
        """Add a one-row cache (no padding) to the batch, left-padding whichever side is narrower."""
        import torch
        import torch.nn.functional as F

        if self._cache is None:
            self._rows, self._cache, self._mask = [row], cache, mask
            return
        width, own = self._mask.shape[1], mask.shape[1]
        grow, pad = max(0, own - width), max(0, width - own)
        for layer, new in zip(self._cache.layers, cache.layers):
            layer.keys = torch.cat([F.pad(layer.keys, (0, 0, grow, 0)), F.pad(new.keys, (0, 0, pad, 0))], 0)
            layer.values = torch.cat([F.pad(layer.values, (0, 0, grow, 0)), F.pad(new.values, (0, 0, pad, 0))], 0)
        self._mask = torch.cat([F.pad(self._mask, (grow, 0)), F.pad(mask, (pad, 0))], 0)
        self._rows.append(row)
