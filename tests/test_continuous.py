"""Continuous batching (ragft/models/continuous.py, `TransformersGenerator.open_run`, the coalescer's continuous
runs in models/batcher.py): a row ends and is delivered at its own last token, the next prompt takes its place,
and every answer is the one the prompt gets alone; a paused run goes on from another thread; the coalescer hands
a run on when its leader has its answer; a waiting stream goes before further rows."""

from __future__ import annotations

import threading
import time

import pytest

from ragft.models.base import BatchItem, Decoding
from ragft.models.batcher import Coalescer
from tests.test_batching import _items

STOPS = ["\n\n", "."]


def _decoder(gen, width: int, max_tokens: int = 20):  # type: ignore[no-untyped-def]
    from ragft.models.continuous import ContinuousDecoder

    return ContinuousDecoder(gen.model, gen.tokenizer, width, max_tokens, STOPS, prefix=gen._prefix(None))


def _prompts(gen, items):  # type: ignore[no-untyped-def]
    from ragft.models.continuous import Prompt

    out = []
    for it in items:
        ids = gen.prompt_ids(it.messages, 20)
        out.append(Prompt(ids, it.constrain_to, gen._fixed_prefix(it.messages, ids)))
    return out


def test_rows_end_at_their_own_last_token_and_free_their_place(tiny_generator):
    """Width 2 over 5 prompts of different lengths: each text is delivered at the step its row ends (not when the
    longest row of a batch does), a new prompt joins at once, and the answers are those of each prompt alone."""
    from ragft.models.bundled import cut_at_stop

    items = _items(constrained=True) + _items(constrained=False)[1:4]
    alone = [tiny_generator.generate_batch([it], Decoding.of(max_tokens=20, stop=STOPS))[0] for it in items]
    decoder = _decoder(tiny_generator, width=2)
    prompts = _prompts(tiny_generator, items)
    joined: list[int] = []  # the decoder's step count when each prompt joined
    taken = [0]
    ended: dict[int, tuple[int, str, int]] = {}

    def admit(n: int):  # type: ignore[no-untyped-def]
        more = prompts[taken[0]:taken[0] + n]
        taken[0] += len(more)
        return more

    joined_row = decoder._joined

    def joining(*args):  # type: ignore[no-untyped-def]
        # a prompt joining running rows shares their next step's forward pass (models/packed.py): it joins at it
        joined.append(decoder.stats.steps)
        return joined_row(*args)

    def done(i: int, text: str) -> None:
        row = next(r for r in decoder._rows if r.number == i)  # still in the batch while delivered
        ended[i] = (decoder.stats.steps, text, len(row.new))

    decoder._joined = joining
    assert decoder.run(admit, done) is True
    assert [cut_at_stop(ended[i][1], STOPS)[0] for i in range(len(items))] == alone
    for i, (step, text, n_tokens) in ended.items():
        # the first token comes from the prompt's prefill, then one step per token, and the text is delivered at
        # the step of its last token
        assert step - joined[i] == n_tokens - 1, (i, text)
    assert len({n for _, _, n in ended.values()}) > 1  # rows of different lengths
    assert decoder.stats.prompts == len(items) and decoder.stats.row_steps <= 2 * decoder.stats.steps
    order = sorted(ended, key=lambda i: ended[i][0])
    assert order != sorted(order)  # some later prompt ended before an earlier one: nobody waits for the longest


def test_a_paused_run_goes_on_from_another_thread(tiny_generator):
    items = _items(constrained=True)
    prompts = _prompts(tiny_generator, items)
    whole: dict[int, str] = {}
    assert _decoder(tiny_generator, width=3).run(_feed(prompts), whole.__setitem__)
    decoder, texts = _decoder(tiny_generator, width=3), {}
    admit = _feed(prompts)
    assert decoder.run(admit, texts.__setitem__, pause=lambda: True) is False  # paused after one step
    result: list[bool] = []
    worker = threading.Thread(target=lambda: result.append(decoder.run(admit, texts.__setitem__)))
    worker.start()
    worker.join(60)
    assert result == [True] and texts == whole


def _feed(prompts):  # type: ignore[no-untyped-def]
    taken = [0]

    def admit(n: int):  # type: ignore[no-untyped-def]
        more = prompts[taken[0]:taken[0] + n]
        taken[0] += len(more)
        return more

    return admit


