"""One forward pass that prefills a joining prompt and takes a decode step for the running rows together.

Why: on a CPU a decode step of a 135M model costs ~70-90 ms whatever the number of rows (per-op overhead and
weight reads), and a prompt's prefill ~0.2 s (compute). `ContinuousDecoder` used to stop every row while a
prompt joined: with copied answers of ~8 tokens and prompts of ~240, a run spent as many steps waiting on
prefills as decoding. Here the joiner's tokens and the rows' next tokens go through the weight matrices as one
packed sequence ([1, rows + prompt tokens]: one GEMM per projection), and only attention is split: each row
attends to its own row of the batch cache, the prompt to its own cache (the kept prefix, then itself, causal).
In the benchmark runs a packed pass took about what a lone prefill takes (docs/benchmarks.md, "Packed joins").
A decode step without a joiner is the same pass with no joiner tokens (`ContinuousDecoder._step`), so rows never
attend over padding (`row_attention`) and a lone row gets a filler token (`FILLER`): a row's numbers are then those
of its prompt alone (docs/benchmarks.md, "Answers that do not depend on the batch").

How, without a hand-written model: HF's decoder layers compute projections, RoPE (from per-token position ids,
so packing is exact) and MLP per token; the two per-sequence parts are seams HF offers: the cache (`update`,
which splits the packed keys/values into the rows' cache and the joiner's) and the attention function
(`AttentionInterface.register`, selected for this one call by the config's attention implementation; HF builds
no mask for an implementation it does not know). Models whose layers follow that pattern are listed in
`PACKED_MODELS` (Llama: SmolLM2, the tiny test model); others keep the separate prefill.

HF's own continuous batching (`generate_batch`, paged attention, transformers 5.24) packs the same way, but it
has no per-row logits processors (the copy rule), and in a probe here (2026-12-01: 40 rag prompts, 10 new
tokens, 8 rows) it took 52.5 s on CPU against 12.7 s for `ContinuousDecoder`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

NAME = "ragft_packed"
PACKED_MODELS = frozenset({"llama"})
"""`config.model_type`s whose decoder layers call the cache's `update` then the configured attention function on
per-token projections (checked against HF's forward in tests/test_continuous.py)."""


def packable(model: Any) -> bool:
    """True when a packed join is exact for this model (its type is known to follow the pattern above)."""
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None) in PACKED_MODELS


FILLER = 1
"""Tokens added to a forward pass of a single token (a lone row's decode step) so that no matrix product runs with
one row. Why: on this CPU's oneDNN bfloat16 path a [1, 1536] x [1536, 576] product (the MLP's down projection)
rounds differently from the same row in a product of 2 or more rows (7 of 36,864 outputs over 64 random rows; 2 to
512 rows all agree), and that flip made a lone answer differ from the same question decoded beside others."""


def row_starts(mask: Any) -> list[int]:
    """Each row's first real column in a left-padded batch cache (`mask` [rows, width], 1 = a real token)."""
    return (mask.cumsum(1) == 0).sum(1).tolist()


