"""`Coalescer`: concurrent `generate` calls from several threads become one batched `generate_batch` call.

Why: on a CPU a 135M model is memory-bound while decoding; eight rows cost little more than one per step, so a
server with eight clients answers several times faster when their generations share forward passes
(docs/benchmarks.md, "### Batched generation"). The server's `ModelQueue` runs requests on several threads; each
reaches `generate` after its own retrieval and prompt building, and the coalescer gathers them:

- the first caller to find the generator idle leads a batch; callers that arrive while a batch runs wait for
  the next one (so a busy generator batches whatever piled up, with no timer);
- a leader also waits, at most `window_s`, for callers that are on their way: the requests the `ModelQueue` has
  admitted (`in_flight`) that have neither had their generation nor ended (they are still retrieving). Outside
  a server nothing is in flight, so a CLI `ask` or a sequential `compare` never waits;
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

_lock = threading.Lock()
_to_generate = 0  # requests in flight that have not had their generation yet
_local = threading.local()  # .pending: this thread's request is counted in _to_generate


@contextlib.contextmanager
def in_flight() -> Iterator[None]:
    """Marks one request on this thread that will probably call `generate` soon; the server's ModelQueue wraps
    each job in it. The mark is dropped when the request's generation returns or the request ends."""
    global _to_generate
    with _lock:
        _to_generate += 1
    _local.pending = True
    try:
        yield
    finally:
        _generated()


def _generated() -> None:
    """This thread's request no longer waits for a generation (it got one, or it ended without one)."""
    global _to_generate
    if getattr(_local, "pending", False):
        _local.pending = False
        with _lock:
            _to_generate -= 1


def requests_to_generate() -> int:
    """Requests admitted by the server that have not reached (or passed) their generation yet."""
    return _to_generate


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
        window_s: the longest a leader waits for requests still on their way (see `in_flight`).
    """

    def __init__(self, run_batch: RunBatch, max_batch: int = 8, window_s: float = 2.0) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.run_batch, self.max_batch, self.window_s = run_batch, max_batch, window_s
        self._cond = threading.Condition()
        self._waiting: list[_Call] = []
        self._running: list[_Call] = []
        self._busy = False
        self.batch_sizes: list[int] = []  # every batch run, for tests and the benchmark

    def generate(self, item: BatchItem, decoding: Decoding) -> str:
        try:
            return self._generate(item, decoding)
        finally:
            _generated()

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
        """The leader's batch: wait (holding the condition's lock only while waiting) for the requests in flight,
        then take up to `max_batch` waiting calls with the leader's decoding, in arrival order."""
        deadline = time.monotonic() + self.window_s
        while True:
            same = [c for c in self._waiting if c.decoding == lead.decoding]
            # Every request still before its generation is waiting here already (or the batch is full).
            arrived = len(self._waiting) >= requests_to_generate() or len(same) >= self.max_batch
            remaining = deadline - time.monotonic()
            if arrived or remaining <= 0:
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
            for c in batch:
                c.done = True
            self._running = []
            self._busy = False
            self._cond.notify_all()
