"""The compute thread (ragft/models/compute.py): every model computation runs on one thread, whoever asks.

Why it matters is libgomp's, not ours: once more threads have run torch's parallel regions than the process has
CPUs, every forward pass sleeps and wakes between its regions (measured in docs/benchmarks.md). These tests check
the contract that prevents it: which thread computes, not how fast.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from ragft.models.base import BatchItem, Decoding
from ragft.models.compute import ComputeThread, compute_thread

Q = [{"role": "user", "content": "What is the capital of France?"}]


def test_calls_from_several_threads_run_on_one_thread_in_order():
    ct = ComputeThread("test-compute")
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def record(i: int) -> int:
        with lock:
            seen.append((i, threading.get_ident()))
        return i * 10

    results: dict[int, int] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, ct.run(record, i))) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {i: i * 10 for i in range(6)}
    assert {ident for _, ident in seen} == {ct.ident}
    assert ct.ident not in {t.ident for t in threads} | {threading.get_ident()}
    futures = [ct.submit(record, i) for i in range(100, 105)]
    assert [f.result(30) for f in futures] == [i * 10 for i in range(100, 105)]
    assert [i for i, _ in seen[-5:]] == list(range(100, 105))  # one at a time, in order of submission


def test_a_call_made_on_the_thread_runs_inline_and_errors_reach_the_caller():
    ct = ComputeThread("test-compute")
    # inline: a computation that needs another does not wait for itself
    assert ct.run(lambda: ct.run(lambda: threading.get_ident())) == ct.run(threading.get_ident)

    def boom() -> None:
        raise ValueError("bad weights")

    with pytest.raises(ValueError, match="bad weights"):
        ct.run(boom)
    assert ct.run(lambda: 7) == 7  # the thread survives a failed call


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
def test_an_interrupted_caller_cancels_the_computation_and_waits_for_it_to_stop():
    ct = ComputeThread("test-compute")
    cancel = threading.Event()
    state = {"stopped": False}

    def long_computation() -> None:
        deadline = time.monotonic() + 20
        while not cancel.is_set():  # a decoder checks between steps
            assert time.monotonic() < deadline, "the computation was never cancelled"
            time.sleep(0.005)
        time.sleep(0.2)  # the step in flight finishes
        state["stopped"] = True

    class Interrupted(Exception):
        pass

    def on_alarm(signum, frame):  # type: ignore[no-untyped-def]
        raise Interrupted

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupted):
            ct.run(long_computation, cancel=cancel)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert cancel.is_set() and state["stopped"]  # the caller re-raised only once the computation had stopped


def test_a_computation_runs_with_its_callers_torch_thread_count():
    """OpenMP keeps the thread count per thread: `torch.set_num_threads(1)` on the caller must still reach the
    computation it hands over (tests/test_answer.py compares answers at 1 and 2 threads through it)."""
    import torch

    ct = ComputeThread("test-compute")
    before = torch.get_num_threads()
    try:
        seen = []
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            seen.append(ct.run(torch.get_num_threads))
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 2, 1]


def test_the_generator_computes_only_on_the_compute_thread(tiny_generator):
    """Loading, one-by-one answers from several threads (the server's coalesced runs, handed from caller to
    caller), a stream and a sampled answer: every forward pass of the model runs on the compute thread."""
    tiny_generator.warm_up()
    model = tiny_generator.model
    idents: list[int] = []
    hook = model.register_forward_pre_hook(lambda module, args: idents.append(threading.get_ident()))
    try:
        assert tiny_generator.generate(Q, max_tokens=6)  # the calling (main) thread
        results: dict[int, str] = {}

        def ask(i: int) -> None:
            item = BatchItem([{"role": "user", "content": f"question {i}"}])
            results[i] = tiny_generator.generate_one(item, Decoding.of(6 + i % 3))

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(results) == list(range(5))
        assert "".join(tiny_generator.stream(Q, max_tokens=6))
        assert isinstance(tiny_generator.generate(Q, max_tokens=4, temperature=1.5), str)
    finally:
        hook.remove()
    assert idents and set(idents) == {compute_thread().ident}
    assert compute_thread().ident not in {t.ident for t in threads} | {threading.get_ident()}


def _in_child(out) -> None:  # type: ignore[no-untyped-def]
    out.put(compute_thread().run(lambda: (os.getpid(), threading.get_ident())))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_gets_its_own_compute_thread():
    """A child forked after the thread started inherits the object but not the thread: its calls must not wait
    on a queue nobody serves."""
    import multiprocessing

    parent = compute_thread().run(lambda: (os.getpid(), threading.get_ident()))
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_in_child, args=(out,))
    child.start()
    try:
        got = out.get(timeout=30)
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()
    assert got[0] == child.pid != parent[0]
