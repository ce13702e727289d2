"""`OpenAIGenerator`: any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp server, OpenAI) as a Generator.

Configured in `ragft.toml` under `[generator]` with `kind = "openai"`: `base_url`, `model`, `api_key_env` (the
*name* of an environment variable; the key itself never lives in the file), `timeout_s`, `max_retries`.
Retries with exponential backoff are the official client's own (`max_retries`: connection errors, 408, 409,
429 and 5xx, honouring `Retry-After`). Every failure becomes one clear `RagftError` that names the URL.

LoRA adapters (strategies ft/hybrid) on a remote engine: vLLM (`--enable-lora --lora-modules NAME=PATH`) and TGI
(`--lora-adapters NAME=PATH`) serve each adapter as a model id, and the request's `model` selects it. The
generator receives the adapter's folder (as the bundled one does), looks its record up in the adapter registry
next to it (`adapters/registry.json`), refuses a tainted one (`get_servable`), and sends its served name
(`ragft adapters serve-name`; default the adapter name). Before the first request for a served name it checks that
the server's `/v1/models` lists it, so a missing `--lora-modules` entry is one clear error, not a 404 per question.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ragft.config import GeneratorSettings
from ragft.errors import ConfigError, MissingKeyError, ModelError
from ragft.models.base import Decoding, GeneratorBase, Message
from ragft.models.stops import cut_at_stop, stream_until_stop

log = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
CHARS_PER_TOKEN = 4.0  # OpenAI's rule of thumb for English text with BPE tokenizers
MAX_STOP = 4  # the OpenAI API accepts at most 4 stop sequences; the rest are applied client-side


def _token_counter(model: str):  # -> Callable[[str], int] | None
    """tiktoken's encoding for `model` when tiktoken and its (cached) encoding files are available, else None."""
    try:
        import tiktoken  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        enc = tiktoken.encoding_for_model(model)
    except Exception:  # noqa: BLE001 - unknown model or no network for the encoding file
        try:
            enc = tiktoken.get_encoding("o200k_base")
        except Exception:  # noqa: BLE001
            return None
    return lambda text: len(enc.encode(text, disallowed_special=()))


