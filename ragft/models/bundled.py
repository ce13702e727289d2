"""`TransformersGenerator`: the offline generator (bundled GGUF, local HF folder) run with transformers on the CPU or a
GPU (`[generator] device` / `dtype`, see `weights.resolve_placement`).

One base model serves every strategy: `base` and `rag` run it with adapters disabled, `ft` and `hybrid` switch
a PEFT LoRA adapter on for the call (`adapter=` path). Adapters load onto that same model once and are cached
by path, so a comparison between strategies isolates the strategy, not the weights.

Prompting: the tokenizer's chat template with `add_generation_prompt=True` (SmolLM2-Instruct has one). A base
model without a template (Gemma 3 270M) gets a plain completion prompt built from the messages, see
`completion_prompt`. Greedy when temperature == 0. Generation holds a lock: one model on 2 cores gains nothing
from running two generations at once; instead many prompts share each forward pass: `generate_batch` and
`open_run` decode greedy answers continuously (models/continuous.py: up to `width` rows, a finished row's place
taken by the next prompt at the next step), and concurrent `generate` calls (the server's threads) join such
runs through this generator's own coalescer, whose `arrivals` the server marks for the requests it sends here
(models/batcher.py). Greedy streams take the same decoder, one row (models/streaming.py); sampled answers run HF
`generate`. Every computation of the model (loading, adapters, prefills, decode steps, streams) runs on the
process's compute thread (models/compute.py), whichever thread calls: torch's OpenMP threads slow down for the
whole process once several threads have computed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ragft.errors import ConfigError, ModelError
from ragft.models.base import BatchItem, Decoding, GeneratorBase, Message
from ragft.models.batcher import Arrivals, Coalescer
from ragft.models.compute import compute_thread
from ragft.models.continuous import ContinuousDecoder, DecodeStats, PrefixCache, Prompt, plain_cache
from ragft.models.stops import cut_at_stop, stop_criteria_class, stream_until_stop
from ragft.models.streaming import continuous_pieces
from ragft.models.weights import (BUNDLED, DTYPES, Placement, float_folder, load_causal_lm, quiet_peft, resolve,
                                  resolve_placement)

__all__ = ["BUNDLED", "TransformersGenerator", "completion_prompt", "load_causal_lm"]

log = logging.getLogger(__name__)

MAX_BATCH = 8
"""The most concurrent `generate` calls decoded together (docs/benchmarks.md, ### Batched generation)."""
BATCH_WINDOW_S = 2.0
"""The longest a batch waits for server requests already admitted but still retrieving (models/batcher.py); it
only waits while such requests exist, and a generation takes several seconds."""
BATCH_FOLLOW_S = 0.2
"""The longest a batch smaller than the last one waits for more callers (models/batcher.py: closed-loop clients
come back a few milliseconds after their answers; a generation takes a second or more)."""


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


class TransformersGenerator(GeneratorBase):
    """A causal LM from the float cache, with optional LoRA adapters switched per call.

    Args:
        model: bundled name (`smollm2-135m`, `gemma3-270m`), a local HF folder, or a `.gguf` file.
        context_window: prompt + answer token budget; prompts longer than `context_window - max_tokens` keep
            their last tokens (a warning is logged; callers should budget the prompt, see answer.py).
        name: display name; defaults to the spec.
        device, dtype: `[generator] device` / `dtype` (auto: a CUDA GPU when there is one, else the CPU, in
            bfloat16 where it has bfloat16 units; see `weights.resolve_placement`).

    The constructor only checks the spec (and a GPU placement asked for by name); weights load on first use
    (`warm_up()` to force it).
    """

    def __init__(self, model: str = "smollm2-135m", context_window: int = 2048, name: str | None = None,
                 device: str = "auto", dtype: str = "auto") -> None:
        self.spec = model
        self._source = resolve(model)  # raises ConfigError now for an unknown name / bad path
        self._asked = (device, dtype)
        self._placement: Placement | None = None
        if device not in ("auto", "cpu") or dtype not in ("auto", *DTYPES):
            self._placement = resolve_placement(device, dtype)  # ConfigError now for a GPU torch cannot see
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
        self._coalescer = Coalescer(self.generate_batch, max_batch=MAX_BATCH, window_s=BATCH_WINDOW_S,
                                    follow_s=BATCH_FOLLOW_S, continuous=self.open_run)
        self._prefixes: dict[str | None, PrefixCache] = {}  # adapter -> the KV cache of the fixed prompt prefix
        self._turn = threading.Condition()  # streams waiting for `_gen_lock` go before the next continuous run
        self._streams_waiting = 0
        self.decoded = DecodeStats()  # totals of the continuous runs (benchmarks/batching.py reports them)

    @property
    def placement(self) -> Placement:
        """The resolved device and dtype. A GPU asked for by name is resolved (and refused when torch cannot see
        it) in the constructor; `auto` and `cpu` only here, on first use: resolving needs torch (~2 s to import
        on a laptop CPU), and a `ragft ask` whose question the sources cannot answer never generates."""
        if self._placement is None:
            with self._load_lock:
                if self._placement is None:
                    self._placement = resolve_placement(*self._asked)
        return self._placement

    # ------------------------------------------------------------------ loading
    def warm_up(self) -> None:
        """Load the weights now (first call converts a GGUF into the cache, later calls are ~0.4 s), on the
        process's compute thread like every computation of the model (models/compute.py)."""
        if self._model is None:
            compute_thread().run(self._load)

    def _load(self) -> None:
        with self._load_lock:
            if self._model is None:
                t0 = time.perf_counter()
                # the tokenizer `count_tokens` already loaded (prompts are fitted before generating) is kept
                self._model, self._tokenizer = load_causal_lm(self.spec, self.placement, self._tokenizer)
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

    def _prefix(self, adapter: str | None) -> PrefixCache:
        """The KV cache of the fixed prompt prefix for this adapter state (models/continuous.py, `PrefixCache`).

        The fixed prefix is every message before the last one (the system prompt, and the worked example of the
        oneshot layout) and the constant opening of the last one (`BatchItem.head`: the data block's first
        line): 63 of a rag prompt's ~280 tokens at the default layout, 166 of ~400 with the example. Why:
        prefill is compute-bound on a CPU, and that prefix is the same for every question. Nothing after it
        is kept, although a question asked again shares its whole prompt (2.4x faster measured): the server
        answers many callers with one generator, and how fast an answer comes would tell a caller whether
        someone else just asked the same question over the same sources. Greedy answers are those of a full
        prefill: the logits differ by ~3e-5, far below the tie-break's 1/16."""
        return self._prefixes.setdefault(adapter, PrefixCache())

    def _fixed_prefix(self, messages: Sequence[Message], ids: list[int], head: str = "") -> int:
        """How many leading tokens of `ids` are the messages before the last one and then the last one's constant
        `head` (`BatchItem.head`); 0 if `ids` do not start with those messages (a left-truncated prompt, one
        message, no chat template).

        The head ends where the caller's text begins, and a token may span that boundary ("\n[" of the first
        source's number): only the tokens `ids` share with the head's own tokenisation count, so the prefix
        holds template text alone."""
        tok = self.tokenizer
        if len(messages) < 2 or not getattr(tok, "chat_template", None):
            return 0
        earlier = list(messages[:-1])
        text = tok.apply_chat_template(earlier, add_generation_prompt=False, tokenize=False)
        prefix = tok(text, add_special_tokens=False)["input_ids"]
        if list(ids[:len(prefix)]) != list(prefix):
            return 0
        if not head or not messages[-1]["content"].startswith(head):
            return len(prefix)
        whole = tok.apply_chat_template(earlier + [{**messages[-1], "content": head}], add_generation_prompt=False,
                                        tokenize=False)
        end = whole.find(head, len(text))
        if end < 0:  # a template that rewrites the content: keep the messages' prefix only
            return len(prefix)
        longer = tok(whole[:end + len(head)], add_special_tokens=False)["input_ids"]
        n = len(prefix)
        while n < min(len(longer), len(ids) - 1) and longer[n] == ids[n]:
            n += 1
        return n

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _generate_kwargs(self, rows: Sequence[list[int]], constraints: Sequence[str | None], decoding: Decoding,
                         cancel: threading.Event | None = None, cache: Any = None) -> dict:
        """`generate` arguments for prompts `rows` (token ids), left-padded to one length; `cache`: the one row's KV
        cache (`PrefixCache.start`): the tokens it holds are not prefilled again.

        Left padding: every row's answer starts at the same column, so the new tokens are `out[:, width:]` and the
        copy rule and stop strings see each row's own answer; the attention mask hides the padding (transformers
        derives position ids from it, so a padded prompt is positioned as the unpadded one).
        """
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        tok = self.tokenizer
        greedy = decoding.temperature <= 0
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        cfg = GenerationConfig(
            max_new_tokens=decoding.max_tokens,
            do_sample=not greedy,
            temperature=None if greedy else decoding.temperature,
            top_p=None if greedy else 0.95,
            top_k=None,
            eos_token_id=tok.eos_token_id,
            pad_token_id=pad,
        )
        width = max(len(ids) for ids in rows)
        device = self.placement.device
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in rows], dtype=torch.long, device=device)
        attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows], dtype=torch.long,
                                      device=device)
        processors = LogitsProcessorList()
        if greedy:  # near-ties decided by a rule, not by floating-point noise (constrain.py)
            from ragft.models.constrain import tie_break

            processors.append(tie_break())
        if any(c is not None for c in constraints):
            from ragft.models.constrain import copy_processor

            processors.append(copy_processor(tok, width, constraints, self.copy_mode, keep=1 if greedy else 8))
        stopping = stop_criteria_class()(tok, width, decoding.stop, cancel or threading.Event(), decoding.paragraph)
        extra = {} if cache is None else {"cache": cache}
        return {
            **extra,
            "logits_processor": processors,
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "generation_config": cfg,
            "stopping_criteria": StoppingCriteriaList([stopping]),
        }

    # ------------------------------------------------------------------ Generator protocol
    def complete(self, messages: Sequence[Message], decoding: Decoding, constrain_to: str | None,
                 streaming: bool) -> Iterator[str]:
        """The completion in pieces. `constrain_to`: copy-constrained decoding, every answer segment must be a copy
        of this text (ragft/models/constrain.py; `copy_mode` "span" or "words").

        Streams (`stream`) run here; a whole answer has one path, `generate_batch` (`generate` reaches it through
        the coalescer), which a non-streaming `complete` also takes, returning the answer as one piece."""
        if not streaming:
            return iter(self.generate_batch([BatchItem(messages, constrain_to)], decoding))
        return self._stream(messages, decoding, constrain_to)

    def _stream(self, messages: Sequence[Message], decoding: Decoding, constrain_to: str | None) -> Iterator[str]:
        _check(decoding)
        with self._turn:
            self._streams_waiting += 1  # a continuous run admits nothing more until this stream has the lock
        try:
            self._gen_lock.acquire()
        finally:
            with self._turn:
                self._streams_waiting -= 1
                self._turn.notify_all()
        try:
            yield from self._stream_locked(messages, decoding, constrain_to)
        finally:
            self._gen_lock.release()

    def _stream_setup(self, state: contextlib.ExitStack, messages: Sequence[Message], decoding: Decoding,
                      constrain_to: str | None) -> tuple[Any, list[int], PrefixCache, Any, dict | None]:
        """The model in the decoding's adapter state (entered into `state`), the prompt, and for HF `generate` (a
        sampled stream) its kept prefix prefilled and its arguments, else None (on the compute thread)."""
        runner, context = self._activate(decoding.adapter)
        state.enter_context(context)
        ids = self.prompt_ids(messages, decoding.max_tokens)
        prefix = self._prefix(decoding.adapter)
        if continuous(runner, decoding):  # the continuous decoder starts from the kept prefix itself
            return runner, ids, prefix, None, None
        cache, _ = prefix.start(runner, ids)
        return runner, ids, prefix, cache, self._generate_kwargs([ids], [constrain_to], decoding, cache=cache)

    def _stream_locked(self, messages: Sequence[Message], decoding: Decoding, constrain_to: str | None) -> Iterator[str]:
        compute = compute_thread()
        state = contextlib.ExitStack()  # the adapter state: left after the finally below has joined the generation
        try:
            runner, ids, prefix, cache, kwargs = compute.run(self._stream_setup, state, messages, decoding,
                                                             constrain_to)
            t0 = time.perf_counter()
            greedy = kwargs is None  # models/streaming.py; the decoder keeps the prefix itself
            pieces = (continuous_pieces(self._decoder(runner, decoding, 1),
                                        Prompt(ids, constrain_to, self._fixed_prefix(messages, ids))) if greedy
                      else self._stream_pieces(runner, kwargs))  # kwargs: HF `generate`'s, for a sampled stream
            text = ""
            failed = False
            try:
                for piece in stream_until_stop(pieces, decoding.stop):
                    text += piece
                    yield piece
            except Exception:
                failed = True  # a generation that failed midway may have left the cache half-written
                raise
            finally:
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()  # joins the generation thread: the cache is no longer written to
                if not failed and not greedy:  # finished, or stopped by the reader between two steps
                    compute.run(prefix.keep, ids, self._fixed_prefix(messages, ids), cache)
                self._log_speed(len(ids), [text], time.perf_counter() - t0)
        finally:
            compute.run(state.close)

    def _decoder(self, runner: Any, decoding: Decoding, width: int) -> ContinuousDecoder:
        """A continuous decoder of greedy `decoding` on `runner` (a run's or a stream's)."""
        return ContinuousDecoder(runner, self.tokenizer, width, decoding.max_tokens, decoding.stop, self.copy_mode,
                                 self._prefix(decoding.adapter), self.placement.device, stats=self.decoded,
                                 paragraph=decoding.paragraph)

    def generate_one(self, item: BatchItem, decoding: Decoding) -> str:
        """One completion; calls from several threads at once (the server) share batches (models/batcher.py)."""
        return self._coalescer.generate(item, decoding)

    @property
    def arrivals(self) -> Arrivals:
        """The server requests on their way to this generator's batches (models/batcher.py): the server's
        `ModelQueue` marks each request here, so a batch waits for this generator's requests only."""
        return self._coalescer.arrivals

    def generate_batch(self, items: Sequence[BatchItem], decoding: Decoding, width: int | None = None) -> list[str]:
        """The completions of `items`, in order, at most `width` (default: all) decoded together: the same prompts,
        rules and stops as `generate` one by one (greedy answers match it up to float reordering, see
        docs/benchmarks.md). Greedy decoding is continuous (`generate_continuous`)."""
        texts: list[str] = [""] * len(items)
        taken = 0

        def admit(n: int) -> Sequence[BatchItem]:
            nonlocal taken
            more = items[taken:taken + n]
            taken += len(more)
            return more

        while taken < len(items):  # a run also ends early to let a waiting stream go first
            self.generate_continuous(admit, decoding, width or len(items), texts.__setitem__, offset=taken)
        return texts

    def generate_continuous(self, admit: Callable[[int], Sequence[BatchItem]], decoding: Decoding, width: int,
                            done: Callable[[int, str], None], offset: int = 0) -> None:
        """Decode the items `admit(n)` gives (up to n at a time, until it gives none), at most `width` together;
        `done(offset + i, text)` gets the i-th item's text (stops cut) as soon as it has ended (`open_run`)."""
        run = self.open_run(decoding, width)
        try:
            run.advance(admit, lambda i, text: done(offset + i, text))
        finally:
            run.close()

    def open_run(self, decoding: Decoding, width: int) -> "GeneratorRun":
        """A continuous run with `decoding`, at most `width` rows together; it holds the generator (its lock and
        adapter state) until `close()`, and any thread may `advance` it, one at a time (models/batcher.py hands a
        run on to another caller when the caller driving it has its answer).

        Greedy decoding on a plain KV cache is continuous (models/continuous.py): a finished row's place is taken
        by the next item at the next step. Sampling, and models with sliding-window caches, run HF `generate` on
        up to `width` items at a time. While a stream waits for the generator, nothing more is admitted: the run
        ends when its rows have, and the stream goes next."""
        _check(decoding)
        with self._turn:
            self._turn.wait_for(lambda: self._streams_waiting == 0)
        self._gen_lock.acquire()
        try:
            return compute_thread().run(GeneratorRun, self, decoding, width)
        except BaseException:
            self._gen_lock.release()
            raise

    def _generate_chunks(self, runner: Any, prompts: Callable[[int], list[Prompt]], decoding: Decoding, width: int,
                         finish: Callable[[int, str], None], number: int = 0,
                         pause: Callable[[], bool] | None = None) -> int:
        """HF `generate` on up to `width` prompts at a time, left-padded (sampling, sliding-window caches); a lone
        prompt starts from the fixed-prefix cache. Stops after a batch when `pause()` is true (nothing is in
        flight then). Returns how many prompts it has taken in all, `number` included."""
        while (pause is None or not pause()) and (batch := prompts(width)):
            rows = [p.ids for p in batch]
            prefix = self._prefix(decoding.adapter)
            cache = prefix.start(runner, rows[0])[0] if len(rows) == 1 else None
            kwargs = self._generate_kwargs(rows, [p.constrain_to for p in batch], decoding, cache=cache)
            t0 = time.perf_counter()
            texts = self._run_generate(runner, kwargs)
            if cache is not None:
                prefix.keep(rows[0], batch[0].fixed, cache)
            self._log_speed(sum(map(len, rows)), texts, time.perf_counter() - t0)
            for text in texts:
                finish(number, text)
                number += 1
        return number

    def _log_speed(self, prompt_tokens: int, texts: Sequence[str], seconds: float) -> None:
        if log.isEnabledFor(logging.DEBUG):
            produced = sum(self.count_tokens(t) for t in texts if t)
            log.debug("%s: %d row(s), prompt %d tokens, %d new tokens in %.2f s (%.1f tok/s)", self.name, len(texts),
                      prompt_tokens, produced, seconds, produced / seconds if seconds > 0 else 0.0)

    def _run_generate(self, runner: Any, kwargs: dict) -> list[str]:
        """The decoded new text of every row (stop strings not cut yet)."""
        import torch

        n_prompt = kwargs["input_ids"].shape[1]
        try:
            with torch.inference_mode():
                out = runner.generate(**kwargs)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"{self.name}: generation failed: {exc}") from exc
        return self.tokenizer.batch_decode(out[:, n_prompt:], skip_special_tokens=True)

    def _stream_pieces(self, runner: Any, kwargs: dict) -> Iterator[str]:
        """Run generate on the compute thread feeding a TextIteratorStreamer; closing this iterator cancels
        generation."""
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

        compute = compute_thread()
        if compute.on_it():  # read on the compute thread itself: it cannot also generate
            raise ModelError(f"{self.name}: a stream cannot be read on the compute thread")
        worker = compute.submit(run)
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
            worker.result()


