"""Batched generation (ragft/models/base.py `generate_batch`, bundled.py, batcher.py): a batch answers exactly
what the same prompts answer one at a time, on the tiny Llama (real transformers: left padding, the copy rule
per row, the tie-break, stop strings), and concurrent `generate` calls share batches."""

from __future__ import annotations

import threading
import time

import pytest

from ragft.models.base import BatchItem, Decoding, GeneratorBase, generate_batch
from ragft.models.batcher import Coalescer, in_flight
from tests.fakes import FakeGenerator

CONTEXT = ("Paris is the capital of France. Shakespeare wrote Hamlet around 1600. A spider has 8 legs. "
           "The TR-1 router ships in 30 days.")
QUESTIONS = [
    "What is the capital of France?",
    "Who wrote Hamlet?",
    "How many legs does a spider have? Answer with the number only, from the sources given above.",
    "Ships?",
    "Which router ships in 30 days, and how long does shipping take for the TR-1 router?",
]


def _items(constrained: bool) -> list[BatchItem]:
    # Prompts of different lengths (so rows are padded), constrained and free rows mixed in one batch.
    return [BatchItem([{"role": "system", "content": "Answer from the sources."},
                       {"role": "user", "content": f"Sources: {CONTEXT}\n\nQuestion: {q}"}],
                      CONTEXT if constrained and i % 2 == 0 else None)
            for i, q in enumerate(QUESTIONS)]


@pytest.mark.parametrize("constrained", [False, True])
def test_batch_equals_one_at_a_time_on_the_tiny_model(tiny_generator, constrained):
    items = _items(constrained)
    decoding = Decoding.of(max_tokens=20, stop=["\n\n", "."])
    alone = [tiny_generator.generate(it.messages, 20, 0.0, ["\n\n", "."], constrain_to=it.constrain_to)
             for it in items]
    batch = tiny_generator.generate_batch(items, decoding)
    assert batch == alone
    assert len(set(alone)) > 1  # the prompts give different answers: rows are not mixed up
    # the same rows in another order and another batch composition: the same answers
    assert tiny_generator.generate_batch(items[::-1][:3], decoding) == alone[::-1][:3]


def test_batch_rows_obey_their_own_copy_constraint(tiny_generator):
    from ragft.models.constrain import CopyChecker

    items = _items(constrained=True)
    texts = tiny_generator.generate_batch(items, Decoding.of(max_tokens=12))
    free = tiny_generator.generate_batch([BatchItem(it.messages) for it in items], Decoding.of(max_tokens=12))
    for item, text, unconstrained in zip(items, texts, free):
        if item.constrain_to is not None:  # a copy so far (max_tokens may cut it before a clean end)
            assert CopyChecker(item.constrain_to).ok(text)
        else:
            assert text == unconstrained
    assert any(not CopyChecker(CONTEXT).ok(t) for t in free)  # the rule did something: free rows do not copy


def test_generate_batch_helper_loops_over_plain_generators():
    gen = FakeGenerator(lambda msgs: msgs[-1]["content"].upper())
    out = generate_batch(gen, [BatchItem([{"role": "user", "content": q}], "ctx") for q in ("a", "b")], Decoding.of(8))
    assert out == ["A", "B"] and gen.constraints == ["ctx", "ctx"]


def test_generator_base_default_batch_is_one_by_one():
    class Echo(GeneratorBase):
        name, context_window = "echo", 100

        def complete(self, messages, decoding, constrain_to, streaming):  # type: ignore[no-untyped-def]
            return iter([messages[-1]["content"], f"/{decoding.max_tokens}/{constrain_to}"])

    gen = Echo()
    assert gen.generate([{"role": "user", "content": "x"}], max_tokens=3, constrain_to="c") == "x/3/c"
    assert list(gen.stream([{"role": "user", "content": "y"}])) == ["y", "/64/None"]
    assert gen.generate_batch([BatchItem([{"role": "user", "content": "z"}])], Decoding.of(5)) == ["z/5/None"]


# --------------------------------------------------------------------------- coalescing concurrent calls
class _HeldBatches:
    """`run_batch` for a Coalescer: records each batch; the first one waits for `release`."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batches: list[list[str]] = []

    def __call__(self, items, decoding):  # type: ignore[no-untyped-def]
        assert self.release.wait(30)
        prompts = [it.messages[-1]["content"] for it in items]
        self.batches.append(prompts)
        if "boom" in prompts:
            raise RuntimeError("batch failed")
        return [f"{p}@{decoding.max_tokens}" for p in prompts]


def _call(co: Coalescer, prompt: str, results: dict, max_tokens: int = 8) -> None:
    with in_flight():
        try:
            results[prompt] = co.generate(BatchItem([{"role": "user", "content": prompt}]), Decoding.of(max_tokens))
        except RuntimeError as exc:
            results[prompt] = exc


def _wait_queued(co: Coalescer, n: int) -> None:
    deadline = time.monotonic() + 20
    while co.queued < n:
        assert time.monotonic() < deadline, "calls never reached the coalescer"
        time.sleep(0.01)


def test_concurrent_calls_share_batches_and_get_their_own_text():
    run = _HeldBatches()
    co = Coalescer(run, max_batch=3, window_s=0.0)
    results: dict = {}
    threads = [threading.Thread(target=_call, args=(co, f"q{i}", results)) for i in range(5)]
    threads.append(threading.Thread(target=_call, args=(co, "other", results, 4)))  # another decoding
    for t in threads:
        t.start()
    _wait_queued(co, 6)  # every call is waiting or held in the first batch
    run.release.set()
    for t in threads:
        t.join(30)
    assert results == {**{f"q{i}": f"q{i}@8" for i in range(5)}, "other": "other@4"}
    assert sorted(p for b in run.batches for p in b) == sorted(results)
    assert max(len(b) for b in run.batches) == 3  # bounded, and batched
    assert all(len({p == "other" for p in b}) == 1 for b in run.batches)  # decodings never mixed
    assert co.batch_sizes == [len(b) for b in run.batches]


def test_a_failed_batch_fails_its_callers_only():
    run = _HeldBatches()
    co = Coalescer(run, max_batch=2, window_s=0.0)
    results: dict = {}
    first = threading.Thread(target=_call, args=(co, "first", results))
    first.start()
    _wait_queued(co, 1)
    rest = [threading.Thread(target=_call, args=(co, p, results)) for p in ("boom", "x", "y")]
    for t in rest:
        t.start()
    _wait_queued(co, 4)
    run.release.set()
    for t in [first, *rest]:
        t.join(30)
    failed = {p for p, r in results.items() if isinstance(r, RuntimeError)}
    batch_of_boom = next(b for b in run.batches if "boom" in b)
    assert failed == set(batch_of_boom)
    assert all(results[p] == f"{p}@8" for p in results if p not in failed)


def test_outside_a_server_a_call_does_not_wait_for_the_window():
    co = Coalescer(lambda items, d: ["ok"] * len(items), max_batch=8, window_s=30.0)
    started = time.monotonic()
    assert co.generate(BatchItem([{"role": "user", "content": "q"}]), Decoding.of(4)) == "ok"
    assert time.monotonic() - started < 20  # nothing in flight: no 30 s window (a hang, not a timing check)
