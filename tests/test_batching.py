"""Batched generation (ragft/models/base.py `generate_batch`, bundled.py, batcher.py): a batch answers exactly
what the same prompts answer one at a time, on the tiny Llama (real transformers: left padding, the copy rule
per row, the tie-break, stop strings), and concurrent `generate` calls share batches."""

from __future__ import annotations

import threading
import time

import pytest

from ragft.models.base import BatchItem, Decoding, GeneratorBase, generate_batch
from ragft.models.batcher import Arrivals, Coalescer, arrivals_of
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
    # a non-streaming `complete` (the GeneratorBase contract) takes the same path: one piece, the same text
    assert list(tiny_generator.complete(items[0].messages, decoding, items[0].constrain_to, streaming=False)) == alone[:1]
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
    with co.arrivals.expect():  # as the server's ModelQueue marks a request on its generator
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


def test_a_smaller_batch_waits_briefly_for_the_callers_of_the_last_one():
    """Closed-loop clients: after a batch of 2, a lone caller waits (at most follow_s) and the next caller, who
    is not marked in `arrivals` (not admitted yet when the lone one took the lead), joins its batch."""
    run = _HeldBatches()
    co = Coalescer(run, max_batch=8, window_s=0.0, follow_s=30.0)
    results: dict = {}

    def call(prompt: str) -> threading.Thread:
        t = threading.Thread(target=lambda: results.__setitem__(prompt, _ask(co, prompt)))
        t.start()
        return t

    first = call("q0")
    _wait_queued(co, 1)  # q0 leads a batch of one, held in run_batch
    rest = [call("q1"), call("q2")]
    _wait_queued(co, 3)
    run.release.set()
    for t in [first, *rest]:
        t.join(30)
    assert [sorted(b) for b in run.batches] == [["q0"], ["q1", "q2"]]  # q1, q2 in either order
    lone = call("r0")  # leads; its batch of one is smaller than the last (2): it waits for a follower
    _wait_queued(co, 1)
    follower = call("r1")
    for t in (lone, follower):
        t.join(30)
    assert run.batches[-1] == ["r0", "r1"] and co.batch_sizes == [1, 2, 2]
    assert results == {p: f"{p}@8" for p in ("q0", "q1", "q2", "r0", "r1")}


def test_after_a_batch_of_one_nobody_waits_for_followers():
    co = Coalescer(_echo, max_batch=8, window_s=0.0, follow_s=600.0)
    for prompt in ("a", "b", "c"):  # one client, one request at a time: batches of one, no 600 s wait
        assert _ask(co, prompt) == prompt
    assert co.batch_sizes == [1, 1, 1]


def test_outside_a_server_a_call_does_not_wait_for_the_window():
    co = Coalescer(lambda items, d: ["ok"] * len(items), max_batch=8, window_s=30.0)
    started = time.monotonic()
    assert co.generate(BatchItem([{"role": "user", "content": "q"}]), Decoding.of(4)) == "ok"
    assert time.monotonic() - started < 20  # nothing in flight: no 30 s window (a hang, not a timing check)


def _echo(items, decoding):  # type: ignore[no-untyped-def]
    return [it.messages[-1]["content"] for it in items]


def _ask(co: Coalescer, prompt: str) -> str:
    return co.generate(BatchItem([{"role": "user", "content": prompt}]), Decoding.of(8))


class _JumpingClock:
    """A clock that jumps past any window at each reading: a leader reads it once to set its deadline, and again
    only when it would wait for requests still on their way (then the window is over at once, no real wait)."""

    def __init__(self) -> None:
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        return 1000.0 * self.readings


