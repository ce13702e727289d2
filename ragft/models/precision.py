"""Where bfloat16 pays on a CPU: the feature check behind "auto" in `[embedder] bulk_dtype` (this module's
`bulk_dtype`) and `[generator] dtype` (`weights.resolve_placement`).

Why: on a CPU with bfloat16 matrix units (Intel AMX-BF16 or AVX512-BF16: Sapphire Rapids and later Xeons, AMD
Zen 4 and later) a bfloat16 matmul runs several times faster than float32, and all-MiniLM-L6-v2 under torch's
bfloat16 autocast (matmuls in bfloat16, LayerNorm, softmax and pooling in float32) gives vectors within cosine
0.9999 of float32: measured in docs/benchmarks.md ## Ingest, with SciFact nDCG@10. On a CPU without those units
bfloat16 is emulated and slower than float32, so "auto" only picks it where the hardware has them.

Queries are always embedded in float32 (one query costs milliseconds either way; no torch import at search time):
only bulk work (ingest, reembed) in calls of at least `BF16_MIN_TEXTS` texts switches, because the switch loads
sentence-transformers and torch once (a few seconds) and only pays off on a few hundred chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ragft.config import BulkDtype

# Native bfloat16 matmul on x86 as Linux names it in /proc/cpuinfo. ARM (e.g. "bf16" on Graviton 3) is left to
# an explicit setting: torch's CPU bfloat16 kernels there were not measured here.
_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
BF16_MIN_TEXTS = 256  # one ingest flush (ragft.ingest.FLUSH_TEXTS): below it the torch load costs more than it saves


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The feature flags of the first CPU in `cpuinfo` (empty where there is no such file: macOS, Windows)."""
    try:
        with cpuinfo.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def native_bf16(flags: frozenset[str] | None = None) -> bool:
    """True when the CPU multiplies bfloat16 matrices natively (AMX-BF16 or AVX512-BF16); False where the flags
    cannot be read (no /proc/cpuinfo: macOS, Windows)."""
    return bool((cpu_flags() if flags is None else flags) & _BF16_FLAGS)


def bulk_dtype(setting: BulkDtype, devices: Sequence[str] = (), flags: frozenset[str] | None = None) -> str:
    """The dtype bulk embedding runs in: "float32" or "bfloat16".

    auto = bfloat16 when the CPU has native bfloat16 units and no worker `devices` are configured (the worker
    pool runs its own float32 copies of the model; a GPU user sets the dtype there explicitly).
    """
    if setting != "auto":
        return setting
    return "bfloat16" if not devices and native_bf16(flags) else "float32"