def continuous(runner: Any, decoding: Decoding) -> bool:
    """True when `decoding` runs on the continuous decoder (greedy, on a model with a plain KV cache), False when
    it runs HF `generate` (sampled, or sliding-window caches)."""
    return decoding.temperature <= 0 and plain_cache(runner)


class GeneratorRun:
    """One continuous run on a `TransformersGenerator` (`open_run`): holds the generator's lock and adapter state
    until `close()`; `advance` decodes, and may pause for another thread to go on with it."""

    def __init__(self, gen: TransformersGenerator, decoding: Decoding, width: int) -> None:
        self.gen, self.decoding, self.width = gen, decoding, width
        self._state = contextlib.ExitStack()
        self.decoder: ContinuousDecoder | None = None
        self._taken = 0  # prompts admitted by the HF `generate` fallback
        with self._state as state:  # a failure here leaves the adapter state as it was (the caller frees the lock)
            self.runner, context = gen._activate(decoding.adapter)
            state.enter_context(context)
            if continuous(self.runner, decoding):
                self.decoder = gen._decoder(self.runner, decoding, width)
            self._state = state.pop_all()  # kept open until `close()`

    def _prompts(self, admit: Callable[[int], Sequence[BatchItem]]) -> Callable[[int], list[Prompt]]:
        gen = self.gen

        def prompts(n: int) -> list[Prompt]:
            if gen._streams_waiting:
                return []
            out = []
            for it in admit(n):
                ids = gen.prompt_ids(it.messages, self.decoding.max_tokens)
                out.append(Prompt(ids, it.constrain_to, gen._fixed_prefix(it.messages, ids, it.head)))
            return out

        return prompts

    def advance(self, admit: Callable[[int], Sequence[BatchItem]], done: Callable[[int, str], None],
                pause: Callable[[], bool] | None = None) -> bool:
        """Decode what `admit` gives until it gives nothing and every row has ended (True), or until `pause()` is
        true at a step boundary with rows left (False: call `advance` again to go on). `done(i, text)`: the i-th
        admitted item's text, stops cut. The decoding runs on the compute thread (models/compute.py), `admit` and
        `done` with it; a caller interrupted meanwhile (Ctrl-C) makes it pause at the next step."""
        cancel = threading.Event()

        def stop() -> bool:
            return cancel.is_set() or (pause is not None and pause())

        return compute_thread().run(self._advance, admit, done, stop, cancel=cancel)

    def _advance(self, admit: Callable[[int], Sequence[BatchItem]], done: Callable[[int, str], None],
                 pause: Callable[[], bool]) -> bool:
        stop = self.decoding.stop

        def finish(i: int, text: str) -> None:
            done(i, cut_at_stop(text, stop)[0])

        if self.decoder is None:  # HF `generate` batches: a pause ends the run (no row is left in flight)
            self._taken = self.gen._generate_chunks(self.runner, self._prompts(admit), self.decoding, self.width,
                                                    finish, self._taken, pause)
            return True
        try:
            ended = self.decoder.run(self._prompts(admit), finish, pause)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"{self.gen.name}: generation failed: {exc}") from exc
        return ended

    def close(self) -> None:
        """Give the generator back (adapter state, then the lock)."""
        try:
            compute_thread().run(self._state.close)
        finally:
            self.gen._gen_lock.release()


def _check(decoding: Decoding) -> None:
    if decoding.max_tokens < 1:
        raise ConfigError(f"max_tokens must be at least 1, got {decoding.max_tokens}")