def test_a_coalescer_waits_only_for_requests_marked_on_it():
    """Two generators in one process (two servers, or a server and a compare): a request on its way to one of
    them never holds the other's batches."""
    clock_a, clock_b = _JumpingClock(), _JumpingClock()
    a = Coalescer(_echo, window_s=600.0, clock=clock_a)
    b = Coalescer(_echo, window_s=600.0, clock=clock_b)
    retrieving, finish = threading.Event(), threading.Event()

    def request_on_a() -> None:  # admitted by server A, still retrieving
        with a.arrivals.expect():
            retrieving.set()
            assert finish.wait(30)

    other = threading.Thread(target=request_on_a)
    other.start()
    try:
        assert retrieving.wait(30)
        assert (a.arrivals.count, b.arrivals.count) == (1, 0)
        with b.arrivals.expect():  # server B's only request reaches its generator
            assert _ask(b, "on b") == "on b"
            assert b.arrivals.count == 0  # its generation dropped its mark
        assert clock_b.readings == 1  # b's leader did not wait for a's request
        assert a.arrivals.count == 1
        with a.arrivals.expect():  # control: on a, the same request does hold the leader for the window
            assert _ask(a, "on a") == "on a"
        assert clock_a.readings == 2
    finally:
        finish.set()
        other.join(30)
    assert (a.arrivals.count, b.arrivals.count) == (0, 0)
    assert (a.batch_sizes, b.batch_sizes) == ([1], [1])


def test_a_mark_is_dropped_by_its_generation_or_when_the_request_ends():
    arrivals = Arrivals()
    co = Coalescer(_echo, arrivals=arrivals)
    assert co.arrivals is arrivals
    with arrivals.expect():
        with arrivals.expect():  # nested: still one request
            assert arrivals.count == 1
        assert arrivals.count == 1
        _ask(co, "x")
        assert arrivals.count == 0
        _ask(co, "y")  # a second generation drops nothing more
        assert arrivals.count == 0
    assert arrivals.count == 0
    with arrivals.expect():  # ended without a generation (an early abstention)
        assert arrivals.count == 1
    assert arrivals.count == 0
    done = threading.Event()
    with arrivals.expect():  # another thread's generation does not drop this thread's mark
        threading.Thread(target=lambda: (_ask(co, "z"), done.set())).start()
        assert done.wait(30) and arrivals.count == 1
    assert arrivals.count == 0


def test_only_coalescing_generators_have_arrivals(tiny_model_dir):
    from ragft.models.bundled import TransformersGenerator

    gen = TransformersGenerator(str(tiny_model_dir))  # cheap constructor: no weights loaded
    assert arrivals_of(gen) is gen.arrivals and isinstance(gen.arrivals, Arrivals)
    assert arrivals_of(TransformersGenerator(str(tiny_model_dir))) is not gen.arrivals  # one per generator
    assert arrivals_of(FakeGenerator(lambda msgs: "x")) is None


# --------------------------------------------------------------------------- answer_many == answer_question
RETURNS = "Items can be returned within 30 days of delivery with the receipt."
SHIPPING = "Standard shipping takes 3 to 5 business days inside the country."
WARRANTY = "The Trail Runner shoe has a two year warranty against defects."
REPLIES = {  # question -> what the fake model says: cited, unsupported, "don't know", never asked (off-topic)
    "How many days do I have to return items?": "within 30 days [1]",
    "How long does standard shipping take inside the country?": "a banana [1]",
    "Does the Trail Runner shoe have a warranty?": "The sources do not contain this.",
    "What is the capital of Mars?": "never generated",
    "How many days does standard shipping take?": "3 to 5 business days [1]",
}


class CountingGenerator(FakeGenerator):
    """The fake generator with a batched call that records its batch sizes (answers like `generate`)."""

    def __init__(self, reply):  # type: ignore[no-untyped-def]
        super().__init__(reply)
        self.batch_sizes: list[int] = []

    def generate_batch(self, items, decoding):  # type: ignore[no-untyped-def]
        self.batch_sizes.append(len(items))
        return [self.generate(it.messages, decoding.max_tokens, decoding.temperature, list(decoding.stop),
                              decoding.adapter, constrain_to=it.constrain_to) for it in items]


def _answer_ctx(gen):  # type: ignore[no-untyped-def]
    from ragft.answer import AnswerContext
    from ragft.types import Hit

    hits = [Hit(doc_id=f"d{i}", chunk_id=f"d{i}:0", source=f"d{i}.md", score=1.0, text=t)
            for i, t in enumerate((RETURNS, SHIPPING, WARRANTY))]
    return AnswerContext(generator=gen, retrieve=lambda q, k: list(hits), live_rows=lambda q: [],
                         abstain_threshold=0.25, support_threshold=0.5, max_context_tokens=1200, max_new_tokens=32,
                         temperature=0.0, prompt_format="oneshot")


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import asdict

    da, db = asdict(a), asdict(b)
    da.pop("latency_ms"), db.pop("latency_ms")
    assert da == db