def test_generator_runs_share_the_fixed_prefix_and_give_the_answers_alone(tiny_generator):
    items = _items(constrained=True)
    decoding = Decoding.of(max_tokens=20, stop=STOPS)
    alone = [tiny_generator.generate_batch([it], decoding)[0] for it in items]
    assert tiny_generator.generate_batch(items, decoding, width=3) == alone
    # sampling takes HF generate in batches of `width` (and still answers every item, in order)
    sampled = tiny_generator.generate_batch(items, Decoding.of(max_tokens=6, temperature=0.8), width=2)
    assert len(sampled) == len(items) and all(isinstance(t, str) for t in sampled)


def test_sampled_runs_stop_between_batches_when_their_driver_has_its_answer(tiny_generator):
    """Sampling runs HF `generate` a batch at a time; a pause after a batch ends the run (nothing in flight), so
    the coalescer's leader is never held by callers that keep arriving."""
    items = _items(constrained=False)[:4]
    run = tiny_generator.open_run(Decoding.of(max_tokens=4, temperature=0.8), width=2)
    texts: dict[int, str] = {}
    try:
        admit = _feed(items)
        assert run.advance(admit, texts.__setitem__, pause=lambda: 0 in texts) is True
        assert sorted(texts) == [0, 1]  # one batch of two, then the pause
        assert run.advance(admit, texts.__setitem__) is True
    finally:
        run.close()
    assert sorted(texts) == [0, 1, 2, 3]
    assert tiny_generator._gen_lock.acquire(blocking=False)  # closed: the generator is free again
    tiny_generator._gen_lock.release()


def test_a_waiting_stream_goes_before_further_rows(tiny_generator):
    """A stream asks for the generator while a run decodes: the run admits nothing more, ends its rows, the stream
    runs, then the rest of the items; every answer is the one it gets alone."""
    items = _items(constrained=True) * 2
    decoding = Decoding.of(max_tokens=20, stop=STOPS)
    alone = [tiny_generator.generate_batch([it], decoding)[0] for it in items]
    events: list[str] = []
    stream_text: list[str] = []
    original = tiny_generator.open_run

    def stream() -> None:
        stream_text.append("".join(tiny_generator.stream(items[0].messages, 20, 0.0, STOPS,
                                                         constrain_to=items[0].constrain_to)))
        events.append("stream")

    started = threading.Thread(target=stream)

    def open_run(decoding, width):  # type: ignore[no-untyped-def]
        run = original(decoding, width)
        advance = run.advance

        def watched(admit, done, pause=None):  # type: ignore[no-untyped-def]
            def admit_and_start_stream(n: int):  # type: ignore[no-untyped-def]
                more = admit(n)
                events.extend("row" for _ in more)
                if more and not started.is_alive() and not stream_text:
                    started.start()
                    deadline = time.monotonic() + 30
                    while tiny_generator._streams_waiting == 0:  # the stream waits for the lock
                        assert time.monotonic() < deadline, "the stream never asked for the generator"
                        time.sleep(0.005)
                return more

            return advance(admit_and_start_stream, done, pause)

        run.advance = watched  # type: ignore[method-assign]
        return run

    tiny_generator.open_run = open_run  # type: ignore[method-assign]
    assert tiny_generator.generate_batch(items, decoding, width=2) == alone
    started.join(60)
    assert stream_text == [alone[0]]
    first_rows = events.index("stream")
    assert 0 < first_rows < len(items) and events.count("row") == len(items)  # rows before and after it


# --------------------------------------------------------------------------- the coalescer's continuous runs
class _FakeRun:
    """A continuous run without a model: an item's answer is its prompt, and it takes as many steps as the
    number in the prompt ("q3:2" -> 2 steps). Each step waits for the test to release it (`steps` semaphore)."""

    def __init__(self, log: list, width: int, fail_on: str | None = None, admit_nothing: bool = False) -> None:
        self.log, self.width, self.fail_on, self.admit_nothing = log, width, fail_on, admit_nothing
        self.rows: list[list] = []  # [index, prompt, steps left]
        self.count = 0
        self.steps = threading.Semaphore(0)
        self.closed = False
        self.stepped_on: list[str] = []  # the thread of every step

    def advance(self, admit, done, pause=None):  # type: ignore[no-untyped-def]
        if self.admit_nothing:  # as a run does while a stream waits for the generator: it admits nothing
            return True
        while True:
            for it in admit(self.width - len(self.rows)):
                prompt = it.messages[-1]["content"]
                if prompt == self.fail_on:
                    raise RuntimeError("decoding failed")
                self.rows.append([self.count, prompt, int(prompt.split(":")[1])])
                self.log.append(("join", prompt, threading.current_thread().name))
                self.count += 1
            if not self.rows:
                return True
            assert self.steps.acquire(timeout=30), "the test never released a step"
            self.stepped_on.append(threading.current_thread().name)
            for row in self.rows:
                row[2] -= 1
            for row in [r for r in self.rows if r[2] <= 0]:
                self.rows.remove(row)
                done(row[0], row[1].upper())
            if self.rows and pause is not None and pause():
                return False

    def close(self) -> None:
        self.closed = True


