"""Batched generation (issue 19): `compare` answers/s at `--batch-size` 1 vs N with the share of identical
answers, and server throughput with 1 client vs 8 concurrent clients, on the bundled SmolLM2-135M with real
hybrid retrieval over rag-mini-wikipedia.

Parts (`--part`, default all):
- `profile`: where a generation's time goes on this CPU: prefill (the prompt) vs decode (one token per step) at
  batch 1 and 8, on a real rag prompt of the workspace (why batching pays: decode steps are memory-bound).
- `compare`: `Workspace.compare(strategies=S, batch_size=B)` on the same `--n` answerable questions for
  each B of `--batch-sizes`; answers/s = questions x strategies / wall time of the whole compare (one
  untimed-by-compare warm-up question and the scoring included); every answer is checked against batch size 1's,
  and the questions whose answers differ are listed. `--strategies` defaults to `rag` alone, the slowest case for
  batching (every prompt carries five retrieved chunks, and batching shares decode steps, never a prefill);
  `--strategies base,rag,ft,hybrid` is what `ragft compare` runs at its defaults, and `--train-rows N` first
  trains the ft and RAFT adapters ft/hybrid need (as benchmarks/compare.py --train does: N other questions of
  the set, never an evaluation one) when the workspace has none.
- `server`: `ragft serve`'s app on loopback; `--requests` rag chat completions sent by 1 client one after
  another, then by 8 clients concurrently (closed loop, each sends its next request when its answer arrives,
  over one kept-alive connection per client);
  requests/s and the batch sizes the generator ran.

The workspace must exist already (ingested once by benchmarks/answers.py, retrieval.mode = hybrid); its
ragft.toml's [generator] and [answer] sections are replaced by today's defaults for the run.

Run (idle machine; the figures for docs/benchmarks.md, "### Batched generation"):
    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/batching.py \
        --workspace /tmp/ragft-answers-bench/hybrid --data /work/shared/data \
        --n 48 --batch-sizes 1,4,8 --requests 32 --out /tmp/batching.json
`--part compare,server` skips the profile; `--threads 1` pins torch to one thread (on a machine other jobs
load, two spinning OpenMP threads lose most of their time waiting for each other); `--rounds 3` runs every
setting three times in turn (in reverse order every other round) and reports the median round (single runs of
the one-at-a-time path vary by 30% on a shared VM). Each figure carries what the continuous decoder did (`rows_per_step`, `decode_steps`,
`packed_joins`, `prefill_seconds`, `decode_seconds`). The JSON report carries the command, the date and the load average at the
start, at each figure and at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.answers import answerable, load_data  # noqa: E402


def open_ws(ws_dir: Path, dtype: str = "auto", answer: Sequence[str] = ()):  # type: ignore[no-untyped-def]
    """The workspace at today's [generator] and [answer] defaults; `answer` holds "KEY=VALUE" [answer] settings
    to run with instead (the `--answer` option of the answer benchmarks)."""
    from pydantic import ValidationError

    from ragft.config import AnswerSettings, Settings, load_settings
    from ragft.workspace import Workspace

    if not (ws_dir / "ragft.db").is_file():
        raise SystemExit(f"{ws_dir}: no ingested workspace; run benchmarks/answers.py first (see its docstring)")
    settings = load_settings(ws_dir)
    defaults = Settings()
    settings.generator = defaults.generator
    try:
        settings.answer = AnswerSettings.model_validate(dict(kv.split("=", 1) for kv in answer))
    except ValidationError as e:
        raise SystemExit(f"--answer: {'; '.join(err['msg'] + ' at ' + str(err['loc'][0]) for err in e.errors())}")
    settings.generator.dtype = dtype
    settings.server.rate_limit_per_minute = 100_000
    return Workspace(ws_dir, settings)


def add_answer_option(ap: argparse.ArgumentParser) -> None:
    """`--answer KEY=VALUE` (repeatable): the [answer] settings `open_ws` runs with instead of their defaults."""
    def key_value(text: str) -> str:
        if "=" not in text:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
        return text

    ap.add_argument("--answer", action="append", default=[], metavar="KEY=VALUE", type=key_value,
                    help="an [answer] setting for the run instead of its default, e.g. sentence_tokens=128 "
                         "(repeatable)")


def questions(data: Path, n: int, seed: int) -> list[dict]:
    passages, qa = load_data(data)
    pool = answerable(qa, passages)
    random.Random(seed).shuffle(pool)
    return [{"id": f"q{i}", "question": q["question"], "answer": q["answer"]} for i, q in enumerate(pool[:n])]


def part_profile(ws, qs: list[dict]) -> dict:  # type: ignore[no-untyped-def]
    """Prefill and decode seconds at batch 1 and 8 for the real prompts of the first 8 questions."""
    import torch

    from ragft.answer import prepare

    gen = ws.generator
    ctx = ws.answer_context(None)
    prompts = [p.messages for p in (prepare(ctx, q["question"], "rag") for q in qs[:16]) if p.messages][:8]
    rows = [gen.prompt_ids(m, ctx.max_new_tokens) for m in prompts]
    model = gen.model
    out: dict = {"prompt_tokens": [len(r) for r in rows]}
    for bs in (1, len(rows)):
        kwargs = gen._generate_kwargs(rows[:bs], [None] * bs, _decoding(ctx.max_new_tokens))
        ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
        steps = 16
        with torch.inference_mode():
            t0 = time.perf_counter()
            res = model(input_ids=ids, attention_mask=mask, use_cache=True)
            t1 = time.perf_counter()
            cache, nxt = res.past_key_values, res.logits[:, -1:].argmax(-1)
            for _ in range(steps):
                mask = torch.cat([mask, torch.ones(bs, 1, dtype=mask.dtype)], dim=1)
                res = model(input_ids=nxt, attention_mask=mask, past_key_values=cache, use_cache=True)
                cache, nxt = res.past_key_values, res.logits[:, -1:].argmax(-1)
            t2 = time.perf_counter()
        out[f"batch_{bs}"] = {"prefill_s": round(t1 - t0, 3), "decode_step_ms": round((t2 - t1) / steps * 1000, 1),
                              "padded_tokens": int(ids.numel())}
        print(f"profile batch {bs}: {out[f'batch_{bs}']}", file=sys.stderr, flush=True)
    return out


def _decoding(max_tokens: int):  # type: ignore[no-untyped-def]
    from ragft.models.base import Decoding

    return Decoding.of(max_tokens)


def _in_turn(settings: list[int], round_no: int) -> list[int]:
    """The settings in the order round `round_no` runs them: as given, then reversed every other round. The first
    setting of a process's first round pays what is cold there (the query embeddings, the first prompts' kernels:
    a first pass over 48 questions took 29.6 s of generation against 27.6 and 26.7 s for the next two, and their
    retrievals 1.19 s against 0.60 and 0.51 s); alternating spreads that over both sides of a ratio."""
    return list(settings) if round_no % 2 == 0 else list(reversed(settings))


def train_adapters(ws, rows: list[dict], qa_file: str, epochs: float) -> dict:  # type: ignore[no-untyped-def]
    """Train the ft and RAFT adapters `compare` picks for ft/hybrid on `rows` (none of the evaluation questions,
    which `exclude_qa` also keeps out of the training data); skipped for a kind the workspace already has."""
    kinds = {a.kind for a in ws.registry.list()}
    out: dict = {}
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as fh:
        fh.write("".join(json.dumps({"question": r["question"], "answer": r["answer"]}) + "\n" for r in rows))
    for name, raft in (("bench-ft", False), ("bench-raft", True)):
        if ("raft" if raft else "ft") in kinds:
            continue
        t0 = time.perf_counter()
        rep = ws.finetune(name=name, data=fh.name, raft=raft, epochs=epochs, exclude_qa=qa_file)
        out[name] = {"steps": rep.steps, "seconds": round(time.perf_counter() - t0, 1)}
        print(f"trained {name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def write_qa(qs: list[dict]) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as fh:
        for q in qs:
            fh.write(json.dumps(q) + "\n")
    return fh.name


def part_compare(ws, qs: list[dict], sizes: list[int], rounds: int = 1,  # type: ignore[no-untyped-def]
                 strategies: tuple[str, ...] = ("rag",)) -> dict:
    """`rounds` rounds, each running every batch size once in turn (so a slow spell of the machine hits all
    sizes alike), in reverse order every other round (`_in_turn`); a size's figures are its median round, and
    `speedup_rounds` the ratios within each round."""
    qa_file = write_qa(qs)
    runs: dict[int, list[dict]] = {bs: [] for bs in sizes}
    answers: dict[int, list[tuple[str, str | None]]] = {}  # (strategy, answer) per question
    gen = ws.generator
    for r in range(rounds):
        for bs in _in_turn(sizes, r):
            decoded = dataclasses.replace(gen.decoded) if hasattr(gen, "decoded") else None
            t0 = time.perf_counter()
            result = ws.compare(qa=qa_file, strategies=list(strategies), batch_size=bs, seed=0)
            wall = time.perf_counter() - t0
            ran = [s for s in strategies if s in result.strategies]
            if ran != list(strategies):
                raise SystemExit(f"compare skipped {sorted(set(strategies) - set(ran))}: {result.skipped}")
            got = [(s, r.results[s].answer) for s in ran for r in result.questions]
            if answers.setdefault(bs, got) != got:
                raise SystemExit(f"batch size {bs}: the answers changed between rounds")
            runs[bs].append({"seconds": round(wall, 1), "answers_per_s": round(len(got) / wall, 3),
                             "answer_correctness": {s: result.strategies[s].answer_correctness for s in ran},
                             "abstention_rate": {s: result.strategies[s].abstention_rate for s in ran},
                             "failed": sum(result.strategies[s].n_failed for s in ran),
                             "load_avg": os.getloadavg()[0], **_occupancy(gen, decoded)})
            print(f"compare batch {bs}: {runs[bs][-1]}", file=sys.stderr, flush=True)
    out = {str(bs): _median_run(runs[bs]) for bs in sizes}
    base = answers[sizes[0]]
    for bs in sizes[1:]:
        diff = [{"strategy": s, "question": q["question"], "sequential": a, "batched": b}
                for q, (s, a), (_, b) in zip(qs * len(strategies), base, answers[bs]) if a != b]
        out[str(bs)]["identical_pct"] = round(100 * (1 - len(diff) / len(base)), 1)
        out[str(bs)]["speedup"] = round(out[str(bs)]["answers_per_s"] / out[str(sizes[0])]["answers_per_s"], 2)
        out[str(bs)]["speedup_rounds"] = [round(b["answers_per_s"] / a["answers_per_s"], 2)
                                          for a, b in zip(runs[sizes[0]], runs[bs])]
        out[str(bs)]["differences"] = diff
    return out


def _median_run(runs: list[dict]) -> dict:
    """The run with the median wall time (the lower middle one of an even count), with every round's seconds."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {**ordered[(len(ordered) - 1) // 2], "seconds_rounds": [r["seconds"] for r in runs]}


