"""`Coalescer`: concurrent `generate` calls from several threads become one batched `generate_batch` call.

Why: on a CPU a 135M model is memory-bound while decoding; eight rows cost little more than one per step, so a
server with eight clients answers several times faster when their generations share forward passes
(docs/benchmarks.md, "### Batched generation"). The server's `ModelQueue` runs requests on several threads; each
reaches `generate` after its own retrieval and prompt building, and the coalescer gathers them:

- the first caller to find the generator idle leads a batch; callers that arrive while a batch runs wait for
  the next one (so a busy generator batches whatever piled up, with no timer);
- a leader also waits, at most `window_s`, for callers that are on their way: the requests counted in the
  coalescer's own `Arrivals` (marked by the server's `ModelQueue` on the generator that will serve them) that
  have neither had their generation nor ended (they are still retrieving). Outside a server nothing is marked, so
  a CLI `ask` or a sequential `compare` never waits; and each generator counts only its own requests, so two
  servers (or a server and a `compare`) in one process never wait for each other's arrivals;
- a leader whose batch would be smaller than the last batch also waits, at most `follow_s`, for more callers:
  closed-loop clients (the callers of the last batch) send their next request as soon as their answer arrives,
  and are admitted a few milliseconds after a lone caller from the batch before has taken the lead; without
  this, 8 such clients settle into batches of 1 and 7 (measured: docs/benchmarks.md, "### Batched generation").
  After a batch of one (a CLI `ask`, a single client) nothing waits;
- a batch holds at most `max_batch` calls with the same `Decoding` (same adapter, budget, temperature, stops);
  others wait for a later batch. A failing batch raises its error in every caller of that batch.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ragft.models.base import BatchItem, Decoding

RunBatch = Callable[[Sequence[BatchItem], Decoding], list[str]]
POLL_S = 0.02


class Arrivals:
    """The requests on their way to one coalescer: admitted (by the server's `ModelQueue`) and not yet generated.

    A request is marked on its own thread (`expect()`); the mark is dropped when that thread's generation returns
    (`generated()`, called by `Coalescer.generate`) or when the request ends without one (an early abstention, an
    error, a search). A thread carries at most one mark per `Arrivals`: a nested `expect()` counts nothing more.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._local = threading.local()  # .pending: this thread's request is in `_count`

    @property
    def count(self) -> int:
        """Requests marked and not yet generated (nor ended)."""
        return self._count

    @contextlib.contextmanager
    def expect(self) -> Iterator[None]:
        """Mark the request running on this thread: it will probably call `generate` soon."""
        if getattr(self._local, "pending", False):
            yield  # already marked by an outer expect(), which drops the mark
            return
        with self._lock:
            self._count += 1
        self._local.pending = True
        try:
            yield
        finally:
            self.generated()

    def generated(self) -> None:
        """This thread's request no longer waits for a generation (it got one, or it ended without one)."""
        if getattr(self._local, "pending", False):
            self._local.pending = False
            with self._lock:
                self._count -= 1


def arrivals_of(generator: object) -> Arrivals | None:
    """The `Arrivals` of a generator that coalesces calls (`TransformersGenerator.arrivals`); None for the others
    (the OpenAI-compatible client, fakes): nothing waits for their arrivals, so nothing needs marking."""
    arrivals = getattr(generator, "arrivals", None)
    return arrivals if isinstance(arrivals, Arrivals) else None


@dataclass(eq=False)
class _Call:
    item: BatchItem
    decoding: Decoding
    done: bool = False
    result: str | None = None
    error: BaseException | None = None


class Coalescer:
    """Runs `generate` calls through `run_batch`, several at a time when they arrive together (module docstring).

    Args:
        run_batch: the batched generation (`TransformersGenerator.generate_batch`).
        max_batch: the most calls in one batch (1 = every call alone, in arrival order).
        window_s: the longest a leader waits for requests still on their way (marked in `arrivals`).
        follow_s: the longest a leader waits for more callers when its batch is smaller than the last one.
        arrivals: the requests on their way to this coalescer; a fresh, empty one by default.
        clock: seconds, for the window (tests pass a fake one).
    """

    def __init__(self, run_batch: RunBatch, max_batch: int = 8, window_s: float = 2.0, arrivals: Arrivals | None = None,
                 clock: Callable[[], float] = time.monotonic, follow_s: float = 0.0) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.run_batch, self.max_batch, self.window_s, self.follow_s = run_batch, max_batch, window_s, follow_s
        self.arrivals = arrivals if arrivals is not None else Arrivals()
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: list[_Call] = []
        self._running: list[_Call] = []
        self._busy = False
        self._last_size = 0  # calls in the last batch run (follow_s)
        self.batch_sizes: list[int] = []  # every batch run, for tests and the benchmark

    def generate(self, item: BatchItem, decoding: Decoding) -> str:
        try:
            return self._generate(item, decoding)
        finally:
            self.arrivals.generated()

    def _generate(self, item: BatchItem, decoding: Decoding) -> str:
        call = _Call(item, decoding)
        with self._cond:
            self._waiting.append(call)
            self._cond.notify_all()  # a leader in its window counts the arrivals
            while not call.done and self._busy:
                self._cond.wait()
            if not call.done:
                self._busy = True  # this call leads the next batch
                batch = self._gather(call)
        if not call.done:
            self._run(batch)
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    @property
    def queued(self) -> int:
        """Calls accepted and not finished: waiting for a batch, or in the batch being gathered or run."""
        with self._cond:
            return len(self._waiting) + len(self._running)

    def _gather(self, lead: _Call) -> list[_Call]:
        """The leader's batch: wait (holding the condition's lock only while waiting) for the requests marked in
        `arrivals` that have not arrived yet, and briefly for more callers when the batch would be smaller than the
        last one; then take up to `max_batch` waiting calls with the leader's decoding, in arrival order."""
        start = self._clock()
        deadline, follow_until = start + self.window_s, start + self.follow_s
        while True:
            same = [c for c in self._waiting if c.decoding == lead.decoding]
            if len(same) >= self.max_batch:
                break
            on_way = len(self._waiting) < self.arrivals.count  # marked requests not here yet
            returning = len(same) < self._last_size  # the last batch's callers may be on their way back
            if not on_way and not returning:
                break
            until = max(deadline if on_way else start, follow_until if returning else start)
            remaining = until - self._clock()
            if remaining <= 0:
                break
            # Arrivals notify; a request that ends without generating (an early abstention) does not: poll.
            self._cond.wait(min(remaining, POLL_S))
        batch = [lead] + [c for c in same if c is not lead][: self.max_batch - 1]
        for c in batch:
            self._waiting.remove(c)
        self._running = batch
        return batch

    def _run(self, batch: list[_Call]) -> None:
        try:
            texts = self.run_batch([c.item for c in batch], batch[0].decoding)
            if len(texts) != len(batch):
                raise RuntimeError(f"generate_batch returned {len(texts)} texts for {len(batch)} prompts")
            for c, text in zip(batch, texts):
                c.result = text
        except BaseException as exc:  # noqa: BLE001 - every caller of the batch sees the failure
            for c in batch:
                c.error = exc
        with self._cond:
            self.batch_sizes.append(len(batch))
            self._last_size = len(batch)
            for c in batch:
                c.done = True
            self._running = []
            self._busy = False
            self._cond.notify_all()