class _Runs:
    def __init__(self, width: int = 3, fail_on: str | None = None, admit_nothing: int = 0) -> None:
        self.log: list = []
        self.opened: list[_FakeRun] = []
        self.width, self.fail_on, self.admit_nothing = width, fail_on, admit_nothing

    def __call__(self, decoding, width):  # type: ignore[no-untyped-def]
        run = _FakeRun(self.log, min(width, self.width), self.fail_on, len(self.opened) < self.admit_nothing)
        self.opened.append(run)
        return run


def _start(co: Coalescer, prompt: str, results: dict, max_tokens: int = 8) -> threading.Thread:
    def call() -> None:
        try:
            results[prompt] = co.generate(BatchItem([{"role": "user", "content": prompt}]), Decoding.of(max_tokens))
        except RuntimeError as exc:
            results[prompt] = exc

    t = threading.Thread(target=call, name=f"caller-{prompt}")
    t.start()
    return t


def _until(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_calls_join_a_running_run_and_the_leader_hands_it_on():
    runs = _Runs(width=3)
    co = Coalescer(lambda items, d: pytest.fail("no plain batches with continuous runs"), max_batch=3, window_s=0.0,
                   continuous=runs)
    results: dict = {}
    lead = _start(co, "a:1", results)
    _until(lambda: runs.opened and runs.log, "the leader never opened a run")
    run = runs.opened[0]
    later = [_start(co, p, results) for p in ("b:3", "c:2")]
    _until(lambda: co.queued == 3, "the callers never queued")
    run.steps.release()  # step 1: a ends; b and c join (they arrived while the run decoded)
    _until(lambda: len(runs.log) == 3, "b and c never joined")
    assert results == {} and lead.is_alive()  # a's answer is done, but its thread drives the run
    run.steps.release()  # step 2: rows remain and a's caller has its answer: it hands the run on and returns
    lead.join(30)
    assert not lead.is_alive() and results == {"a:1": "A:1"}
    for _ in range(2):
        run.steps.release()
    for t in later:
        t.join(30)
    assert results == {"a:1": "A:1", "b:3": "B:3", "c:2": "C:2"}
    assert len(runs.opened) == 1 and run.closed and co.batch_sizes == [3]
    assert run.stepped_on[:2] == ["caller-a:1"] * 2
    assert set(run.stepped_on[2:]) <= {"caller-b:3", "caller-c:2"} and len(run.stepped_on) == 4  # handed on


def test_another_decoding_ends_admission_and_leads_the_next_run():
    runs = _Runs(width=4)
    co = Coalescer(lambda items, d: [], max_batch=4, window_s=0.0, continuous=runs)
    results: dict = {}
    first = _start(co, "a:2", results)
    _until(lambda: runs.log, "no run")
    other = _start(co, "x:1", results, max_tokens=4)  # another decoding
    _until(lambda: co.queued == 2, "x never queued")
    same = _start(co, "b:1", results)  # the first run's decoding, but after x: it waits for x's run
    _until(lambda: co.queued == 3, "b never queued")
    runs.opened[0].steps.release()
    runs.opened[0].steps.release()
    first.join(30)
    _until(lambda: len(runs.opened) == 2, "x never led a run")
    assert [p for _, p, _ in runs.log] == ["a:2", "x:1"]
    runs.opened[1].steps.release()
    other.join(30)
    _until(lambda: len(runs.opened) == 3, "b never ran")
    runs.opened[2].steps.release()
    same.join(30)
    assert results == {"a:2": "A:2", "x:1": "X:1", "b:1": "B:1"} and co.batch_sizes == [1, 1, 1]


def test_a_failed_run_fails_the_calls_it_had_taken_only():
    runs = _Runs(width=2, fail_on="boom:1")
    co = Coalescer(lambda items, d: [], max_batch=2, window_s=0.0, continuous=runs)
    results: dict = {}
    first = _start(co, "a:1", results)
    _until(lambda: runs.log, "no run")
    boom = _start(co, "boom:1", results)
    _until(lambda: co.queued == 2, "boom never queued")
    runs.opened[0].steps.release()  # a ends; boom joins and the run fails
    for t in (first, boom):
        t.join(30)
    assert results["a:1"] == "A:1" and isinstance(results["boom:1"], RuntimeError)
    assert runs.opened[0].closed
    after = _start(co, "c:1", results)
    _until(lambda: len(runs.opened) == 2, "the next call never ran")
    runs.opened[1].steps.release()
    after.join(30)
    assert results["c:1"] == "C:1"


def test_calls_a_run_never_admitted_lead_the_next_one():
    """A stream that asks for the generator while a run opens (an adapter may take seconds to load) makes the run
    admit nothing: the calls it was opened for are not failed, they go back to the front of the queue."""
    runs = _Runs(width=2, admit_nothing=1)
    co = Coalescer(lambda items, d: [], max_batch=2, window_s=0.0, continuous=runs)
    results: dict = {}
    lead = _start(co, "a:1", results)
    _until(lambda: len(runs.opened) == 2, "the call never led a second run")
    runs.opened[1].steps.release()
    lead.join(30)
    assert results == {"a:1": "A:1"} and runs.opened[0].closed and runs.opened[1].closed
    assert co.batch_sizes == [1] and co.queued == 0


def _logits_of_next(decoder, act):  # type: ignore[no-untyped-def]
    """The logits `decoder._advance` gets during `act()`, in call order (each call's rows)."""
    seen = []
    advance = decoder._advance

    def record(logits, rows):  # type: ignore[no-untyped-def]
        seen.append(logits.clone())
        return advance(logits, rows)

    decoder._advance = record
    try:
        act()
    finally:
        decoder._advance = advance
    return seen


@pytest.mark.parametrize("prefix", [False, True])
def test_a_packed_join_computes_the_step_and_the_prefill_it_replaces(tiny_generator, prefix):
    """models/packed.py: one forward pass over the running rows' next tokens and a joining prompt gives the logits
    (and the caches) of a separate decode step and a separate prefill, with padded rows of different lengths and
    with or without the kept prefix."""
    import torch

    from ragft.models.continuous import ContinuousDecoder

    gen = tiny_generator
    prompts = _prompts(gen, _items(constrained=False)[:3])
    assert len({len(p.ids) for p in prompts[:2]}) == 2  # the two rows are padded to each other

    def decoder() -> ContinuousDecoder:
        d = ContinuousDecoder(gen.model, gen.tokenizer, 3, 20, STOPS, prefix=gen._prefix(None) if prefix else None)
        d.packed = False
        for p in prompts[:2]:
            d._join(p)
        return d

    packed, separate = decoder(), decoder()
    assert packed.packed is False and separate._mask.tolist() == packed._mask.tolist()
    if prefix:
        assert separate.prefix.start(gen.model, prompts[2].ids)[1] > 0  # the joiner starts from the kept prefix
    got = _logits_of_next(packed, lambda: packed._join_packed(prompts[2]))
    want = _logits_of_next(separate, lambda: (separate._advance(separate._step(), separate._rows),
                                              separate._join(prompts[2])))
    vocab = gen.model.config.vocab_size
    assert [g.shape for g in got] == [w.shape for w in want] == [(2, vocab), (1, vocab)]
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
    assert packed._mask.tolist() == separate._mask.tolist()
    for a, b in zip(packed._cache.layers, separate._cache.layers):
        torch.testing.assert_close(a.keys, b.keys, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(a.values, b.values, rtol=1e-4, atol=1e-4)
    assert [r.new for r in packed._rows] == [r.new for r in separate._rows]
    assert [r.pos for r in packed._rows] == [r.pos for r in separate._rows]
    assert packed.stats.steps == separate.stats.steps == 1 and packed.stats.prompts == 3


def test_packed_joins_carry_the_adapter(tiny_generator, tiny_model_dir, tmp_path):
    """A LoRA adapter's answers decoded together (joins packed into the rows' steps) equal its answers one by
    one, and differ from the base model's: the packed pass goes through the adapter's layers."""
    from tests.test_models import _lora_adapter

    adapter = _lora_adapter(tiny_model_dir, tmp_path / "lora", seed=3)
    items = _items(constrained=False)
    decoding = Decoding.of(max_tokens=12, stop=STOPS, adapter=str(adapter))
    alone = [tiny_generator.generate_batch([it], decoding)[0] for it in items]
    run = tiny_generator.open_run(decoding, 2)
    try:
        assert run.decoder is not None and run.decoder.packed
    finally:
        run.close()
    assert tiny_generator.generate_batch(items, decoding, width=2) == alone
    base = [tiny_generator.generate_batch([it], Decoding.of(max_tokens=12, stop=STOPS))[0] for it in items]
    assert base != alone


@pytest.mark.real_model
def test_real_model_continuous_rows_answer_as_alone(real_generator):
    """The bundled SmolLM2 in its default dtype, copy-constrained, 3 rows at a time over 6 prompts: each answer is
    the one the prompt gets alone."""
    sources = ("[1] The Trail Runner shoe costs 89.00 dollars and ships in 3 days.\n"
               "[2] Store hours are 9 to 5 on weekdays. The warranty lasts two years.")
    questions = ["How much does the Trail Runner cost?", "When is the store open?", "How long is the warranty?",
                 "How fast does the Trail Runner ship?", "What are the store hours?", "What does the shoe cost?"]
    items = [BatchItem([{"role": "system", "content": "Answer from the sources with a citation like [1]."},
                        {"role": "user", "content": f"Sources:\n{sources}\n\nQuestion: {q}"}], sources)
             for q in questions]
    decoding = Decoding.of(max_tokens=24, stop=["\n\n"])
    alone = [real_generator.generate_batch([it], decoding)[0] for it in items]
    assert real_generator.generate_batch(items, decoding, width=3) == alone
    assert any("89.00" in a for a in alone)


def _logits_by_prompt(gen, prompts, width: int, max_tokens: int = 20) -> dict:  # type: ignore[no-untyped-def]
    """Every logits row each prompt's choices were made from, step by step, decoding `prompts` `width` at a time."""
    decoder = _decoder(gen, width, max_tokens)
    seen: dict[int, list] = {}
    advance = decoder._advance

    def record(logits, rows):  # type: ignore[no-untyped-def]
        for i, r in enumerate(rows):
            seen.setdefault(r.number, []).append(logits[i].clone())
        return advance(logits, rows)

    decoder._advance = record
    queue = list(prompts)
    decoder.run(lambda n: [queue.pop(0) for _ in range(min(n, len(queue)))], lambda i, text: None)
    return seen


def _assert_same_logits(alone: dict, together: dict) -> None:
    import torch

    assert alone.keys() == together.keys()
    for number in alone:
        assert len(alone[number]) == len(together[number]), f"prompt {number}: another number of steps"
        for step, (a, b) in enumerate(zip(alone[number], together[number])):
            assert torch.equal(a, b), f"prompt {number}, step {step}: logits differ by {float((a - b).abs().max())}"


def test_row_attention_reads_each_rows_own_columns():
    """models/packed.py `row_attention`: a row's output is attention over its own columns (the padding before
    them unseen), query heads paired with kv heads as HF's `repeat_kv` does, and equal to that row alone."""
    import torch
    import torch.nn.functional as F

    from ragft.models.packed import row_attention, row_starts

    torch.manual_seed(0)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    starts = row_starts(mask)
    assert starts == [2, 0, 4]
    query, keys, values = torch.randn(3, 6, 8), torch.randn(3, 2, 5, 8), torch.randn(3, 2, 5, 8)
    pad = (mask == 0)[:, None, :, None].expand_as(keys)
    keys[pad] = values[pad] = 1e3  # padding that would dominate any row that attended to it
    got = row_attention(query, keys, values, starts, 0.5)
    for i, start in enumerate(starts):
        want = F.scaled_dot_product_attention(query[i][None, :, None], keys[i, :, start:][None],
                                              values[i, :, start:][None], scale=0.5, enable_gqa=True)
        torch.testing.assert_close(got[i], want[0, :, 0])
        alone = row_attention(query[i:i + 1], keys[i:i + 1, :, start:].clone(), values[i:i + 1, :, start:].clone(),
                              [0], 0.5)
        assert torch.equal(got[i], alone[0])


def test_a_lone_row_never_runs_a_one_row_matrix_product(tiny_generator):
    """`packed.FILLER`: a lone row's decode step carries a filler token, so every projection multiplies at least
    two rows, as it does beside other rows (oneDNN rounds a one-row bfloat16 product differently)."""
    import torch

    gen = tiny_generator
    decoder = _decoder(gen, 1)
    rows_seen: list[tuple[int, str]] = []

    def seen(name: str):  # type: ignore[no-untyped-def]
        return lambda mod, args: rows_seen.append((args[0].reshape(-1, args[0].shape[-1]).shape[0], name))

    hooks = [m.register_forward_pre_hook(seen(name)) for name, m in gen.model.named_modules()
             if isinstance(m, torch.nn.Linear)]
    try:
        queue = _prompts(gen, _items(constrained=False)[:2])
        decoder.run(lambda n: [queue.pop(0) for _ in range(min(n, len(queue)))], lambda i, text: None)
    finally:
        for h in hooks:
            h.remove()
    assert decoder.stats.steps > 2 and rows_seen and min(rows_seen)[0] >= 2, min(rows_seen)


def _bf16_or_skip(gen) -> None:  # type: ignore[no-untyped-def]
    import torch

    from ragft.models.precision import native_bf16

    if not native_bf16() or gen.model.dtype != torch.bfloat16:
        pytest.skip("exact batch invariance is the bfloat16 path's on a CPU with bfloat16 units: float32 GEMMs "
                    "round a row by the size of its row block (docs/benchmarks.md)")


def test_rows_decode_exactly_as_alone_on_the_tiny_model(tiny_model_dir):
    """Free rows of different lengths decoded 3 at a time (packed joins, padded rows, rows leaving and joining)
    choose every token from exactly the logits they get alone: bit for bit, not within a tolerance (bfloat16)."""
    from ragft.models.bundled import TransformersGenerator

    gen = TransformersGenerator(str(tiny_model_dir), context_window=512, dtype="bfloat16")
    _bf16_or_skip(gen)
    prompts = _prompts(gen, _items(constrained=False))
    assert len({len(p.ids) for p in prompts}) > 1
    alone, together = _logits_by_prompt(gen, prompts, 1), _logits_by_prompt(gen, prompts, 3)
    assert sum(map(len, alone.values())) > 2 * len(prompts)  # the rows decode for several steps
    _assert_same_logits(alone, together)


@pytest.mark.real_model
def test_real_model_free_rows_decode_exactly_as_alone(real_generator):
    """The bundled SmolLM2 in its default dtype (bfloat16 on a CPU with bfloat16 units), free answers, 6 prompts
    of different lengths 3 at a time: every step's logits equal the prompt's alone, bit for bit. Before each row
    attended to its own columns and lone rows got a filler token, 22 of 96 free answers (base and ft, 48 questions
    each) decoded beside others differed from alone (docs/benchmarks.md, "Answers that do not depend on the
    batch")."""
    questions = ["Where do leopards hide their kills?", "Who died in 1832?", "What happened in recent years?",
                 "Is Santiago a name in Spanish, and where is it used most often today?",
                 "What do turtles use to breathe in the water?", "Could Malay have originated from Sumatra?"]
    items = [BatchItem([{"role": "system", "content": "Answer the question."}, {"role": "user", "content": q}], None)
             for q in questions]
    _bf16_or_skip(real_generator)
    prompts = _prompts(real_generator, items)
    _assert_same_logits(_logits_by_prompt(real_generator, prompts, 1, 24),
                        _logits_by_prompt(real_generator, prompts, 3, 24))


@pytest.mark.real_model
def test_real_model_streams_are_the_whole_answers(real_generator):
    """models/streaming.py: a greedy stream is decoded by the continuous decoder, so its pieces join to exactly the
    whole answer `generate_batch` gives (free and copy-constrained). Through HF `generate`, 4 of 16 free answers
    of the bundled SmolLM2 in bfloat16 streamed other text than they answered whole."""
    from ragft.models.streaming import stable_text

    sources = "[1] The Trail Runner shoe costs 89.00 dollars and ships in 3 days. Store hours are 9 to 5."
    questions = ["Where do leopards hide their kills?", "Could Malay have originated from Sumatra?",
                 "What happened in recent years?", "How much does the Trail Runner cost?"]
    decoding = Decoding.of(max_tokens=32, stop=["\n\n"])
    for i, q in enumerate(questions):
        constrain = sources if i == 3 else None
        messages = [{"role": "system", "content": "Answer the question."},
                    {"role": "user", "content": f"Sources: {sources}\n\nQuestion: {q}" if constrain else q}]
        whole = real_generator.generate_batch([BatchItem(messages, constrain)], decoding)[0]
        pieces = list(real_generator.complete(messages, decoding, constrain, streaming=True))
        assert len(pieces) > 1 and "".join(pieces) == whole, q
    assert stable_text("caf\ufffd") == "caf" and stable_text("café") == "café" and stable_text("word \n") == "word"


class _ParagraphEvery:
    """The model, but every `every`-th position of each row is a paragraph break: a deterministic stand-in for a
    tiny model that repeats its answer paragraph after paragraph (per position, so a row's text does not depend
    on which rows share its passes)."""

    def __init__(self, model, token: int, every: int) -> None:  # type: ignore[no-untyped-def]
        self.model, self.config, self.token, self.every = model, model.config, token, every

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.model, name)

    def __call__(self, **kw):  # type: ignore[no-untyped-def]
        out = self.model(**kw)
        pos, keep = kw["position_ids"], kw["logits_to_keep"]
        kept = pos[:, -1:] if isinstance(keep, int) else pos[:, keep]  # positions of the tokens whose logits came
        out.logits[..., self.token] += 1e4 * ((kept + 1) % self.every == 0).to(out.logits.dtype)
        return out


def test_rows_stop_once_the_kept_paragraph_has_ended(tiny_generator):
    """`Decoding.paragraph`: a row ends at the blank line after its first non-empty paragraph; what
    `clean_answer` keeps is the same as from the whole generation, computed in fewer steps."""
    from ragft.answer import clean_answer
    from ragft.models.continuous import ContinuousDecoder

    gen = tiny_generator
    (blank,) = gen.tokenizer("\n\n", add_special_tokens=False)["input_ids"]
    runner = _ParagraphEvery(gen.model, blank, every=5)
    items = _items(constrained=False)
    prompts = _prompts(gen, items)

    def texts(paragraph: bool):  # type: ignore[no-untyped-def]
        decoder = ContinuousDecoder(runner, gen.tokenizer, 2, 24, (), paragraph=paragraph)
        feed, out = list(prompts), {}
        decoder.run(lambda n: [feed.pop(0) for _ in range(min(n, len(feed)))], out.__setitem__)
        return [out[i] for i in range(len(prompts))], decoder.stats.row_steps

    whole, whole_steps = texts(False)
    kept, kept_steps = texts(True)
    assert [clean_answer(t) for t in kept] == [clean_answer(t) for t in whole]
    assert all(w.startswith(k) for k, w in zip(kept, whole))
    assert all(k.lstrip().count("\n\n") == 1 for k in kept)  # each stopped at its first blank line after text
    assert any(k.startswith("\n\n") for k in whole)  # a leading blank line does not end a row
    assert kept_steps < whole_steps and all(clean_answer(t) for t in kept)


def test_the_paragraph_rule_of_sampled_generation():
    """The HF `generate` path (sampling) ends a row by the same rule (`stops.stop_criteria_class`)."""
    import torch

    from ragft.models.stops import stop_criteria_class
    from tests.tiny_model import _smollm2_tokenizer

    tok = _smollm2_tokenizer()
    rows = [tok(t, add_special_tokens=False)["input_ids"] for t in ("\n\nabc def", "abc\n\ndef", "abc def.")]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[tok.eos_token_id] * (width - len(r)) + r for r in rows])
    prompt = torch.zeros(3, 2, dtype=torch.long)  # two prompt columns, cut off by prompt_len
    criteria = stop_criteria_class()(tok, 2, (), threading.Event(), True)
    assert criteria(torch.cat([prompt, ids], 1), None).tolist() == [False, True, False]
    plain = stop_criteria_class()(tok, 2, (), threading.Event())
    assert plain(torch.cat([prompt, ids], 1), None).tolist() == [False, False, False]
