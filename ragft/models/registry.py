"""`load_generator(settings)`: build the configured generator once per process.

Kinds come from the `GENERATOR_KINDS` dict (error messages list its keys). Loading is lazy: the returned
generator loads weights on first use. Instances are cached per settings value (an `lru_cache` on the frozen
settings key, not a mutable global), so two workspaces with the same generator settings share one model in
memory, and workspaces with different settings never see each other's model.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ragft.config import EmbedderSettings, GeneratorSettings
from ragft.errors import ConfigError
from ragft.models.base import Generator


def _bundled(s: GeneratorSettings) -> Generator:
    from ragft.models.bundled import TransformersGenerator

    return TransformersGenerator(s.model, context_window=s.context_window, device=s.device, dtype=s.dtype)


def _openai(s: GeneratorSettings) -> Generator:
    from ragft.models.openai_client import OpenAIGenerator

    return OpenAIGenerator(s)


GENERATOR_KINDS: dict[str, Callable[[GeneratorSettings], Generator]] = {"bundled": _bundled, "openai": _openai}


def load_generator(settings: GeneratorSettings) -> Generator:
    """The generator for `settings` (ConfigError for an unknown model/kind, MissingKeyError for a missing key)."""
    if settings.kind == "bundled":
        # Only these fields shape a bundled model; answer-length and sampling knobs are per call, so they
        # must not load a second copy of the weights.
        settings = GeneratorSettings(kind="bundled", model=settings.model, context_window=settings.context_window,
                                     device=settings.device, dtype=settings.dtype)
    with _BUILD_LOCK:  # lru_cache alone lets two threads' first calls both build (and later load) a model
        return _cached(settings.model_dump_json())


_BUILD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _cached(key: str) -> Generator:
    settings = GeneratorSettings.model_validate_json(key)
    factory = GENERATOR_KINDS.get(settings.kind)
    if factory is None:  # pragma: no cover - the Literal type in config.py already rejects other kinds
        raise ConfigError(f"unknown generator kind {settings.kind!r}: use one of {', '.join(GENERATOR_KINDS)}")
    return factory(settings)


@dataclass
class ModelsReport:
    """Result of `ragft models list`: the configured generator/embedder and the bundled ones (`to_dict()` is its JSON)."""

    generator: dict[str, Any]
    embedder: str
    bundled_generators: list[dict[str, Any]]
    bundled_embedders: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_models(generator: GeneratorSettings, embedder: EmbedderSettings) -> ModelsReport:
    """The bundled generators and embedders (installed? cached?) and what the workspace is configured to use.

    Loads no weights, so `ragft models list` is instant.
    """
    from ragft.models.embedder import BUNDLED_EMBEDDERS
    from ragft.models.weights import BUNDLED, bundled_status

    return ModelsReport(
        generator={"kind": generator.kind, "model": generator.model, "base_url": generator.base_url or None},
        embedder=embedder.model,
        bundled_generators=[
            {"name": name, "default": name == GeneratorSettings().model, **bundled_status(name)} for name in BUNDLED
        ],
        bundled_embedders=[
            {"name": name, "dim": dim, "default": name == EmbedderSettings().model} for name, (_, dim) in BUNDLED_EMBEDDERS.items()
        ],
    )


def clear_cache() -> None:
    """Forget cached generators (tests; or after editing a local model folder in place)."""
    _cached.cache_clear()