def part_server(ws, qs: list[dict], n_requests: int, clients_list: list[int], rounds: int = 1) -> dict:  # type: ignore[no-untyped-def]
    import httpx

    from ragft.server import create_app, serve_in_thread

    gen = ws.generator
    gen.warm_up()
    with serve_in_thread(create_app(ws)) as url:
        def ask(http: httpx.Client, q: str) -> str:
            r = http.post(url + "/v1/chat/completions",
                          json={"model": "rag", "messages": [{"role": "user", "content": q}]})
            r.raise_for_status()
            return r.json()["choices"][0]["message"]["content"]

        with httpx.Client(timeout=900) as http:
            ask(http, qs[0]["question"])  # warm-up
        runs: dict[int, list[dict]] = {c: [] for c in clients_list}
        for r in range(rounds):
            for clients in _in_turn(clients_list, r):
                todo = [qs[i % len(qs)]["question"] for i in range(n_requests)]
                lock, replies = threading.Lock(), []
                before = len(getattr(gen, "_coalescer").batch_sizes) if hasattr(gen, "_coalescer") else 0
                decoded = dataclasses.replace(gen.decoded) if hasattr(gen, "decoded") else None

                def client(http: httpx.Client) -> None:
                    while True:
                        with lock:
                            if not todo:
                                return
                            q = todo.pop(0)
                        text = ask(http, q)
                        with lock:
                            replies.append((q, text))

                # each client keeps one connection, opened before the clock starts: a new httpx.Client per
                # request costs ~50 ms of this process's CPU (its SSL context), which the server would pay for
                # its load generator, not for its own work
                with contextlib.ExitStack() as stack:
                    https = [stack.enter_context(httpx.Client(timeout=900)) for _ in range(clients)]
                    t0 = time.perf_counter()
                    threads = [threading.Thread(target=client, args=(http,)) for http in https]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    wall = time.perf_counter() - t0
                sizes = gen._coalescer.batch_sizes[before:] if hasattr(gen, "_coalescer") else []
                runs[clients].append({"requests": n_requests, "seconds": round(wall, 1),
                                     "requests_per_s": round(n_requests / wall, 3), "load_avg": os.getloadavg()[0],
                                     "mean_batch": round(sum(sizes) / len(sizes), 2) if sizes else None,
                                     "batch_sizes": sizes, **_occupancy(gen, decoded)})
                print(f"server {clients} client(s): {runs[clients][-1]}", file=sys.stderr, flush=True)
    out = {str(c): _median_run(runs[c]) for c in clients_list}
    first, last = clients_list[0], clients_list[-1]
    out["speedup"] = round(out[str(last)]["requests_per_s"] / out[str(first)]["requests_per_s"], 2)
    out["speedup_rounds"] = [round(b["requests_per_s"] / a["requests_per_s"], 2) for a, b in zip(runs[first], runs[last])]
    return out


