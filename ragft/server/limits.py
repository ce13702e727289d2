"""Unbounded-consumption guards (OWASP LLM10): per-key rate limit, request size limit, bounded model queue.

- `RateLimiter`: a sliding one-minute window per API key (or per client address when no users exist).
- `BodySizeLimit`: ASGI middleware that refuses bodies above `max_request_bytes` with 413, from the
  Content-Length header when present and by counting streamed bytes otherwise (chunked uploads).
- `ModelQueue`: model calls (generation, embedding) run on a small thread pool, off the event loop. At most
  `max_queue` calls may be running or waiting; the next one gets 503 at once instead of piling up memory
  and latency. `shutdown()` waits for queued calls to finish, so a SIGTERM drains instead of cutting answers.
  Up to `batch` requests per worker run at once: each retrieves and builds its prompt on its own thread, and
  their generations meet in the generator's batcher (ragft/models/batcher.py), which runs them as one batch.
  Every job is marked on the `Arrivals` of the generator that will serve it, so a batch waits briefly for
  admitted requests that are still retrieving. The queue gets those `Arrivals` from a callable asked at job time,
  not when the app is built: building the app loads no model, and each server marks only its own generator.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ragft.models.batcher import Arrivals

T = TypeVar("T")
ArrivalsSource = Callable[[], "Arrivals | None"]
"""Where a job is marked: the `Arrivals` of the generator that will serve it, or None (nothing batches its calls)."""
DEFAULT_BATCH = 8
"""Requests per worker in flight together; the bundled generator batches up to `bundled.MAX_BATCH` of them."""


class ApiError(Exception):
    """An error answered in the OpenAI shape: {"error": {"message", "type", "code"}} with `status`."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code)


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, "param": None}}


class RateLimiter:
    """At most `per_minute` requests per key in any 60-second window (sliding log; memory O(keys x limit))."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._hits: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Record one request for `key`; ApiError 429 (with Retry-After) when the window is full."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, collections.deque())
            while hits and now - hits[0] >= 60.0:
                hits.popleft()
            if len(hits) >= self.per_minute:
                retry = max(1, int(60.0 - (now - hits[0])) + 1)
                raise ApiError(429, f"rate limit of {self.per_minute} requests per minute exceeded; retry in {retry} s "
                                    "(server.rate_limit_per_minute in ragft.toml)", "rate_limit_error", "rate_limit_exceeded",
                               headers={"Retry-After": str(retry)})
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle keys so random keys cannot grow memory without bound
                for k in [k for k, d in self._hits.items() if not d or now - d[-1] >= 60.0]:
                    del self._hits[k]


class LoginGuard:
    """Failed logins per client address: after `per_minute` failures in 60 s, every request from that address gets
    429 before its key is even checked, until the window drains (brute-forcing keys costs a minute per try batch)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._fails: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _window(self, client: str, now: float) -> collections.deque[float]:
        fails = self._fails.setdefault(client, collections.deque())
        while fails and now - fails[0] >= 60.0:
            fails.popleft()
        return fails

    def check(self, client: str) -> None:
        """ApiError 429 (with Retry-After) while `client` is over its failed-login budget."""
        now = self._clock()
        with self._lock:
            fails = self._window(client, now)
            if len(fails) >= self.per_minute:
                retry = max(1, int(60.0 - (now - fails[0])) + 1)
                raise ApiError(429, f"too many failed logins from this address; retry in {retry} s",
                               "rate_limit_error", "too_many_failed_logins", headers={"Retry-After": str(retry)})

    def failed(self, client: str) -> int:
        """Record one failed login; returns the failures of `client` in the current window."""
        now = self._clock()
        with self._lock:
            fails = self._window(client, now)
            fails.append(now)
            if len(self._fails) > 10_000:
                for k in [k for k, d in self._fails.items() if not d or now - d[-1] >= 60.0]:
                    del self._fails[k]
            return len(fails)


class QueueFull(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(503, f"server busy: {limit} model requests already running or queued; retry shortly "
                              "(server.max_queue in ragft.toml)", "server_error", "queue_full", headers={"Retry-After": "1"})


class ModelQueue:
    """A bounded queue in front of a thread pool that runs model calls.

    Args:
        max_queue: calls running or waiting before the next one gets 503.
        workers: generations at once (`server.workers`); the bundled generator runs one batch at a time.
        batch: requests per worker that run together so their generations can share a batch (module docstring).
        arrivals: asked on each job's thread before the job runs; the job is marked there until its generation
            (or its end). None: jobs are not marked (nothing waits for them).
    """

    def __init__(self, max_queue: int, workers: int = 1, batch: int = DEFAULT_BATCH,
                 arrivals: ArrivalsSource | None = None) -> None:
        self.max_queue = max_queue
        self._arrivals = arrivals
        self._pool = ThreadPoolExecutor(max_workers=workers * max(1, batch), thread_name_prefix="ragft-model")
        self._pending = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def pending(self) -> int:
        return self._pending

    def _reserve(self) -> None:
        with self._lock:
            if self._closed:
                raise ApiError(503, "server is shutting down; retry on another instance", "server_error", "shutting_down")
            if self._pending >= self.max_queue:
                raise QueueFull(self.max_queue)
            self._pending += 1

    def _release(self, _fut: object = None) -> None:
        with self._lock:
            self._pending -= 1

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> "Future[T]":
        """Queue `fn(*args, **kwargs)`; QueueFull (503) at once when `max_queue` calls are running or waiting."""
        self._reserve()
        try:
            fut = self._pool.submit(self._marked, fn, *args, **kwargs)
        except BaseException:
            self._release()
            raise
        fut.add_done_callback(self._release)
        return fut

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` on the pool and await its result."""
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    def shutdown(self) -> None:
        """Refuse new calls and wait until every running and queued call has finished."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True)

    def _marked(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one job, marked on its generator's `Arrivals`; the mark is dropped by the generation or at the end."""
        arrivals = self._arrivals() if self._arrivals is not None else None
        with arrivals.expect() if arrivals is not None else contextlib.nullcontext():
            return fn(*args, **kwargs)




class BodySizeLimit:
    """ASGI middleware: 413 in the OpenAI error shape for request bodies above `max_bytes`."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_bytes
            except ValueError:
                await self._reject(send, 400, "invalid Content-Length header", "bad_request")
                return
            if too_big:
                await self._reject(send, 413, self._message(), "request_too_large")
                return
        seen = 0
        started = False

        async def counted_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send, 413, self._message(), "request_too_large")

    def _message(self) -> str:
        return (f"request body larger than {self.max_bytes} bytes; send a smaller file or raise "
                "server.max_request_bytes in ragft.toml")

    @staticmethod
    async def _reject(send: Callable, status: int, message: str, code: str) -> None:
        body = json.dumps(error_body(message, "invalid_request_error", code)).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """Raised by the counting receive(); app.py maps it (also when FastAPI wraps it) to 413."""