@pytest.mark.parametrize("strategy", ["rag", "base"])
def test_answer_many_takes_every_decision_answer_question_takes(strategy):
    from ragft.answer import answer_question
    from ragft.answer_batch import answer_many

    def reply(messages):  # type: ignore[no-untyped-def]
        return next(r for q, r in REPLIES.items() if q in messages[-1]["content"])

    questions = list(REPLIES)
    one = [answer_question(_answer_ctx(FakeGenerator(reply)), q, strategy) for q in questions]
    gen = CountingGenerator(reply)
    many = answer_many(_answer_ctx(gen), questions, strategy, batch_size=3)
    for a, b in zip(one, many):
        _same(a, b)
    if strategy == "rag":  # a cited answer, an abstention (the off-topic question is never generated)
        assert not one[0].abstained and one[0].citations and one[3].abstained
        assert gen.batch_sizes == [3, 1]
    else:
        assert gen.batch_sizes == [3, 2]
    assert all(m.latency_ms is not None and m.latency_ms >= 0 for m in many)


def test_answer_many_is_one_run_that_prepares_questions_while_it_decodes(tiny_generator):
    """On the bundled generator `answer_many` is one continuous run that prepares each question when a row is
    free for it, so answers come back while later questions are still unprepared; each answer goes to
    `on_answer` once, as it is ready, and the returned objects are those, their latency completed with the
    generation share."""
    from ragft.answer import prepare
    from ragft.answer_batch import answer_many

    questions = list(REPLIES) * 5
    ctx = _answer_ctx(tiny_generator)
    early = {i for i, q in enumerate(questions) if prepare(ctx, q).answer is not None}  # answered without generation
    assert early and len(early) < len(questions)
    events: list[tuple[str, int]] = []
    retrieve, asked = ctx.retrieve, iter(range(len(questions)))
    ctx.retrieve = lambda q, k: events.append(("prepare", next(asked))) or retrieve(q, k)  # type: ignore[func-returns-value]
    reported: dict[int, tuple[object, float]] = {}

    def on_answer(i: int, answer) -> None:  # type: ignore[no-untyped-def]
        assert i not in reported
        reported[i] = (answer, answer.latency_ms)
        events.append(("answer", i))

    width = 2
    many = answer_many(ctx, questions, "rag", batch_size=width, on_answer=on_answer)
    assert [e for e in events if e[0] == "prepare"] == [("prepare", i) for i in range(len(questions))]
    generated = events.index(next(e for e in events if e[0] == "answer" and e[1] not in early))
    to_generate = [i for i in range(len(questions)) if i not in early]
    assert len(to_generate) > width
    # before the first generated answer: the first `width` questions that need a row were prepared, no more
    assert events.index(("prepare", to_generate[width - 1])) < generated < events.index(("prepare", to_generate[width]))
    assert sorted(reported) == list(range(len(questions)))
    assert all(many[i] is reported[i][0] and many[i].latency_ms >= reported[i][1] for i in reported)
    assert any(many[i].latency_ms > reported[i][1] for i in reported)  # generated answers got their share