def _occupancy(gen, before) -> dict:  # type: ignore[no-untyped-def]
    """What the continuous decoder did since `before` (a copy of `gen.decoded`): forward steps over the batch,
    the mean rows per step, prompts joined (and how many of them in a packed pass with the rows' step), and the
    seconds spent decoding in all and in the prompts' prefills (packed passes included)."""
    if before is None:
        return {}
    now = gen.decoded
    steps, row_steps = now.steps - before.steps, now.row_steps - before.row_steps
    return {"decode_steps": steps, "rows_per_step": round(row_steps / steps, 2) if steps else None,
            "prompts_decoded": now.prompts - before.prompts, "packed_joins": now.packed - before.packed,
            "decode_seconds": round(now.seconds - before.seconds, 1),
            "prefill_seconds": round(now.prefill_seconds - before.prefill_seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-answers-bench/hybrid"))
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--part", default="all", help="all, or a comma-separated subset of profile,compare,server")
    ap.add_argument("--n", type=int, default=48, help="questions for compare")
    ap.add_argument("--strategies", default="rag", help="compare: strategies (base,rag,ft,hybrid = compare's default)")
    ap.add_argument("--train-rows", type=int, default=0,
                    help="compare: train the ft/RAFT adapters on this many other questions when the workspace has none")
    ap.add_argument("--epochs", type=float, default=2.0, help="epochs for --train-rows")
    ap.add_argument("--batch-sizes", default="1,4,8")
    ap.add_argument("--requests", type=int, default=32, help="server requests per client setting")
    ap.add_argument("--clients", default="1,8")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice, all cores)")
    ap.add_argument("--dtype", default="auto", help="[generator] dtype for the run (auto = the product default)")
    add_answer_option(ap)
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of compare/server, each setting once per round in turn; figures are the median round")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    ws = open_ws(args.workspace, args.dtype, args.answer)
    pool = questions(args.data, args.n + args.train_rows, args.seed)
    qs = pool[: args.n]
    report: dict = {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "load_avg_start": os.getloadavg(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "questions": len(qs)}
    parts = {"profile", "compare", "server"} if args.part == "all" else set(args.part.split(","))
    if "profile" in parts:
        report["profile"] = part_profile(ws, qs)
    if "compare" in parts:
        strategies = tuple(s for s in args.strategies.split(",") if s)
        if args.train_rows and {"ft", "hybrid"} & set(strategies):
            report["trained"] = train_adapters(ws, pool[args.n :], write_qa(qs), args.epochs)
        report["compare"] = part_compare(ws, qs, [int(b) for b in args.batch_sizes.split(",")], args.rounds,
                                         strategies)
    if "server" in parts:
        report["server"] = part_server(ws, qs, args.requests, [int(c) for c in args.clients.split(",")], args.rounds)
    report["load_avg_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    ws.close()


if __name__ == "__main__":
    main()
