"""`Coalescer`: concurrent `generate` calls from several threads become one batched `generate_batch` call.

Why: on a CPU a 135M model is memory-bound while decoding; eight rows cost little more than one per step, so a
server with eight clients answers several times faster when their generations share forward passes
(docs/benchmarks.md, "### Batched generation"). The server's `ModelQueue` runs requests on several threads; each
reaches `generate` after its own retrieval and prompt building, and the coalescer gathers them:

- the first caller to find the generator idle leads a batch; callers that arrive while a batch runs wait for
  the next one (so a busy generator batches whatever piled up, with no timer);
- a leader also waits up to `window_s` for callers that are on their way: the requests the `ModelQueue` has
  admitted (`in_flight`) but that have not reached `generate` yet. Outside a server nothing is in flight, so a
  CLI `ask` or a sequential `compare` never waits;
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

_in_flight = 0
_in_flight_lock = threading.Lock()


@contextlib.contextmanager
def in_flight() -> Iterator[None]:
    """Marks one request that will (probably) call `generate` soon; the server's ModelQueue wraps each job in it."""
    global _in_flight
    with _in_flight_lock:
        _in_flight += 1
    try:
        yield
    finally:
        with _in_flight_lock:
            _in_flight -= 1


def requests_in_flight() -> int:
    return _in_flight


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
        window_s: how long a leader waits for requests still on their way (see `in_flight`).
    """

    def __init__(self, run_batch: RunBatch, max_batch: int = 8, window_s: float = 0.25) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.run_batch, self.max_batch, self.window_s = run_batch, max_batch, window_s
        self._cond = threading.Condition()
        self._waiting: list[_Call] = []
        self._running: list[_Call] = []
        self._busy = False
        self.batch_sizes: list[int] = []  # every batch run, for tests and the benchmark

    def generate(self, item: BatchItem, decoding: Decoding) -> str:
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
            expected = min(self.max_batch, max(requests_in_flight(), 1))
            remaining = deadline - time.monotonic()
            if len(same) >= expected or remaining <= 0:
                break
            self._cond.wait(remaining)
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
