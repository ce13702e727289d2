"""`compute_thread()`: the one thread that runs the process's model computations (torch forward passes).

Why: torch's CPU kernels run on OpenMP, and the PyPI wheels use GNU libgomp. libgomp gives every thread that
starts a parallel region its own team of worker threads, and it counts them for the whole process: once the
process holds more of them than it has CPUs, every team stops spinning between regions and sleeps in the kernel
instead (libgomp's `do_spin`: `gomp_managed_threads > gomp_available_cpus` selects a spin count of ~100). A
forward pass is some 600 parallel regions, and each then pays a sleep and a wake-up. Measured on 2 cores
(docs/benchmarks.md, "### Batched generation", "One thread for the model"): with a second thread that had run one
forward pass still alive, a 224-token prefill on the main thread made 572-766 voluntary context switches instead of
0 and took 216-223 ms instead of 163-199 ms.

The server is exactly that case: requests run on a pool of threads, and a continuous run is handed from caller to
caller (models/batcher.py), so every thread that ever drove it kept its own team, and every forward pass of a
busy server ran throttled. Here every model computation of a generator goes to one long-lived thread, whichever
thread asks, so the process holds one team. A call made on that thread (a computation that needs another) runs
inline.

A computation runs with its caller's torch thread count (`torch.set_num_threads`): OpenMP keeps that count per
thread, so a caller that set it (a test, `--threads`) would otherwise not reach the compute thread.

One thread for the whole process, not one per generator, because the limit is the process's: two generators
with a thread each would throttle each other again; for the same reason fine-tuning loads and trains its model
here (finetune/pipeline.py, finetune/search.py), since a process that synthesises questions, trains, then answers
would otherwise hold two teams. A computation on this thread must never wait for another thread's computation
(that one would queue behind it): nothing here does. The thread is a daemon: a CLI interrupted by Ctrl-C exits
without waiting for a long computation (`run(..., cancel=...)` lets the computation stop at its next step).
"""

from __future__ import annotations

import functools
import os
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_Call = tuple[Future, Callable[[], Any], "int | None"]  # the future, the call, the caller's torch thread count


def _torch_threads() -> int | None:
    """The calling thread's torch thread count; None while torch is not imported, or still being imported on
    another thread (a cold `ragft search` never imports it, and nothing computes with it then)."""
    get = getattr(sys.modules.get("torch"), "get_num_threads", None)
    return None if get is None else int(get())


class ComputeThread:
    """A daemon thread that runs submitted callables one at a time, in order of submission."""

    def __init__(self, name: str = "ragft-compute") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0  # the process that started the thread (a forked child inherits this object, not the thread)

    @property
    def ident(self) -> int | None:
        """The thread's id once it has started (None before the first call)."""
        return self._thread.ident if self._thread is not None else None

    def on_it(self) -> bool:
        """True when the calling thread is this one."""
        return self._thread is not None and self._pid == os.getpid() and threading.current_thread() is self._thread

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> "Future[T]":
        """Queue `fn(*args, **kwargs)`; its future holds the result or the exception."""
        future: Future[T] = Future()
        with self._lock:
            if self._thread is None or self._pid != os.getpid():  # none yet, or a forked child: start its own
                self._queue, self._pid = queue.SimpleQueue(), os.getpid()
                self._thread = threading.Thread(target=self._serve, args=(self._queue,), name=self.name, daemon=True)
                self._thread.start()
            self._queue.put((future, functools.partial(fn, *args, **kwargs), _torch_threads()))
        return future

    def run(self, fn: Callable[..., T], *args: Any, cancel: threading.Event | None = None, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on this thread (inline when called on it); its exception is raised here.

        When the waiting caller is interrupted (KeyboardInterrupt, or any exception raised into it), `cancel` is
        set, so a computation that checks it stops at its next step, and the caller waits for that before it
        re-raises: a caller that unwinds (and releases the locks it holds) never leaves a computation running on
        state it gave back."""
        if self.on_it():
            return fn(*args, **kwargs)
        future = self.submit(fn, *args, **kwargs)
        try:
            return future.result()
        except BaseException:
            if cancel is not None and not future.done():
                cancel.set()
                try:
                    future.exception()  # wait for it to stop; a second interrupt ends the wait
                except BaseException:  # noqa: BLE001 - the first error is the one to raise
                    pass
            raise

    @staticmethod
    def _serve(calls: "queue.SimpleQueue[_Call]") -> None:
        while True:
            future, call, threads = calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if threads is not None and threads != _torch_threads():
                    sys.modules["torch"].set_num_threads(threads)
                result = call()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                future.set_exception(exc)
            else:
                future.set_result(result)
            del future, call  # drop references (tensors, caches) before waiting for the next call


@functools.cache
def compute_thread() -> ComputeThread:
    """The process's compute thread (module docstring: one per process on purpose), started on first use."""
    return ComputeThread()