def row_attention(query: Any, keys: Any, values: Any, starts: list[int], scaling: float) -> Any:
    """Each row's one query over its own columns of the batch cache, never over padding: [rows, heads, dim].

    `query` [rows, heads, dim], `keys`/`values` [rows, kv heads, width, dim]; query head h reads kv head
    h // (heads / kv heads), as HF's `repeat_kv` pairs them. Scores, softmax and the weighted sum in float32.

    Why per row: attending over padding under a mask sums the same numbers in other blocks, and in bfloat16 that
    moved a row's logits by up to 0.6, so a greedy answer depended on which questions shared its batch. A row's
    computation here has the shapes and the numbers it has alone. Why not SDPA: for one query per row this is
    about twice as fast on a CPU (61 vs 124 us for a row of 260 columns; 8 rows: 0.51 ms against 0.84-1.0 ms for one
    masked SDPA call)."""
    import torch

    rows, heads, dim = query.shape
    kv = keys.shape[1]
    out = []
    for i, start in enumerate(starts):
        k, v = keys[i, :, start:].float(), values[i, :, start:].float()  # [kv, columns, dim]
        q = query[i].reshape(kv, heads // kv, dim).float()
        weights = torch.softmax(torch.matmul(q, k.transpose(1, 2)) * scaling, dim=-1)
        out.append(torch.matmul(weights, v).reshape(heads, dim))
    return torch.stack(out).to(query.dtype)


class PackedStep:
    """The per-call state a packed forward reads: `rows` running rows (their batch cache `layers` of keys and
    values [rows, kv heads, width, head dim] and `mask` [rows, width + 1], the new column included) and the
    joiner's cache (`joiner`: per-layer keys and values [1, kv heads, held, head dim] of the kept prefix, or
    None); `update` extends both as the layers run. `filler` trailing tokens are neither a row nor the joiner's
    (`FILLER`): they are not cached, and their attention output is zero."""

    def __init__(self, rows: int, layers: list[Any], mask: Any, joiner: list[tuple[Any, Any]] | None,
                 filler: int = 0) -> None:
        self.rows, self.layers, self.filler = rows, layers, filler
        self.starts = row_starts(mask)
        self.joiner: list[tuple[Any, Any] | None] = list(joiner) if joiner else [None] * len(layers)

    # the cache seam: HF's attention layer hands the packed keys/values of its tokens here
    def update(self, key_states: Any, value_states: Any, layer_idx: int, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        import torch

        r = self.rows
        layer = self.layers[layer_idx]
        # a decode token per row: [1, heads, rows, dim] -> [rows, heads, 1, dim], one new column of the batch
        layer.keys = torch.cat([layer.keys, key_states[0, :, :r].transpose(0, 1).unsqueeze(2)], dim=2)
        layer.values = torch.cat([layer.values, value_states[0, :, :r].transpose(0, 1).unsqueeze(2)], dim=2)
        end = key_states.shape[2] - self.filler
        if end == r:  # a step without a joiner
            return key_states, value_states
        own = self.joiner[layer_idx]
        k, v = key_states[:, :, r:end], value_states[:, :, r:end]
        if own is not None:
            k, v = torch.cat([own[0], k], dim=2), torch.cat([own[1], v], dim=2)
        self.joiner[layer_idx] = (k, v)
        return key_states, value_states

    def get_seq_length(self, layer_idx: int = 0) -> int:  # asked only when no position ids are given
        raise NotImplementedError("a packed step always passes position ids")


def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
              dropout: float = 0.0, *, ragft_packed: PackedStep, **kwargs: Any) -> tuple[Any, None]:
    """The attention function of a packed step: rows over their batch cache, the joiner causally over its own.
    `query` is [1, heads, rows + tokens, dim]; returns [1, rows + tokens, heads, dim] as HF's functions do."""
    import torch

    step = ragft_packed
    r, layer = step.rows, step.layers[module.layer_idx]
    gqa = query.shape[1] != layer.keys.shape[1]
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    rows = row_attention(query[0, :, :r].transpose(0, 1), layer.keys, layer.values, step.starts, scale)
    tokens = query.shape[2] - r - step.filler
    out = [rows.transpose(0, 1).unsqueeze(0)]  # [1, heads, rows, dim]
    if tokens:
        k_own, v_own = step.joiner[module.layer_idx]
        out.append(_causal(query[:, :, r:r + tokens], k_own, v_own, scaling, gqa))
    if step.filler:
        out.append(query.new_zeros(1, query.shape[1], step.filler, query.shape[3]))
    return torch.cat(out, dim=2).transpose(1, 2).contiguous(), None


def _causal(query: Any, k_own: Any, v_own: Any, scaling: float | None, gqa: bool) -> Any:
    """The joiner's `tokens` queries over its own cache (the kept prefix, then itself), causal."""
    import torch
    import torch.nn.functional as F

    tokens, total = query.shape[2], k_own.shape[2]
    seen = torch.arange(total, device=query.device)[None, :] <= torch.arange(total - tokens, total,
                                                                             device=query.device)[:, None]
    return F.scaled_dot_product_attention(query, k_own, v_own, attn_mask=seen, scale=scaling,
                                          enable_gqa=gqa)  # [1, heads, tokens, dim]


@functools.cache
def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, attention)


@contextlib.contextmanager
def packed_attention(model: Any) -> Iterator[None]:
    """Within: the model's attention layers call `attention` (the caller holds the generator's lock, so no other
    forward runs on this model meanwhile)."""
    _register()
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before