class OpenAIGenerator(GeneratorBase):
    """Chat completions over HTTP. Cheap constructor: checks settings and the key, opens no connection."""

    def __init__(self, settings: GeneratorSettings) -> None:
        if not settings.model:
            raise ConfigError("generator.model is empty; set it to the model id your server serves (e.g. llama3.2)")
        self.settings = settings
        self.base_url = (settings.base_url or OPENAI_URL).rstrip("/")
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise MissingKeyError(
                    f"generator.api_key_env names ${settings.api_key_env}, which is not set; "
                    f"export {settings.api_key_env}=<your key> (or clear api_key_env for a local server)"
                )
        elif not settings.base_url:
            raise ConfigError(
                "generator.kind = openai with no base_url means api.openai.com, which needs a key: "
                "set generator.api_key_env (e.g. OPENAI_API_KEY), or set base_url to your local server"
            )
        else:
            key = "not-needed"  # local servers (Ollama, llama.cpp, vLLM without --api-key) accept any key
        self.name = settings.model
        self.context_window = settings.context_window
        self._key = key
        self._client: Any = None
        self._count = _token_counter(settings.model)
        self._listed: set[str] = set()  # served names /v1/models was seen to list (only positives are cached)

    @property
    def client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                api_key=self._key,
                base_url=self.base_url,
                timeout=self.settings.timeout_s,
                max_retries=self.settings.max_retries,
            )
        return self._client

    def count_tokens(self, text: str) -> int:
        """tiktoken when installed; otherwise ceil(chars / 4), OpenAI's rule of thumb (the remote tokenizer is
        unknown, so this is an estimate for prompt budgeting, not billing)."""
        if self._count is not None:
            return self._count(text)
        return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0

    def _request(self, messages: Sequence[Message], decoding: Decoding, stream: bool) -> dict:
        adapter, max_tokens = decoding.adapter, decoding.max_tokens
        if not messages:
            raise ConfigError("generate needs at least one message")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {max_tokens}")
        req: dict[str, Any] = {
            "model": self.settings.model if adapter is None else self.served_model(adapter),
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": max_tokens,
            "temperature": decoding.temperature,
            "stream": stream,
        }
        if decoding.stop:
            req["stop"] = list(decoding.stop)[:MAX_STOP]
        return req

    def served_model(self, adapter_path: str) -> str:
        """The model id that selects the adapter stored at `adapter_path` on the remote engine.

        Raises AccessDenied for a tainted, unapproved adapter (it is never requested), NotFoundError for a folder
        no registry knows, ConfigError when the server does not list the served name."""
        from ragft.finetune.registry import AdapterRegistry

        folder = Path(adapter_path)
        registry = AdapterRegistry(folder.parent.parent)  # <workspace>/adapters/<name>
        info = registry.get_servable(registry.name_of_path(folder))
        self.require_listed(info.served, info.name, info.path)
        return info.served

    def list_models(self) -> list[str]:
        """The model ids the server's `/v1/models` lists (base model and loaded LoRA adapters)."""
        import openai

        try:
            return [m.id for m in self.client.models.list()]
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc

    def require_listed(self, served: str, name: str, path: str) -> None:
        """ConfigError naming the `--lora-modules` entry to add when `/v1/models` does not list `served`."""
        if served in self._listed:
            return
        listed = self.list_models()
        if served not in listed:
            raise ConfigError(missing_adapter_message(self.base_url, served, name, path, listed))
        self._listed.add(served)

    def _error(self, exc: Exception, model: str | None = None) -> Exception:
        """Map an openai exception to one clear RagftError naming the URL and the fix (`model`: the one requested)."""
        import openai

        url = self.base_url
        if isinstance(exc, openai.APITimeoutError):
            return ModelError(f"{url} did not answer within {self.settings.timeout_s:g} s "
                              f"(after {self.settings.max_retries} retries); raise generator.timeout_s or check the server")
        if isinstance(exc, openai.APIConnectionError):
            return ModelError(f"could not connect to {url} ({exc.__cause__ or exc}); is the server running? "
                              "check generator.base_url")
        if isinstance(exc, openai.AuthenticationError):
            var = self.settings.api_key_env or "(none; api_key_env is empty)"
            return ConfigError(f"{url} rejected the API key from ${var} (HTTP 401); check the key")
        if isinstance(exc, openai.NotFoundError):
            return ConfigError(f"{url} has no model {(model or self.settings.model)!r} (HTTP 404); check generator.model and base_url")
        if isinstance(exc, openai.APIStatusError):
            return ModelError(f"{url} answered HTTP {exc.status_code}: {_short(exc.message)}")
        return ModelError(f"{url}: {exc}")

    def complete(self, messages: Sequence[Message], decoding: Decoding, constrain_to: str | None,
                 streaming: bool) -> Iterator[str]:
        """`constrain_to` is accepted and ignored: a remote API cannot constrain decoding."""
        stop = list(decoding.stop)
        req = self._request(messages, decoding, stream=streaming)
        if streaming:
            return stream_until_stop(self._stream_raw(req), stop)
        return iter([cut_at_stop(self._complete_once(req), stop)[0]])

    def _complete_once(self, req: dict) -> str:
        import openai

        t0 = time.perf_counter()
        try:
            resp = self.client.chat.completions.create(**req)
        except openai.OpenAIError as exc:
            raise self._error(exc, req["model"]) from exc
        if not resp.choices:
            raise ModelError(f"{self.base_url} returned no choices for model {req['model']!r}")
        text = resp.choices[0].message.content or ""
        usage = getattr(resp, "usage", None)
        dt = time.perf_counter() - t0
        if usage is not None and dt > 0:
            log.debug("%s: %s prompt + %s completion tokens in %.2f s (%.1f tok/s)",
                      self.name, usage.prompt_tokens, usage.completion_tokens, dt, (usage.completion_tokens or 0) / dt)
        return text

    def _stream_raw(self, req: dict) -> Iterator[str]:
        import openai

        try:
            chunks = self.client.chat.completions.create(**req)
        except openai.OpenAIError as exc:
            raise self._error(exc, req["model"]) from exc
        try:
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        except Exception as exc:  # noqa: BLE001 - a transport error mid-stream (read timeout, reset)
            raise ModelError(f"{self.base_url}: the stream broke off: {exc}") from exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


def missing_adapter_message(url: str, served: str, name: str, path: str, listed: Sequence[str]) -> str:
    """One line: which adapter the engine lacks, what it serves, and the engine flag that adds it."""
    alias = f" as {served!r}" if served != name else ""
    return (f"{url} does not serve adapter {name!r}{alias} (its /v1/models lists: {_short(', '.join(listed) or 'nothing', 120)}); "
            f"restart the engine with `--enable-lora --lora-modules {served}={path}` (vLLM; TGI: "
            f"`--lora-adapters {served}={path}`), or map the name with `ragft adapters serve-name {name} SERVED`")


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