def test_the_generation_share_leaves_out_what_on_answer_does(tiny_generator, monkeypatch):
    """Compare scores each answer inside `on_answer`, during the run: that time is not generation, so it is not
    in any answer's generation share (a clock that only `on_answer` moves: every share is 0)."""
    import types

    import ragft.answer_batch as batch

    clock = [0.0]
    monkeypatch.setattr(batch, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    seen: dict[int, float] = {}

    def on_answer(i: int, answer) -> None:  # type: ignore[no-untyped-def]
        seen[i] = answer.latency_ms
        clock[0] += 100.0

    many = batch.answer_many(_answer_ctx(tiny_generator), list(REPLIES), "rag", batch_size=2, on_answer=on_answer)
    assert len(seen) == len(many) and all(m.latency_ms == seen[i] for i, m in enumerate(many))


def test_ask_many_equals_ask_on_the_tiny_model_and_batches(tmp_path, hash_embedder, tiny_generator):
    """Real transformers path: retrieval, copy-constrained batched generation, checks, PII policy and audit."""
    from ragft.workspace import Workspace
    from tests.test_answer import _put

    ws = Workspace(tmp_path / "ws", embedder=hash_embedder, generator=tiny_generator)
    ws.settings.generator.max_new_tokens = 12
    for i, text in enumerate((RETURNS, SHIPPING, WARRANTY)):
        _put(ws, f"d{i}", text, hash_embedder)
    runs: list[int] = []  # the width of each continuous run
    continuous = tiny_generator.generate_continuous

    def counting(admit, decoding, width, done, offset=0):  # type: ignore[no-untyped-def]
        runs.append(width)
        return continuous(admit, decoding, width, done, offset)

    tiny_generator.generate_continuous = counting  # type: ignore[method-assign]
    questions = list(REPLIES)
    for strategy in ("rag", "base"):
        ready: list[int] = []
        many = ws.ask_many(questions, strategy, batch_size=4, on_answer=lambda i, a: ready.append(i))
        assert runs.pop() == 4 and not runs  # all the questions in one run, 4 rows at most
        assert sorted(ready) == list(range(len(questions)))  # each answer reported once, as it was ready
        one = [ws.ask(q, strategy) for q in questions]
        for a, b in zip(one, many):
            _same(a, b)
    assert sum(1 for line in (ws.path / "audit.jsonl").read_text().splitlines() if '"question"' in line) == 4 * len(questions)
    ws.close()


def test_compare_batch_sizes_give_the_same_answers_on_the_tiny_model(tmp_path, hash_embedder, tiny_generator):
    import json

    from ragft.evaluate.runner import run_compare
    from ragft.workspace import Workspace
    from tests.test_answer import _put

    ws = Workspace(tmp_path / "ws", embedder=hash_embedder, generator=tiny_generator)
    ws.settings.generator.max_new_tokens = 12
    for i, text in enumerate((RETURNS, SHIPPING, WARRANTY)):
        _put(ws, f"d{i}", text, hash_embedder)
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": q, "answer": "30 days"}) + "\n" for q in REPLIES), encoding="utf-8")
    runs = {bs: run_compare(ws, qa=qa, strategies=["rag", "base"], batch_size=bs, warmup=False) for bs in (1, 3)}
    assert runs[1].meta["batch_size"] == 1 and runs[3].meta["batch_size"] == 3
    for s in ("rag", "base"):
        assert [q.results[s].answer for q in runs[1].questions] == [q.results[s].answer for q in runs[3].questions]
        assert all(q.results[s].error is None for q in runs[3].questions)
    ws.close()


def test_generations_reuse_the_kv_cache_of_the_fixed_prompt_prefix_and_nothing_after_it(tiny_generator):
    """`ask`, a server request and every row of a batch start from the kept cache of the system prompt (the
    messages before the last one) instead of prefilling it again. Nothing after it is kept, not even for the same
    question asked again (its speed would tell a caller what someone else asked). The answers are those of a full
    prefill, one by one, in a batch and streamed."""
    from ragft.models.continuous import PrefixCache

    items = _items(constrained=True)
    decoding = Decoding.of(max_tokens=20, stop=["\n\n", "."])
    ids = [tiny_generator.prompt_ids(it.messages, 20) for it in items]
    fixed = tiny_generator._fixed_prefix(items[0].messages, ids[0])
    assert 0 < fixed and ids[-1][:fixed + 5] == ids[0][:fixed + 5]  # the prompts share more than the system prompt
    full = []  # each prompt prefilled whole: a fresh prefix cache before each
    for it in items:
        tiny_generator._prefixes.clear()
        full.append(tiny_generator.generate_batch([it], decoding)[0])
    prefix = tiny_generator._prefix(None)
    assert prefix.ids == tuple(ids[-1][:fixed]) and all(k.shape[2] == fixed for k, _ in prefix.layers)
    held = prefix.layers[0][0].clone()
    assert [tiny_generator.generate_batch([it], decoding)[0] for it in items] == full  # from the kept prefix
    assert tiny_generator.generate_batch(items, decoding, width=2) == full
    streamed = "".join(tiny_generator.complete(items[0].messages, decoding, items[0].constrain_to, streaming=True))
    assert streamed == full[0]  # a stream starts from it too
    # Only the fixed prefix is kept, unchanged by the generations that started from a copy of it.
    assert tiny_generator._prefix(None) is prefix and prefix.ids == tuple(ids[0][:fixed])
    assert prefix.layers[0][0].equal(held)
    cache, n = prefix.start(tiny_generator.model, ids[0])
    assert n == fixed and cache.get_seq_length() == fixed
    # Another adapter never starts from the base model's cache; a prompt that does not start with the prefix
    # (cut on the left), or a prefix as long as the prompt, starts empty; one message has no fixed prefix.
    assert tiny_generator._prefix("/some/adapter") is not prefix and tiny_generator._prefix("/some/adapter").ids == ()
    assert prefix.start(tiny_generator.model, ids[0][3:])[1] == 0
    assert prefix.start(tiny_generator.model, ids[0][:fixed])[1] == 0
    assert tiny_generator._fixed_prefix(items[0].messages, ids[0][3:]) == 0
    assert tiny_generator._fixed_prefix(items[0].messages[1:], ids[0]) == 0
    empty = PrefixCache()
    empty.keep(ids[0], 0, cache)
    assert empty.ids == () and empty.start(tiny_generator.model, ids[0])[1] == 0


def test_the_kept_prefix_ends_with_the_layouts_constant_opening(tiny_generator):
    """`BatchItem.head`: the kept prefix goes on into the last message up to the end of its layout's constant
    opening (the data block's first line), where the caller's sources begin, and no further; the answers are
    those of a full prefill."""
    from ragft.prompting import PROMPT_FORMATS, build_prompt, constant_head
    from ragft.types import Hit

    gen, tok = tiny_generator, tiny_generator.tokenizer
    sources = [[Hit(doc_id=d, chunk_id=f"{d}:0", source=f"{d}.md", score=1.0, text=t)]
               for d, t in (("returns", "Items can be returned within 30 days."), ("ship", "Shipping takes 3 days."))]
    questions = ["How long do I have to return an item?", "How long does shipping take?"]
    for fmt in PROMPT_FORMATS:
        prompts = [build_prompt(q, h, gen.count_tokens, 2048, 20, 400, fmt).messages for q, h in zip(questions, sources)]
        head = constant_head(prompts[0])
        assert head == ("" if fmt == "sandwich" else prompts[0][-1]["content"].split("\n")[0] + "\n"), fmt
        ids = [gen.prompt_ids(m, 20) for m in prompts]
        before = [gen._fixed_prefix(m, i) for m, i in zip(prompts, ids)]
        fixed = [gen._fixed_prefix(m, i, constant_head(m)) for m, i in zip(prompts, ids)]
        if not head:
            assert fixed == before, fmt
            continue
        assert fixed[0] == fixed[1] > before[0] and ids[0][:fixed[0]] == ids[1][:fixed[0]], fmt
        assert tok.decode(ids[0][before[0]:fixed[0]]).endswith(head) and tok.decode(ids[0][fixed[0]:]).startswith("[1]")
        assert gen._fixed_prefix(prompts[0], ids[0], "not its opening") == before[0]
        assert gen._fixed_prefix(prompts[0], ids[0][3:], head) == 0  # cut on the left: nothing is fixed

    prompts = [build_prompt(q, h, gen.count_tokens, 2048, 20, 400).messages for q, h in zip(questions, sources)]
    items = [BatchItem(m, None, constant_head(m)) for m in prompts]
    decoding = Decoding.of(max_tokens=12, stop=["\n\n"])
    full = []
    for it in items:
        gen._prefixes.clear()
        full.append(gen.generate_batch([BatchItem(it.messages)], decoding)[0])  # no head: the fixed messages only
    gen._prefixes.clear()
    assert gen.generate_batch(items, decoding, width=2) == full
    assert [gen.generate_batch([it], decoding)[0] for it in items] == full
    held = gen._prefix(None).ids
    assert tok.decode(list(held)).endswith(constant_head(prompts[0]))
