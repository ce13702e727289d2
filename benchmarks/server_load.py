"""Bounded load test of `ragft serve` on loopback: N concurrent clients, a fixed number of requests each.

    .venv/bin/python benchmarks/server_load.py                     # 50 clients x 4 requests, tiny model
    .venv/bin/python benchmarks/server_load.py --generator bundled --clients 50 --requests 1

Each client sends chat completions (alternating non-streamed and streamed, model `rag`) and a search, and
reports every non-200 or broken stream as an error. The server runs in this process (uvicorn thread) over a
fresh workspace with a small document set. `--generator tiny` uses a 2-layer random Llama with the SmolLM2
tokenizer (real transformers code path, so the numbers measure the server: queueing, streaming, retrieval),
`bundled` the real SmolLM2-135M. Prints one JSON document; docs/benchmarks.md (## Server) records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

QUESTIONS = [
    "How many days do I have to return items?",
    "How long does shipping take?",
    "What does the warranty cover?",
    "Can I pay with a gift card?",
]
DOCS = {
    "returns.md": "# Returns\n\nItems can be returned within 30 days of delivery for a full refund.\n",
    "shipping.md": "# Shipping\n\nStandard shipping takes three to five business days; express takes one day.\n",
    "warranty.md": "# Warranty\n\nThe warranty covers manufacturing defects for two years from purchase.\n",
    "payment.md": "# Payment\n\nWe accept credit cards, PayPal and gift cards issued by our store.\n",
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


async def _client(http: httpx.AsyncClient, i: int, n: int, max_tokens: int, lat: list[float], errors: list[str]) -> None:
    for j in range(n):
        question = QUESTIONS[(i + j) % len(QUESTIONS)]
        body = {"model": "rag", "max_tokens": max_tokens, "messages": [{"role": "user", "content": question}],
                "stream": (i + j) % 2 == 1}
        t0 = time.perf_counter()
        try:
            if body["stream"]:
                async with http.stream("POST", "/v1/chat/completions", json=body) as r:
                    text = "".join([line async for line in r.aiter_lines()])
                    ok = r.status_code == 200 and "[DONE]" in text and '"finish_reason": "stop"' in text
            else:
                r = await http.post("/v1/chat/completions", json=body)
                ok = r.status_code == 200 and "citations" in r.json()
            if not ok:
                errors.append(f"chat {r.status_code}")
        except httpx.HTTPError as exc:
            errors.append(f"chat {type(exc).__name__}: {exc}")
        lat.append((time.perf_counter() - t0) * 1000)


async def _run(url: str, clients: int, requests_per_client: int, max_tokens: int, timeout_s: float) -> dict[str, Any]:
    lat: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*[_client(http, i, requests_per_client, max_tokens, lat, errors) for i in range(clients)])
        wall = time.perf_counter() - t0
    return {
        "clients": clients, "requests": len(lat), "errors": len(errors), "error_samples": errors[:5],
        "wall_s": round(wall, 2), "throughput_rps": round(len(lat) / wall, 2) if wall else 0.0,
        "p50_ms": round(_percentile(lat, 50), 1), "p95_ms": round(_percentile(lat, 95), 1),
        "max_ms": round(max(lat), 1) if lat else 0.0,
    }


def run_load(url: str, clients: int = 50, requests_per_client: int = 4, max_tokens: int = 16,
             timeout_s: float = 600.0) -> dict[str, Any]:
    """Drive `url` with `clients` concurrent clients x `requests_per_client` chat requests; latency in ms."""
    return asyncio.run(_run(url, clients, requests_per_client, max_tokens, timeout_s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=4, help="Requests per client.")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--generator", choices=["tiny", "bundled"], default="tiny")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ragft.server import create_app, serve_in_thread
    from ragft.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="ragft-load-"))
    docs = tmp / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    ws = Workspace(tmp / "ws")
    if args.generator == "tiny":
        from tests.tiny_model import make_tiny_model_dir

        ws.settings.generator.model = str(make_tiny_model_dir(tmp / "tiny"))
    ws.settings.server.rate_limit_per_minute = 100_000  # one client address: measure the server, not the limiter
    ws.settings.server.max_queue = max(ws.settings.server.max_queue, args.clients)
    ws.ingest([docs])
    ws.generator  # load the model before timing  # noqa: B018
    ws.search("warm up the embedder")
    with serve_in_thread(create_app(ws)) as url:
        result = run_load(url, args.clients, args.requests, args.max_tokens)
    result.update(generator=args.generator, model=ws.generator.name, max_tokens=args.max_tokens,
                  embedder=ws.embedder.name, workers=ws.settings.server.workers)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
