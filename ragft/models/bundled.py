"""`TransformersGenerator`: the offline generator (bundled GGUF, local HF folder) run with transformers on CPU.

One base model serves every strategy: `base` and `rag` run it with adapters disabled, `ft` and `hybrid` switch
a PEFT LoRA adapter on for the call (`adapter=` path). Adapters load onto that same model once and are cached
by path, so a comparison between strategies isolates the strategy, not the weights.

Prompting: the tokenizer's chat template with `add_generation_prompt=True` (SmolLM2-Instruct has one). A base
model without a template (Gemma 3 270M) gets a plain completion prompt built from the messages, see
`completion_prompt`. Greedy when temperature == 0. Generation holds a lock: the server calls from threads and
one model on 2 cores gains nothing from running two generations at once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ragft.errors import ConfigError, ModelError
from ragft.models.base import Message
from ragft.models.stops import stream_until_stop
from ragft.models.weights import BUNDLED, float_folder, load_causal_lm, quiet_peft, resolve

__all__ = ["BUNDLED", "TransformersGenerator", "completion_prompt", "load_causal_lm"]

log = logging.getLogger(__name__)


def completion_prompt(messages: Sequence[Message]) -> str:
    """A plain-text prompt for base models without a chat template.

    System and user contents are kept verbatim, earlier assistant turns follow an "Answer:" cue, and the prompt
    ends with "Answer:" (unless the last user message already ends with it) so a base model continues with the
    answer. Measured on Gemma 3 270M base: "Sources: ... Question: ... Answer:" prompts beat chat-style ones.
    """
    parts: list[str] = []
    for m in messages:
        role, content = m.get("role", "user"), (m.get("content") or "").strip()
        if role == "assistant":
            parts.append(f"Answer: {content}")
        elif content:
            parts.append(content)
    prompt = "\n\n".join(parts)
    if not messages or messages[-1].get("role") != "assistant":
        prompt = prompt if prompt.rstrip().endswith("Answer:") else f"{prompt}\nAnswer:"
    return prompt.rstrip()


@functools.cache  # the class is built on first use so importing this module does not import transformers
def _stop_criteria_class() -> type:
    from transformers import StoppingCriteria

    class StopCriteria(StoppingCriteria):
        """Stop when the new text contains a stop string, or when `cancel` is set (the stream was closed).

        Decodes only the new tokens each step: cheap for answer-length outputs, and unlike transformers'
        `stop_strings` it needs no per-call preprocessing of the whole vocabulary (seconds for a 49k vocab).
        """

        def __init__(self, tokenizer: Any, prompt_len: int, stop: Sequence[str], cancel: threading.Event) -> None:
            self.tokenizer, self.prompt_len, self.stop, self.cancel = tokenizer, prompt_len, list(stop), cancel

        def __call__(self, input_ids, scores, **kwargs) -> bool:  # type: ignore[no-untyped-def]
            if self.cancel.is_set():
                return True
            if not self.stop:
                return False
            text = self.tokenizer.decode(input_ids[0, self.prompt_len :], skip_special_tokens=True)
            return any(s in text for s in self.stop)

    return StopCriteria


def _make_stop_criteria(tokenizer: Any, prompt_len: int, stop: Sequence[str], cancel: threading.Event) -> Any:
    return _stop_criteria_class()(tokenizer, prompt_len, stop, cancel)


class TransformersGenerator:
    """A causal LM from the float cache, with optional LoRA adapters switched per call.

    Args:
        model: bundled name (`smollm2-135m`, `gemma3-270m`), a local HF folder, or a `.gguf` file.
        context_window: prompt + answer token budget; prompts longer than `context_window - max_tokens` keep
            their last tokens (a warning is logged; callers should budget the prompt, see answer.py).
        name: display name; defaults to the spec.

    The constructor only checks the spec; weights load on first use (`warm_up()` to force it).
    """

    def __init__(self, model: str = "smollm2-135m", context_window: int = 2048, name: str | None = None) -> None:
        self.spec = model
        self._source = resolve(model)  # raises ConfigError now for an unknown name / bad path
        self.name = name or (model if model in BUNDLED else self._source.name)
        self.context_window = context_window
        self._load_lock = threading.RLock()
        # A plain Lock, not an RLock: a streaming response may be resumed from another server thread, and a
        # plain Lock can be released by any thread.
        self._gen_lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._adapters: dict[str, str] = {}  # resolved adapter path -> PEFT adapter name
        self._peft: Any = None  # PeftModel around self._model once an adapter is loaded
        self.copy_mode: str = "span"  # rule of `constrain_to`: "span" (contiguous copies) or "words" (bag of words)

    # ------------------------------------------------------------------ loading
    def warm_up(self) -> None:
        """Load the weights now (first call converts a GGUF into the cache, later calls are ~0.4 s)."""
        with self._load_lock:
            if self._model is None:
                t0 = time.perf_counter()
                self._model, self._tokenizer = load_causal_lm(self.spec)
                max_pos = getattr(self._model.config, "max_position_embeddings", None)
                if max_pos and self.context_window > max_pos:
                    log.warning("context_window %d > model maximum %d; using %d", self.context_window, max_pos, max_pos)
                    self.context_window = int(max_pos)
                log.debug("generator %s ready in %.2f s", self.name, time.perf_counter() - t0)

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            with self._load_lock:
                if self._tokenizer is None:
                    from transformers import AutoTokenizer

                    self._tokenizer = AutoTokenizer.from_pretrained(str(float_folder(self.spec)), trust_remote_code=False)
        return self._tokenizer

    @property
    def model(self) -> Any:
        self.warm_up()
        return self._model

    def _activate(self, adapter: str | None) -> tuple[Any, contextlib.AbstractContextManager]:
        """The module to run and a context that puts it into the `adapter` (a PEFT folder) or base state.

        Adapters are injected into the one base model by PEFT (`PeftModel` wraps it on the first adapter; later
        ones are added with `load_adapter`); base calls run inside `disable_adapter()`, which bypasses every
        LoRA layer, so they compute exactly the base model. Called under `_gen_lock`.
        """
        model = self.model
        if adapter is None:
            if self._peft is None:
                return model, contextlib.nullcontext()
            return self._peft, self._peft.disable_adapter()
        path = Path(adapter).expanduser().resolve()
        key = str(path)
        if key not in self._adapters:
            if not (path / "adapter_config.json").is_file():
                raise ConfigError(f"adapter {adapter}: no adapter_config.json there; pass a PEFT adapter folder")
            if not (path / "adapter_model.safetensors").is_file():
                raise ConfigError(
                    f"adapter {adapter}: no adapter_model.safetensors; only safetensors adapters are loaded (never pickle)"
                )
            adapter_name = f"a{len(self._adapters)}"
            t0 = time.perf_counter()
            try:
                if self._peft is None:
                    from peft import PeftModel

                    with quiet_peft():
                        self._peft = PeftModel.from_pretrained(model, str(path), adapter_name=adapter_name, is_trainable=False)
                else:
                    self._peft.load_adapter(str(path), adapter_name=adapter_name, is_trainable=False)
            except Exception as exc:  # noqa: BLE001 - a wrong-base or corrupt adapter becomes one clear error
                raise ModelError(f"adapter {adapter} does not load onto {self.name}: {exc}") from exc
            self._peft.eval()
            self._adapters[key] = adapter_name
            log.debug("loaded adapter %s as %s in %.2f s", path, adapter_name, time.perf_counter() - t0)
        self._peft.set_adapter(self._adapters[key])
        return self._peft, contextlib.nullcontext()

    # ------------------------------------------------------------------ prompting
    def prompt_ids(self, messages: Sequence[Message], max_tokens: int = 0) -> list[int]:
        """Token ids of the prompt for `messages`, left-truncated to fit `context_window - max_tokens`."""
        if not messages:
            raise ConfigError("generate needs at least one message")
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
            ids = tok(text, add_special_tokens=False)["input_ids"]
        else:
            ids = tok(completion_prompt(messages), add_special_tokens=True)["input_ids"]
        budget = max(1, self.context_window - max_tokens)
        if len(ids) > budget:
            log.warning("prompt of %d tokens exceeds the budget of %d; keeping the last %d", len(ids), budget, budget)
            ids = ids[-budget:]
        return list(ids)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _generate_kwargs(self, ids: list[int], max_tokens: int, temperature: float, stop: Sequence[str],
                         constrain_to: str | None = None) -> dict:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        tok = self.tokenizer
        cfg = GenerationConfig(
            max_new_tokens=max_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            top_p=0.95 if temperature > 0 else None,
            top_k=None,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        )
        input_ids = torch.tensor([ids], dtype=torch.long)
        processors = LogitsProcessorList()
        if temperature <= 0:  # greedy: near-ties decided by a rule, not by floating-point noise (constrain.py)
            from ragft.models.constrain import tie_break

            processors.append(tie_break())
        if constrain_to is not None:
            from ragft.models.constrain import copy_processor

            processors.append(copy_processor(tok, len(ids), constrain_to, self.copy_mode,
                                             keep=1 if temperature <= 0 else 8))
        return {
            "logits_processor": processors,
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "generation_config": cfg,
            "stopping_criteria": StoppingCriteriaList([_make_stop_criteria(tok, len(ids), stop, threading.Event())]),
        }

    # ------------------------------------------------------------------ Generator protocol
    def generate(
        self,
        messages: Sequence[Message],
        max_tokens: int = 64,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        adapter: str | None = None,
        *,
        constrain_to: str | None = None,
    ) -> str:
        return "".join(self.stream(messages, max_tokens, temperature, stop, adapter, constrain_to=constrain_to,
                                   _streaming=False))

    def stream(
        self,
        messages: Sequence[Message],
        max_tokens: int = 64,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        adapter: str | None = None,
        *,
        constrain_to: str | None = None,
        _streaming: bool = True,
    ) -> Iterator[str]:
        """Yield the completion in pieces. `constrain_to`: copy-constrained decoding, every answer segment must
        be a copy of this text (ragft/models/constrain.py; `copy_mode` "span" or "words")."""
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {max_tokens}")
        stop = [s for s in (stop or []) if s]
        with self._gen_lock, contextlib.ExitStack() as state:
            runner, context = self._activate(adapter)
            state.enter_context(context)  # exits after the finally below has joined the generation thread
            ids = self.prompt_ids(messages, max_tokens)
            kwargs = self._generate_kwargs(ids, max_tokens, temperature, stop, constrain_to)
            t0 = time.perf_counter()
            if _streaming:
                pieces = self._stream_pieces(runner, kwargs)
            else:
                pieces = iter([self._run_generate(runner, kwargs)])
            text = ""
            try:
                for piece in stream_until_stop(pieces, stop):
                    text += piece
                    yield piece
            finally:
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()
                dt = time.perf_counter() - t0
                produced = self.count_tokens(text) if text else 0
                log.debug(
                    "%s: prompt %d tokens, %d new tokens in %.2f s (%.1f tok/s)",
                    self.name, len(ids), produced, dt, produced / dt if dt > 0 else 0.0,
                )

    def _run_generate(self, runner: Any, kwargs: dict) -> str:
        import torch

        n_prompt = kwargs["input_ids"].shape[1]
        try:
            with torch.inference_mode():
                out = runner.generate(**kwargs)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"{self.name}: generation failed: {exc}") from exc
        return self.tokenizer.decode(out[0, n_prompt:], skip_special_tokens=True)

    def _stream_pieces(self, runner: Any, kwargs: dict) -> Iterator[str]:
        """Run generate in a thread feeding a TextIteratorStreamer; closing this iterator cancels generation."""
        import torch
        from transformers import TextIteratorStreamer

        cancel = kwargs["stopping_criteria"][0].cancel
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=300)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    runner.generate(**kwargs, streamer=streamer)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer thread below
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name=f"generate-{self.name}", daemon=True)
        worker.start()
        finished = False
        try:
            for piece in streamer:
                if piece:
                    yield piece
            finished = True
            if errors:
                raise ModelError(f"{self.name}: generation failed: {errors[0]}") from errors[0]
        finally:
            cancel.set()
            if not finished:  # drain to the end signal so the worker never blocks on the queue
                for _ in streamer:
                    pass
            worker.join()
