"""`Coalescer`: concurrent `generate` calls from several threads become one batched generation.

Why: on a CPU a 135M model is memory-bound while decoding; eight rows cost little more than one per step, so a
server with eight clients answers several times faster when their generations share forward passes
(docs/benchmarks.md, "### Batched generation"). The server's `ModelQueue` runs requests on several threads; each
reaches `generate` after its own retrieval and prompt building, and the coalescer gathers them:

- the first caller to find the generator idle leads a run (its forward passes run on the process's compute
  thread, models/compute.py, whichever caller drives it); callers that arrive while a run decodes wait for it to
  take them, or for the next run;
- before a run, the leader waits, at most `window_s`, for callers that are on their way: the requests counted in
  the coalescer's own `Arrivals` (marked by the server's `ModelQueue` on the generator that will serve them) that
  have neither had their generation nor ended (they are still retrieving). Outside a server nothing is marked, so
  a CLI `ask` or a sequential `compare` never waits; and each generator counts only its own requests, so two
  servers (or a server and a `compare`) in one process never wait for each other's arrivals;
- a run that would start smaller than the last one also waits, at most `follow_s`, for more callers:
  closed-loop clients (the callers of the last run) send their next request as soon as their answer arrives;
  after a run of one (a CLI `ask`, a single client) nothing waits;
- a run holds calls with the same `Decoding` (same adapter, budget, temperature, stops), at most `max_batch`
  at a time. With `continuous` (the bundled generator's `open_run`), calls that arrive during a run join it as
  rows free up, and each caller gets its answer when its own row ends: when the leader's answer is done, it
  hands the run, at the next step, to a caller whose row still decodes, and returns. The run stops admitting
  when a call with another decoding waits (that call leads next), or while a stream waits for the generator
  (calls it had not admitted go back to the front of the queue). Without `continuous`, a run is one
  `run_batch` of up to `max_batch` calls. A failing run raises its error in every caller it had taken.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ragft.models.base import BatchItem, Decoding

RunBatch = Callable[[Sequence[BatchItem], Decoding], list[str]]


class Run(Protocol):
    """A continuous run (`TransformersGenerator.open_run`): it holds the generator until `close()`."""

    def advance(self, admit: Callable[[int], Sequence[BatchItem]], done: Callable[[int, str], None],
                pause: Callable[[], bool] | None = None) -> bool:
        """Decode what `admit(n)` gives until it gives nothing and all has ended (True), or until `pause()` at a
        step boundary (False); `done(i, text)` for the i-th admitted item as it ends."""
        ...

    def close(self) -> None: ...


OpenRun = Callable[[Decoding, int], Run]
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
    """Runs `generate` calls through `run_batch` (or continuous runs), several at a time when they arrive together
    (module docstring).

    Args:
        run_batch: the batched generation (`TransformersGenerator.generate_batch`).
        max_batch: the most calls decoded together (1 = every call alone, in arrival order).
        window_s: the longest a run waits for requests still on their way (marked in `arrivals`).
        follow_s: the longest a run waits for more callers when it would start smaller than the last one.
        arrivals: the requests on their way to this coalescer; a fresh, empty one by default.
        clock: seconds, for the window (tests pass a fake one).
        continuous: opens a continuous run (`TransformersGenerator.open_run`); calls join it while it decodes.
    """

    def __init__(self, run_batch: RunBatch, max_batch: int = 8, window_s: float = 2.0, arrivals: Arrivals | None = None,
                 clock: Callable[[], float] = time.monotonic, follow_s: float = 0.0,
                 continuous: OpenRun | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.run_batch, self.max_batch, self.window_s, self.follow_s = run_batch, max_batch, window_s, follow_s
        self.continuous = continuous
        self.arrivals = arrivals if arrivals is not None else Arrivals()
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: list[_Call] = []
        self._running: list[_Call] = []
        self._busy = False
        self._driver: _Call | None = None  # the call whose thread is to go on with the paused continuous run
        self._run_state: _RunState | None = None  # that run
        self._last_size = 0  # calls in the last run (follow_s)
        self.batch_sizes: list[int] = []  # the calls of every run, for tests and the benchmark

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
        while not call.done:  # more than once only when a run ended without admitting this call
            with self._cond:
                # The oldest waiting call leads the next run: a run that stopped admitting for another decoding
                # is followed by that call's run, whichever thread wakes first.
                while not call.done and self._driver is not call and (self._busy or self._waiting[0] is not call):
                    self._cond.wait()
                run: _RunState | None = None
                if self._driver is call:  # the run was handed to this call's thread
                    run, self._driver, self._run_state = self._run_state, None, None
                elif not call.done:
                    self._busy = True  # this call leads the next run
                    batch = self._gather(call)
            if not call.done:
                if run is not None:
                    self._drive(call, run)
                elif self.continuous is not None:
                    self._drive(call, self._open(batch))
                else:
                    self._run(batch)
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    @property
    def queued(self) -> int:
        """Calls accepted and not finished: waiting for a run, or in the run being gathered or decoded."""
        with self._cond:
            return len(self._waiting) + len(self._running)

    def _gather(self, lead: _Call) -> list[_Call]:
        """The leader's run: wait (holding the condition's lock only while waiting) for the requests marked in
        `arrivals` that have not arrived yet, and briefly for more callers when the run would be smaller than the
        last one; then take up to `max_batch` waiting calls with the leader's decoding, in arrival order."""
        start = self._clock()
        deadline, follow_until = start + self.window_s, start + self.follow_s
        while True:
            same = [c for c in self._waiting if c.decoding == lead.decoding]
            if len(same) >= self.max_batch:
                break
            on_way = len(self._waiting) < self.arrivals.count  # marked requests not here yet
            returning = len(same) < self._last_size  # the last run's callers may be on their way back
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
        self._running = list(batch)
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
        self._finish(batch)

    # ------------------------------------------------------------------ continuous runs
    def _open(self, batch: list[_Call]) -> "_RunState":
        state = _RunState(decoding=batch[0].decoding, start=list(batch))
        try:
            assert self.continuous is not None
            state.run = self.continuous(state.decoding, self.max_batch)
        except BaseException as exc:  # noqa: BLE001 - e.g. an adapter that does not load: its callers see it
            state.error = exc
        return state

    def _admit(self, state: "_RunState", n: int) -> list[BatchItem]:
        with self._cond:
            if state.start:
                more = state.start[:n]
                del state.start[:n]
            elif any(c.decoding != state.decoding for c in self._waiting):
                more = []  # another decoding waits: this run ends and that call leads the next one
            else:
                more = [c for c in self._waiting if c.decoding == state.decoding][:n]
                for c in more:
                    self._waiting.remove(c)
                    self._running.append(c)
        state.taken.extend(more)
        return [c.item for c in more]

    def _done(self, state: "_RunState", i: int, text: str) -> None:
        with self._cond:
            call = state.taken[i]
            call.result, call.done = text, True
            self._running.remove(call)
            self._cond.notify_all()

    def _drive(self, me: _Call, state: "_RunState") -> None:
        """Go on with the continuous run `state` on this thread until it ends, or until this call has its answer
        and the run is handed to a caller whose row still decodes."""
        ended = state.error is not None
        if not ended:
            try:
                assert state.run is not None
                ended = state.run.advance(lambda n: self._admit(state, n), lambda i, t: self._done(state, i, t),
                                          pause=lambda: me.done)
            except BaseException as exc:  # noqa: BLE001 - every caller the run had taken sees the failure
                state.error, ended = exc, True
        if not ended:
            with self._cond:
                self._run_state = state
                self._driver = next(c for c in state.taken if not c.done)  # rows remain: their calls are not done
                self._cond.notify_all()
            return
        if state.run is not None:
            try:
                state.run.close()
            except BaseException as exc:  # noqa: BLE001
                state.error = state.error or exc
        # A run that ended without admitting some of the calls it was opened for (a stream asked for the
        # generator first) gives them back, at the front of the queue; a failed run fails them.
        failed, requeue = (state.start, []) if state.error is not None else ([], state.start)
        calls = state.taken + failed
        for c in calls:
            if not c.done:
                c.error = state.error or RuntimeError("the generation ended without this call's answer")
        self._finish(calls, requeue)

    def _finish(self, calls: list[_Call], requeue: Sequence[_Call] = ()) -> None:
        with self._cond:
            if calls:
                self.batch_sizes.append(len(calls))
                self._last_size = len(calls)
            for c in calls:
                c.done = True
            self._running = [c for c in self._running if c not in calls and c not in requeue]
            self._waiting[:0] = requeue
            self._busy = False
            self._cond.notify_all()


@dataclass(eq=False)
class _RunState:
    """A continuous run in progress: its decoding, the calls it was started with and has not admitted yet, the
    calls it has admitted (index i = the i-th admitted), the open run, and its error if it failed."""

    decoding: Decoding
    start: list[_Call]
    taken: list[_Call] = field(default_factory=list)
    run: Run | None = None
    error: BaseException | None = None
