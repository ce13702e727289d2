"""`[generator] device` / `dtype`: validation, what `auto` resolves to, and a local model actually placed that way.

This machine has no GPU: `auto` must pick the CPU (float32, or bfloat16 where the CPU has bfloat16 units; tested on
given flag sets), and asking for a GPU must be a clear error, never a silent CPU run. The GPU branches are exercised by scripts/device_e2e.py on a GPU machine.
"""

from __future__ import annotations

import pytest
import torch

from ragft.config import GeneratorSettings, Settings, load_settings, save_settings
from ragft.errors import ConfigError
from ragft.models.weights import Placement, resolve_placement

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
no_mps = pytest.mark.skipif(torch.backends.mps.is_available(), reason="checks the no-MPS behaviour")


AVX2 = frozenset({"avx2", "fma"})  # a laptop CPU: no bfloat16 units
AMX = frozenset({"avx2", "avx512_bf16", "amx_bf16", "amx_tile"})  # Sapphire Rapids and later


@no_gpu
def test_auto_picks_cpu_float32_without_bfloat16_units():
    assert resolve_placement(flags=AVX2) == Placement("cpu", "float32")
    assert resolve_placement("auto", "bfloat16", flags=AVX2) == Placement("cpu", "bfloat16")
    assert resolve_placement("cpu", "auto", flags=AVX2) == Placement("cpu", "float32")


@no_gpu
def test_auto_picks_cpu_bfloat16_with_bfloat16_units():
    assert resolve_placement(flags=AMX) == Placement("cpu", "bfloat16")
    assert resolve_placement("cpu", "auto", flags=AMX) == Placement("cpu", "bfloat16")
    assert resolve_placement("cpu", "float32", flags=AMX) == Placement("cpu", "float32")


@no_gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_gpu_torch_cannot_see_is_an_error(device):
    with pytest.raises(ConfigError, match=f"generator.device = '{device}' but torch sees no CUDA GPU"):
        resolve_placement(device, "auto")


@no_mps
def test_mps_without_apple_gpu_is_an_error():
    with pytest.raises(ConfigError, match="no Apple GPU"):
        resolve_placement("mps", "auto")


@pytest.mark.parametrize("field, value", [("device", "gpu"), ("device", "cuda:x"), ("dtype", "float8"), ("dtype", "fp16")])
def test_unknown_values_are_refused_naming_the_field(tmp_path, field, value):
    with pytest.raises(ValueError):
        GeneratorSettings(**{field: value})
    save_settings(tmp_path, Settings())
    path = tmp_path / "ragft.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count(f'\n{field} = "auto"\n') == 1  # only [generator] has this key
    path.write_text(text.replace(f'\n{field} = "auto"\n', f'\n{field} = "{value}"\n'), encoding="utf-8")
    with pytest.raises(ConfigError, match=f"generator.*({field}|{value})"):
        load_settings(tmp_path)


def test_defaults_are_auto():
    s = GeneratorSettings()
    assert (s.device, s.dtype) == ("auto", "auto")
    assert GeneratorSettings(device="cuda:3", dtype="float16").device == "cuda:3"  # valid; checked at load


@no_gpu
def test_generator_loads_on_the_resolved_placement(tiny_model_dir):
    from ragft.models.bundled import TransformersGenerator

    from ragft.models.precision import native_bf16

    auto = TransformersGenerator(str(tiny_model_dir), context_window=512)
    assert auto.placement == Placement("cpu", "bfloat16" if native_bf16() else "float32")
    half = TransformersGenerator(str(tiny_model_dir), context_window=512, dtype="bfloat16")
    assert half.model.dtype == torch.bfloat16 and half.model.device.type == "cpu"
    assert isinstance(half.generate([{"role": "user", "content": "Hello"}], max_tokens=4), str)
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        TransformersGenerator(str(tiny_model_dir), device="cuda")  # at construction, before any weights load


def test_loading_keeps_the_tokenizer_prompts_were_fitted_with(tiny_model_dir):
    """A prompt is fitted (count_tokens loads the tokenizer) before the weights load; the load keeps that
    tokenizer instead of loading a second one (~0.45 s of a cold `ragft ask`)."""
    from ragft.models.bundled import TransformersGenerator

    gen = TransformersGenerator(str(tiny_model_dir), context_window=512)
    assert gen.count_tokens("hello world") > 0
    tokenizer = gen.tokenizer
    gen.warm_up()
    assert gen.tokenizer is tokenizer and tokenizer.pad_token_id is not None


def test_registry_keeps_one_model_per_placement(tiny_model_dir):
    from ragft.models.registry import clear_cache, load_generator

    clear_cache()
    try:
        a = load_generator(GeneratorSettings(model=str(tiny_model_dir), dtype="float32", max_new_tokens=10))
        b = load_generator(GeneratorSettings(model=str(tiny_model_dir), dtype="float32", max_new_tokens=20))
        c = load_generator(GeneratorSettings(model=str(tiny_model_dir), dtype="bfloat16"))
        assert a is b and a is not c and c.placement.dtype == "bfloat16"
    finally:
        clear_cache()


def test_training_precision_follows_the_placement(tmp_path):
    from ragft.finetune.train import TrainArgs, _training_args

    cpu = _training_args(tmp_path, TrainArgs(), has_val=False, on_gpu=False, precision=None)
    assert cpu.use_cpu and not cpu.bf16 and not cpu.fp16
    # the precision is only honoured on a GPU; transformers refuses bf16/fp16 flags without one, so only the
    # CPU mapping is checked here (scripts/device_e2e.py runs the GPU one)
