"""The peer-benchmark harness (benchmarks/peers, benchmarks/run_all.py): the parts that decide what is measured
and how results are reported. The measurements themselves are scripts, not tests (docs/benchmarks.md ## Peers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))

import common  # noqa: E402
import run as peers_run  # noqa: E402


def test_synthetic_chunks_are_unique_unit_and_identical_across_calls():
    passages = ["alpha beta", "gamma delta", "epsilon"]
    rows = list(common.synthetic_chunks(passages, 2500))
    again = list(common.synthetic_chunks(passages, 2500))
    assert len(rows) == 2500
    assert len({t for _, t, _ in rows}) == 2500  # replicas get "(copy r)", so BM25 sees distinct texts
    assert rows[4][1] == "gamma delta (copy 1)"
    vecs = np.stack([v for _, _, v in rows])
    assert vecs.shape == (2500, common.DIM)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vecs, np.stack([v for _, _, v in again]))  # every process builds the same store


def test_latency_budget_stops_early_but_keeps_a_minimum():
    import time

    out = common.latency_ms(lambda x: time.sleep(0.02), list(range(50)), warmup=0, budget_s=0.01, min_n=3)
    assert out["n"] == 3
    assert 15 <= out["p50_ms"] < 200
    full = common.latency_ms(lambda x: None, list(range(7)), warmup=1)
    assert full["n"] == 7 and full["p95_ms"] >= full["p50_ms"]


def _fake_results():
    def runs(chunks, walls, cpus):
        return [{"wall_s": w, "cpu_s": c, "load1": 1.0, "chunks": chunks} for w, c in zip(walls, cpus)]

    lat = lambda p50: {"p50_ms": p50, "p95_ms": p50 * 2, "cpu_p50_ms": p50, "n": 5, "load1": 1.0}  # noqa: E731
    return {
        "ragft": {"runs": runs(100, [10, 50, 12], [8, 9, 10]), "batch_size": 64,
                  "sizes": [{"chunks": 1000, "build": {"wall_s": 1.0}, "dense": lat(10), "vector": lat(1), "hybrid": lat(20)}]},
        "peer": {"runs": runs(80, [20, 20, 20], [16, 16, 16]), "batch_size": 10,
                 "sizes": [{"chunks": 1000, "build": {"wall_s": 2.0}, "dense": lat(40), "vector": lat(4)}]},
    }


def test_summary_uses_medians_and_ratios_of_ragft_over_each_system():
    s = peers_run.summarise(_fake_results())
    ragft, peer = s["ingest"]["ragft"], s["ingest"]["peer"]
    assert ragft["median_wall_s"] == 12  # the 50 s outlier run does not move the median
    assert ragft["chunks_per_s"] == pytest.approx(100 / 12, abs=0.01)
    assert peer["ragft_ratio_wall"] == pytest.approx(round((100 / 12) / (80 / 20), 2))
    assert peer["ragft_ratio_cpu"] == pytest.approx(round((100 / 9) / (80 / 16), 2))
    ratio = s["query_ratio_ragft_over_peer_p50"]["1000"]["peer"]
    assert ratio == {"dense": 0.25, "vector": 0.25}  # no hybrid ratio when the peer has none


def test_update_docs_replaces_only_the_generated_block(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# B\n\n## Other\nkeep me\n\n## Peers\nprose\n{peers_run.BEGIN}\nold\n{peers_run.END}\nafter\n")
    peers_run.update_docs("new table", doc)
    text = doc.read_text()
    assert "old" not in text and "new table" in text
    assert text.startswith("# B\n\n## Other\nkeep me\n\n## Peers\nprose\n") and text.endswith(f"{peers_run.END}\nafter\n")
    bare = tmp_path / "bare.md"
    bare.write_text("## Peers\n")
    with pytest.raises(SystemExit, match="no <!-- peers:begin"):
        peers_run.update_docs("x", bare)


def test_ragft_worker_build_and_search_paths(tmp_path, hash_embedder):
    """The ragft worker's store/search code on the real SQLite store (fast hash embedder, 64-d rows)."""
    from ragft.config import Settings
    from worker_ragft import RagftSystem

    system = RagftSystem()
    system.embedder, system.settings = hash_embedder, Settings()
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((25, hash_embedder.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    rows = [(f"c{i}", f"passage {i} about topic{i % 5}", vecs[i]) for i in range(25)]
    try:
        system.build(rows)
        hits = system.search_vector(vecs[7])
        assert len(hits) == common.TOP_K and hits[0].text == "passage 7 about topic2"
        assert len(system.search("topic3")) == common.TOP_K
        assert any("topic3" in h.text for h in system.search_hybrid("topic3"))
    finally:
        system.drop()


def test_run_all_lists_every_benchmark_script_with_small_arguments():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--list"],
                         capture_output=True, text=True, check=True).stdout
    names = [line.split()[0] for line in out.splitlines()]
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*.py")
               if p.name != "run_all.py" and not p.name.startswith("_")}  # _proc.py: shared helpers, not a script
    assert scripts | {"peers"} == set(names)
    assert "--wiki-embed-limit 50" in out  # known scripts get their short settings
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--only", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown benchmark(s) nope" in bad.stderr


def test_publish_writes_the_results_updates_the_docs_and_fails_on_a_failed_worker(tmp_path, capsys):
    import json

    out, published = tmp_path / "r.json", []
    ok = {"ragft": {"wall_s": 1.0}}
    common.publish(out, {"date": "d"}, {"s": 1}, ok, "| table |", published.append, "log")
    assert json.loads(out.read_text())["raw"] == ok and published == ["| table |"]
    assert "| table |" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        common.publish(out, {}, {}, {**ok, "llamaindex": {"error": "exit 1"}}, "x", None, "the log")
    assert exit_info.value.code == 1 and "failed workers: llamaindex (see the log)" in capsys.readouterr().err
