"""`ragft compare --freshness`: change one fact after training and see which strategies pick it up."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragft.errors import ConfigError
from ragft.evaluate import metrics as M
from ragft.evaluate.faithfulness import OverlapChecker
from ragft.evaluate.qa import QAItem
from ragft.evaluate.runner import _run_one

if TYPE_CHECKING:
    from ragft.evaluate.runner import Comparison
    from ragft.evaluate.seams import EvalWorkspace
    from ragft.types import Chunk

_INVENTED = ("Vaskelund", "Quenthira", "Morrowgate", "Zelbrandt", "Orvanique", "Talmuresh")


def _doc_chunks(ws: "EvalWorkspace", doc_id: str) -> list["Chunk"]:
    out: list[Chunk] = []
    while True:
        batch = ws.store.get_chunks([f"{doc_id}:{i}" for i in range(len(out), len(out) + 32)])
        out += batch
        if len(batch) < 32:
            return out


def _new_fact(old: str, rng: random.Random) -> str:
    """A replacement that cannot already be in the corpus: a shifted number, else an invented name."""
    if re.fullmatch(r"\d{1,6}", old.strip()):
        return str(int(old) + rng.randint(3, 9))
    return rng.choice(_INVENTED)


def freshness_probe(
    ws: "EvalWorkspace", comparison: "Comparison", k: int | None = None, seed: int = 0,
    open_copy: Callable[[Path], "EvalWorkspace"] | None = None,
) -> list[dict[str, Any]]:
    """Change one fact after training and see which strategies answer with the new one.

    Picks the first evaluated question whose gold answer (not yes/no) occurs in a chunk that retrieval finds
    for it; in a throw-away copy of the workspace (the SQLite store and ragft.toml; adapters are read from
    the original), that document's chunks get the gold answer replaced by a new value and are re-embedded,
    then each compared strategy answers the question again. RAG and hybrid should say the new value; base
    and ft cannot know it (their knowledge is frozen at training time). The original workspace is untouched.
    `open_copy(path)` opens the copy sharing `ws`'s settings and models (default: `ws`'s own class, called as
    `Workspace(path, settings=..., embedder=..., generator=...)`).
    """
    import shutil
    import tempfile
    from hashlib import sha256

    from ragft.types import Document

    if ws.settings.store.backend != "sqlite":
        raise ConfigError("--freshness copies the workspace and needs store.backend = \"sqlite\"")
    rng = random.Random(seed)
    probe = None
    for rec in comparison.questions:
        if rec.gold is None or M.text_contains_answer("", rec.gold) is None:
            continue
        hits = [h for h in ws.search(rec.question, k=k or ws.settings.retrieval.k) if M.text_contains_answer(h.text, rec.gold)]
        if hits:
            probe = (rec, hits[0].doc_id)
            break
    if probe is None:
        return [{"strategy": s, "error": "no evaluated question has its answer in a retrievable chunk"} for s in comparison.strategies]
    rec, doc_id = probe
    old, new = rec.gold, _new_fact(rec.gold, rng)
    pattern = re.compile(re.escape(old), re.IGNORECASE)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ragft-freshness-") as tmp:
        copy = Path(tmp) / "ws"
        shutil.copytree(ws.path, copy, ignore=shutil.ignore_patterns("adapters", "eval", "*.lock"))
        opener = open_copy or (lambda p: type(ws)(p, settings=ws.settings, embedder=ws.embedder, generator=ws.generator))  # type: ignore[call-arg]
        probe_ws = opener(copy)
        try:
            doc = probe_ws.store.get_document(doc_id)
            chunks = [replace_text(c, pattern.sub(new, c.text)) for c in _doc_chunks(probe_ws, doc_id)]
            body = "\n".join(c.text for c in chunks)
            changed = Document(**{**asdict(doc), "content_hash": sha256(body.encode()).hexdigest()})  # type: ignore[arg-type]
            probe_ws.store.replace_document(changed, chunks, probe_ws.embedder.embed([c.text for c in chunks]))
            if (ws.path / "adapters").exists():  # adapters are read in place from the original workspace
                (copy / "adapters").symlink_to(ws.path.resolve() / "adapters", target_is_directory=True)
            for s, summary in comparison.strategies.items():
                run = _run_one(probe_ws, QAItem("freshness", rec.question, new, doc_id), s, summary.adapter, k, OverlapChecker())
                results.append({
                    "strategy": s, "question": rec.question, "doc_id": doc_id, "old": old, "new": new,
                    "answer": run.answer, "error": run.error,
                    "uses_new_fact": bool(run.answer and M.text_contains_answer(run.answer, new)),
                    "uses_old_fact": bool(run.answer and M.text_contains_answer(run.answer, old)),
                })
        finally:
            probe_ws.close()
    return results


def replace_text(chunk: "Chunk", text: str) -> "Chunk":
    from dataclasses import replace

    return replace(chunk, text=text)
