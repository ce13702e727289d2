"""Many questions answered with their generations shared (`Workspace.ask_many`, `compare --batch-size`).

Every decision is the one `answer.answer_question` takes for the question alone (`prepare`, then `finish`); only
the generate step is shared: on the bundled generator one continuous run (models/continuous.py), elsewhere
`models.base.generate_batch`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ragft.answer import AnswerContext, Prepared, ResolvedAdapter, answer_decoding, finish, prepare
from ragft.errors import ConfigError
from ragft.models.base import BatchItem, generate_batch
from ragft.prompting import constant_head
from ragft.types import Answer


def answer_many(ctx: AnswerContext, questions: Sequence[str], strategy: str = "rag",
                adapter: ResolvedAdapter | None = None, k: int | None = None, batch_size: int = 8,
                on_answer: Callable[[int, Answer], None] | None = None) -> list[Answer]:
    """`answer_question` for each of `questions` (same order, same decisions), `batch_size` generations at a time.
    On a generator that decodes continuously (the bundled one), the questions are one run: they are prepared
    while it runs and each is finished when its generation ends (a long list has one tail, not one per slice), and
    `on_answer(i, answer)` follows each as it is ready; elsewhere (`models.base.generate_batch`) all are prepared
    first and `on_answer` follows each at the end. Each `latency_ms` is the answer's own preparation and checks
    plus its share of the generation time, added to the object `on_answer` had when the run ends."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    decoding = answer_decoding(ctx, adapter.path if adapter else None)
    answers: list[Answer | None] = [None] * len(questions)
    preps: dict[int, Prepared] = {}
    order: list[int] = []  # the question of each generation, in the order they went to the generator
    nxt, own = 0, 0.0  # the next question to prepare; seconds of preparation and checks within the generation

    def deliver(i: int, answer: Answer) -> None:
        answers[i] = answer
        if on_answer is not None:
            on_answer(i, answer)

    def take(n: int) -> list[BatchItem]:
        """Up to `n` questions for free rows, prepared now (those that need no generation are answered on the
        way): a question's retrieval runs when a row is free for it, so the first answers come back while later
        questions are still unprepared. Preparing 64 ahead was no faster: 200 questions at batch 8, two
        interleaved rounds, 54.7 and 58.4 s against 55.0 and 57.6 s (2026-12-02). An earlier slowdown of
        preparing per row was the dense search's spinning BLAS threads (store/sqlite.py, `dense_scores`)."""
        nonlocal nxt, own
        started, taken = time.perf_counter(), []
        while len(taken) < n and nxt < len(questions):
            i, nxt = nxt, nxt + 1
            p = prepare(ctx, questions[i], strategy, adapter, k)
            if p.answer is not None:
                deliver(i, p.answer)
            else:
                preps[i] = p
                taken.append(i)
        own += time.perf_counter() - started
        order.extend(taken)
        return [BatchItem(preps[i].messages, preps[i].constrain_to, constant_head(preps[i].messages)) for i in taken]

    def done(n: int, text: str) -> None:
        nonlocal own
        started, i = time.perf_counter(), order[n]
        deliver(i, finish(ctx, preps[i], text))
        own += time.perf_counter() - started  # `on_answer`'s work (compare scores there) is not generation either

    continuous, start = getattr(ctx.generator, "generate_continuous", None), time.perf_counter()
    if continuous is not None:
        while nxt < len(questions):  # a run may end early (a stream waits): the next goes on from there
            continuous(take, decoding, batch_size, done, offset=len(order))
    else:
        items = take(len(questions))
        own, start = 0.0, time.perf_counter()
        for n, text in enumerate(generate_batch(ctx.generator, items, decoding, width=batch_size)):
            done(n, text)
    share = (time.perf_counter() - start - own) / max(1, len(order))
    for i in order:  # the objects `on_answer` had
        answers[i].latency_ms = round(answers[i].latency_ms + share * 1000, 1)  # type: ignore[union-attr]
    return answers  # type: ignore[return-value]
