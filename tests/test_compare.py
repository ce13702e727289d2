"""The compare runner, report and CLI on a tiny workspace (real SQLite store, real answer path).

Fast layer: a scripted generator (answers depend on strategy/adapter/context the way the real ones should)
makes every number predictable by hand. Real layer (`real_model`): the bundled SmolLM2 with two random-init
PEFT LoRA adapters registered as "ft" and "raft", so all four strategies run through real generation.
"""

from __future__ import annotations

import hashlib
import json
import re
from html import escape
from pathlib import Path

import pytest

from ragft.errors import ConfigError, DataError, ModelError
from ragft.evaluate.compare import Comparison, StrategySummary, load_qa, recommend, run_compare, select
from ragft.finetune.registry import AdapterInfo, AdapterRegistry
from ragft.types import Chunk, Document
from tests.fakes import FakeGenerator

DOCS = {
    "lovelace": "Ada Lovelace wrote the first computer program in 1843 for the Analytical Engine.",
    "everest": "Mount Everest is 8849 metres tall and lies on the border of Nepal and China.",
    "danube": "The Danube river flows through Vienna, Budapest and Belgrade into the Black Sea.",
    "kiwi": "The kiwi is a flightless bird native to New Zealand.",
}
QA = [
    {"question": "In which year did Ada Lovelace write the first computer program?", "answer": "1843", "doc_id": "lovelace"},
    {"question": "How tall is Mount Everest in metres?", "answer": "8849", "doc_id": "everest"},
    {"question": "Into which sea does the Danube river flow?", "answer": "Black Sea", "doc_id": "danube"},
    {"question": "Which country is the kiwi bird native to?", "answer": "New Zealand"},
    {"question": "EXPLODE: which cities does the Danube river flow through?", "answer": "Danube", "doc_id": "danube"},
]
FACT_DOC = {q["question"]: doc for q, doc in zip(QA, ["lovelace", "everest", "danube", "kiwi", "danube"])}
STRATEGIES = ("base", "rag", "ft", "hybrid")


class ScriptedGenerator(FakeGenerator):
    """The fake generator scripted per strategy.

    base: always "Paris". ft (adapter, no context): knows the first two facts. rag (context, no adapter):
    "The answer is X [n]." with the right source. hybrid (context + adapter): "X [n]". A question with
    EXPLODE raises ModelError (a failed generation).
    """

    name = "scripted"

    def respond(self, messages, adapter):  # type: ignore[no-untyped-def]
        user = messages[-1]["content"]
        question = re.findall(r"Question: (.*)", user)[-1].strip()
        if "EXPLODE" in question:
            raise ModelError("scripted generator crashed")
        gold = next((q["answer"] for q in QA if q["question"] == question), None)
        if gold is None:  # not one of ours (e.g. a quiz-writing prompt): no usable reply
            return "I don't know."
        sources = re.findall(r"^\[(\d+)\] \(.*?\) (.*)$", user, flags=re.M)
        if sources:
            # Extractive reader: the span of the fact's sentence where the gold answer stood (so a changed
            # fact in the sources changes the answer, as the freshness probe needs).
            doc = DOCS[FACT_DOC[question]]
            pattern = re.escape(doc).replace(re.escape(gold), "(.+?)", 1) + "$"
            found = next(((n, m.group(1)) for n, text in sources if (m := re.match(pattern, text))), None)
            if found is None:
                return "I don't know."
            n, span = found
            return f"{span} [{n}]" if adapter else f"The answer is {span} [{n}]."
        if adapter and question in (QA[0]["question"], QA[1]["question"]):
            return gold
        return "Paris"


def _fill(ws, docs=DOCS) -> None:
    store, emb = ws.store, ws.embedder
    store.set_meta("embedder", emb.name)
    for doc_id, text in docs.items():
        doc = Document(doc_id=doc_id, source=f"{doc_id}.txt", title=doc_id, content_hash=hashlib.sha256(text.encode()).hexdigest())
        store.replace_document(doc, [Chunk(f"{doc_id}:0", doc_id, 0, text, n_tokens=len(text.split()))], emb.embed([text]))


def _register(ws, name: str, kind: str, adapter_dir: Path | None = None, seconds: float = 36.0) -> None:
    path = adapter_dir or (ws.path / "adapters" / name)
    path.mkdir(parents=True, exist_ok=True)
    AdapterRegistry(ws.path).register(
        AdapterInfo(name=name, path=str(path), kind=kind, base_model="scripted", metrics={"train_seconds": seconds})
    )


def _qa_file(tmp_path: Path, rows=QA) -> Path:
    f = tmp_path / "qa.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return f


@pytest.fixture
def tiny_ws(tmp_path, hash_embedder):
    from ragft.workspace import Workspace

    gen = ScriptedGenerator()
    ws = Workspace(tmp_path / "tiny", embedder=hash_embedder, generator=gen)
    _fill(ws)
    _register(ws, "tiny-ft", "ft")
    _register(ws, "tiny-raft", "raft")
    yield ws
    ws.close()


# ----------------------------------------------------------------------------- QA file
def test_load_qa_reports_every_bad_line(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"question": "q1", "answer": "a"}\nnot json\n\n{"question": "q3"}\n[1, 2]\n{"question": "q", "answer": 5}\n')
    with pytest.raises(DataError) as info:
        load_qa(f)
    msg = str(info.value)
    assert "4 malformed" in msg and "line 2" in msg and "line 4" in msg and "line 5" in msg and "line 6" in msg
    assert "line 1" not in msg
    with pytest.raises(DataError, match="not found"):
        load_qa(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="no questions"):
        load_qa(tmp_path / "empty.jsonl")


def test_select_is_seeded_and_keeps_file_order():
    items = list(range(20))
    a, b = select(items, 5, seed=3), select(items, 5, seed=3)
    assert a == b == sorted(a) and len(a) == 5
    assert select(items, 5, seed=4) != a
    assert select(items, None, seed=0) == items


# ----------------------------------------------------------------------------- runner
def test_runner_scores_all_four_strategies(tiny_ws, tmp_path):
    seen: list[tuple[str, int, int]] = []
    result = run_compare(tiny_ws, qa=_qa_file(tmp_path), strategies=STRATEGIES, progress=lambda s, d, t: seen.append((s, d, t)))
    assert list(result.strategies) == list(STRATEGIES)
    assert not result.skipped
    # Same questions, same order, every strategy: each record has all four results.
    assert [q.question for q in result.questions] == [r["question"] for r in QA]
    assert all(set(q.results) == set(STRATEGIES) for q in result.questions)
    assert seen[-1] == ("hybrid", 5, 5) and len(seen) == 20

    base, rag, ft, hybrid = (result.strategies[s] for s in STRATEGIES)
    # The EXPLODE question failed everywhere: counted, shown, and not averaged in.
    for s in result.strategies.values():
        assert (s.n, s.n_ok, s.n_failed) == (5, 4, 1)
    assert "scripted generator crashed" in result.questions[4].results["rag"].error
    assert result.questions[4].results["rag"].scores == {}

    assert (base.exact_match, base.f1, base.answer_correctness) == (0.0, 0.0, 0.0)
    assert base.faithfulness is None and base.recall_at_k is None and base.citation_accuracy is None
    assert ft.exact_match == 0.5 and ft.adapter == "tiny-ft"  # knows 2 of 4
    assert rag.answer_correctness == 1.0
    # Aggregation: the summary is the mean of the per-question metric over the 4 answered questions.
    from ragft.evaluate.metrics import token_f1

    rag_answers = [re.sub(r"\s*\[\d+\]", "", q.results["rag"].answer) for q in result.questions[:4]]
    assert rag.f1 == pytest.approx(sum(token_f1(a, q["answer"]) for a, q in zip(rag_answers, QA)) / 4)
    assert hybrid.exact_match == 1.0 and hybrid.f1 == 1.0 and hybrid.adapter == "tiny-raft"
    assert rag.recall_at_k == 1.0 and hybrid.recall_at_k == 1.0
    # 3 questions name a doc_id, the 4th (New Zealand) is checked by answer text: all citations correct.
    assert hybrid.citation_accuracy == 1.0 and hybrid.n_scored["citation_accuracy"] == 4
    assert hybrid.faithfulness == 1.0 and rag.faithfulness is not None
    assert base.abstention_rate == 0.0
    # Costs: $0.18/h x measured seconds; training cost from the registry's 36 s: 36 x 0.18 / 3600 = $0.0018.
    assert base.cost_per_1k == pytest.approx(1000 * (sum(q.results["base"].latency_ms for q in result.questions[:4]) / 4 / 1000) * 0.18 / 3600)
    assert ft.training_cost_usd == pytest.approx(0.0018) and base.training_cost_usd is None
    # Decision: rag and hybrid tie at the top (every answered question right), but 4 questions cannot separate
    # any two strategies (best vs base: 4 discordant, exact McNemar p = 2/16 = 0.125): the cheapest one wins.
    d = result.decision
    assert d.best in ("rag", "hybrid") and d.significant is False and d.n_questions == 5
    cheapest = min(result.strategies, key=lambda n: (result.strategies[n].cost_per_1k, STRATEGIES.index(n)))
    assert result.recommendation == d.recommended == cheapest
    base_test = next(t for t in d.tests if t.other == "base")
    assert (base_test.b, base_test.c, base_test.p_value) == (4, 0, 0.125)
    # Which strategy is cheapest is measured (latency), so the pair behind the verdict is read from the tests:
    # a pair that differs on some questions is undecided at n = 5, one that differs on none is tied.
    pair = next(t for t in d.tests if t.other == (d.runner_up if d.recommended == d.best else d.recommended))
    undecided = pair.n_needed is not None and pair.n_needed > 5
    assert d.verdict == ("undecided" if undecided else "tied")
    assert ("but n = 5 is too few to tell" if undecided else "indistinguishable at n = 5") in d.reason
    assert all(len(v) == 2 for v in hybrid.ci.values()) and "f1" in hybrid.ci and "latency_ms_p50" in hybrid.ci
    assert result.exit_code == 1  # partial: some generations failed
    # The evaluated questions are recorded as held out.
    from ragft.evaluate.compare import heldout_questions

    assert len(heldout_questions(tiny_ws.path)) == 5


def test_runner_is_deterministic_given_seed(tiny_ws, tmp_path):
    qa = _qa_file(tmp_path)
    a = run_compare(tiny_ws, qa=qa, strategies=["rag", "ft"], limit=3, seed=7, warmup=False)
    b = run_compare(tiny_ws, qa=qa, strategies=["rag", "ft"], limit=3, seed=7, warmup=False)
    strip = lambda c: [(q.id, {s: (r.answer, r.scores) for s, r in q.results.items()}) for q in c.questions]  # noqa: E731
    assert strip(a) == strip(b) and len(a.questions) == 3


def test_missing_adapter_skips_with_message(tmp_path, hash_embedder):
    from ragft.workspace import Workspace

    ws = Workspace(tmp_path / "noadapters", embedder=hash_embedder, generator=ScriptedGenerator())
    _fill(ws)
    result = run_compare(ws, qa=_qa_file(tmp_path, QA[:2]), strategies=STRATEGIES)
    assert set(result.strategies) == {"base", "rag"}
    assert "ragft finetune" in result.skipped["ft"] and "--train-missing" in result.skipped["hybrid"]
    assert result.exit_code == 1  # the caller named ft and hybrid: a partial result
    with pytest.raises(ConfigError, match="unknown strategy"):
        run_compare(ws, qa=_qa_file(tmp_path, QA[:2]), strategies=["rag", "magic"])
    # The configured default list (all four) on a workspace without adapters: the same skips, reported, exit 0
    default = ws.compare(qa=_qa_file(tmp_path, QA[:2]))
    assert set(default.strategies) == {"base", "rag"} and set(default.skipped) == {"ft", "hybrid"}
    assert not default.named and default.exit_code == 0
    named = ws.compare(qa=_qa_file(tmp_path, QA[:2]), strategies=["rag", "ft"])
    assert set(named.skipped) == {"ft"} and named.exit_code == 1
    ws.close()


def test_without_qa_synthesises_heldout_set(tiny_ws):
    # Span-first synthesis (ragft.finetune.synth) needs no quiz-writing from the generator: answers are spans.
    result = run_compare(tiny_ws, qa=None, strategies=["base", "rag"], warmup=False)
    assert result.meta["qa"].startswith("synthesised")
    answerable = [q for q in result.questions if q.gold is not None]
    assert answerable and all(q.question.endswith("?") for q in answerable)
    assert all(q.gold in DOCS[q.doc_id] and q.gold not in q.question for q in answerable)
    # About 20% of the held-out questions are made unanswerable by an invented name (SQuAD 2.0 style).
    unanswerable = [q for q in result.questions if q.gold is None]
    assert len(unanswerable) == result.meta["unanswerable"] == round(0.2 * len(result.questions)) >= 1
    assert result.strategies["rag"].n_unanswerable == len(unanswerable)


_TOWNS = ["Arlen", "Brisk", "Corvo"]


def _long_docs_ws(tmp_path, hash_embedder):
    """Three documents of 12 chunks each; every chunk states one dated fact (over 25 words, so no merging)."""
    from ragft.workspace import Workspace

    ws = Workspace(tmp_path / "long", embedder=hash_embedder, generator=ScriptedGenerator())
    ws.store.set_meta("embedder", hash_embedder.name)
    for d, town in enumerate(_TOWNS):
        texts = [f"Section {i} of the {town} chronicle. The {town} bridge number {i} was opened in {1700 + 20 * d + i} "
                 f"by the masons of {town}, who worked on it through a long and cold winter with many helpers."
                 for i in range(12)]
        doc = Document(doc_id=town.lower(), source=f"{town}.txt", title=town, content_hash=hashlib.sha256(town.encode()).hexdigest())
        chunks = [Chunk(f"{town.lower()}:{i}", town.lower(), i, t, n_tokens=len(t.split())) for i, t in enumerate(texts)]
        ws.store.replace_document(doc, chunks, hash_embedder.embed(texts))
    return ws


def test_heldout_chunks_are_sampled_across_whole_documents(tmp_path, hash_embedder):
    from ragft.evaluate.qa import _sample_chunks, heldout_set

    ws = _long_docs_ws(tmp_path, hash_embedder)
    try:
        first = _sample_chunks(ws, 9, seed=0)
        assert [c.chunk_id for c in first] == [c.chunk_id for c in _sample_chunks(ws, 9, seed=0)]  # deterministic
        assert len(first) == 9 and {c.doc_id for c in first} == {t.lower() for t in _TOWNS}  # every document
        # Not only the first chunks of each document (the old sampler took ordinals 0 and 1): over a few seeds
        # the draws reach most of every document, its end included.
        seen = {(c.doc_id, c.ordinal) for seed in range(6) for c in _sample_chunks(ws, 9, seed)}
        for town in _TOWNS:
            ordinals = {o for d, o in seen if d == town.lower()}
            assert len(ordinals) >= 8 and max(ordinals) >= 10, (town, sorted(ordinals))
        assert [c.chunk_id for c in _sample_chunks(ws, 9, 1)] != [c.chunk_id for c in first]
        # The held-out questions built from them come from the whole documents too.
        items, source = heldout_set(ws, 6, seed=0, unanswerable=0)
        assert source.startswith("synthesised from passages across the documents")
        assert len(items) == 6 and {i.doc_id for i in items} == {t.lower() for t in _TOWNS}
        sections = {int(re.match(r"Section (\d+)", i.context).group(1)) for i in items}
        assert max(sections) >= 2, sections
    finally:
        ws.close()


def test_recommend_prefers_cheaper_on_tie():
    def s(f1, cost):
        return StrategySummary(exact_match=0, f1=f1, faithfulness=None, citation_accuracy=None, abstention_rate=0,
                               latency_ms_p50=1, latency_ms_p95=1, cost_per_1k=cost)

    assert recommend({"rag": s(0.50, 0.2), "hybrid": s(0.505, 0.3)}) == "rag"  # within 0.01: cheaper wins
    assert recommend({"rag": s(0.50, 0.2), "hybrid": s(0.60, 0.3)}) == "hybrid"
    assert recommend({"rag": s(None, 0.2)}) is None


# ----------------------------------------------------------------------------- report
def _check_report(out: Path, strategies) -> dict:
    data = json.loads((out / "results.json").read_text())
    for name in strategies:
        s = data["strategies"][name]
        for key in ("exact_match", "f1", "faithfulness", "citation_accuracy", "abstention_rate",
                    "latency_ms_p50", "latency_ms_p95", "cost_per_1k"):
            assert key in s
    assert data["recommendation"] in data["strategies"]
    assert data["questions"] and "meta" in data
    html = (out / "index.html").read_text()
    assert html.count("<svg") >= 2 and "data-strategy" in html and "<script>" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained
    assert "https://" not in html
    for name in strategies:
        assert f'<tr data-strategy="{name}">' in html  # summary row
    # The decision sentence, the paired tests and the 95% intervals (error bars on the accuracy plot).
    d = data["decision"]
    assert d["recommended"] == data["recommendation"]
    assert 'id="decision"' in html and escape(d["reason"]) in html
    assert 'id="tests"' in html and 'class="errorbar"' in html
    for name in strategies:
        ci = data["strategies"][name]["ci"]
        for metric, (low, high) in ci.items():
            value = data["strategies"][name][metric]
            assert low <= value + 1e-9 and value - 1e-9 <= high, (name, metric, low, value, high)
    return data


def test_report_files(tiny_ws, tmp_path):
    result = tiny_ws.compare(qa=_qa_file(tmp_path), report=tmp_path / "report")
    data = _check_report(tmp_path / "report", STRATEGIES)
    assert data["strategies"]["rag"]["n_failed"] == 1
    assert "scripted generator crashed" in (tmp_path / "report" / "index.html").read_text()
    assert result.meta["report"].endswith("index.html")


def test_freshness_probe(tiny_ws, tmp_path):
    result = tiny_ws.compare(qa=_qa_file(tmp_path, QA[:2]), strategies=["base", "rag"], freshness=True)
    probes = {p["strategy"]: p for p in result.freshness}
    assert probes["rag"]["old"] == "1843" and probes["rag"]["new"] != "1843"
    assert probes["rag"]["uses_new_fact"] and not probes["base"]["uses_new_fact"]
    # the original workspace still has the old fact
    assert "1843" in tiny_ws.store.get_chunks(["lovelace:0"])[0].text


# ----------------------------------------------------------------------------- CLI
def test_cli_compare_json_and_table(tiny_ws, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import ragft.cli as cli

    monkeypatch.setattr(cli, "open_workspace", lambda path: tiny_ws)
    monkeypatch.setattr(tiny_ws, "close", lambda: None)
    qa = _qa_file(tmp_path, QA[:2])
    res = CliRunner().invoke(cli.app, ["compare", "--qa", str(qa), "--strategies", "base,rag", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data["strategies"]) == {"base", "rag"}
    # rag right on both, base on neither: 2 discordant questions cannot be significant (p = 0.5), so the
    # cheaper strategy is recommended and the reason says why.
    d = data["decision"]
    assert set(d) == {"recommended", "runner_up", "metric", "significant", "p_value", "n_questions", "n_needed",
                      "verdict", "reason"}
    assert d["recommended"] == data["recommendation"] and d["significant"] is False and d["p_value"] == 0.5
    assert d["n_questions"] == 2 and d["metric"] == "answer_correctness" and d["verdict"] == "undecided"
    assert "rag leads base (answer_correctness 1.000 vs 0.000) but n = 2 is too few to tell" in d["reason"]
    assert data["strategies"]["rag"]["ci"]["answer_correctness"] == [1.0, 1.0]
    assert data["strategies"]["base"]["ci"]["f1"] == [0.0, 0.0]
    res = CliRunner().invoke(cli.app, ["compare", "--qa", str(qa), "--strategies", "base,rag", "--report", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "recommendation" in res.stdout and "rag" in res.stdout and (tmp_path / "r" / "index.html").is_file()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    res = CliRunner().invoke(cli.app, ["compare", "--qa", str(bad), "--json"])
    assert res.exit_code == 2 and "line 1" in json.loads(res.stdout)["error"]["message"]  # --json: the error as JSON


# ----------------------------------------------------------------------------- real model
def _random_lora(base_dir: Path, out: Path, seed: int) -> Path:
    """A random-init PEFT LoRA adapter for the bundled model (non-zero B so it changes the output)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base_dir))
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_" in name:
                p.mul_(0.01)  # small: perturb, don't destroy, the base model
    peft.save_pretrained(out)
    return out


@pytest.mark.real_model
def test_runner_real_model_all_strategies(tmp_path, real_generator, hash_embedder):
    from ragft.workspace import Workspace

    from ragft.models.weights import float_folder

    base_dir = float_folder("smollm2-135m")  # the float copy the bundled generator loads (adapters must match it)
    ws = Workspace(tmp_path / "real", embedder=hash_embedder, generator=real_generator)
    _fill(ws)
    _register(ws, "rand-ft", "ft", _random_lora(Path(base_dir), tmp_path / "a-ft", 1))
    _register(ws, "rand-raft", "raft", _random_lora(Path(base_dir), tmp_path / "a-raft", 2))
    rows = QA[:2]  # 2 questions x 4 strategies (+4 warm-ups) keeps this under a minute on 2 cores
    result = ws.compare(qa=_qa_file(tmp_path, rows), report=tmp_path / "report", limit=2)
    assert isinstance(result, Comparison)
    assert set(result.strategies) == set(STRATEGIES) and not result.skipped
    errors = {name: r.error for q in result.questions for name, r in q.results.items() if r.error}
    assert not errors, errors
    for name, s in result.strategies.items():
        assert s.n == 2 and s.n_ok + s.n_failed == 2, name
        assert s.latency_ms_p50 is not None and s.latency_ms_p50 > 0
        assert s.cost_per_1k is not None and s.cost_per_1k > 0
    for q in result.questions:
        for name, r in q.results.items():
            assert r.error is None, (name, r.error)
            assert r.tokens_in and r.tokens_in > 0 or r.abstained
    _check_report(tmp_path / "report", STRATEGIES)
    ws.close()


# ----------------------------------------------------------------------------- gold "source" in QA rows
def test_qa_source_resolves_to_the_one_document_whose_path_ends_with_it(tmp_path):
    from ragft.evaluate.compare import QAItem, resolve_sources

    docs = [Document(doc_id=i, source=src, title=i, content_hash=i) for i, src in
            (("d1", "/data/clauses/payment.md"), ("d2", "/data/clauses/late-payment.md"), ("d3", "/x/a/notes.md"),
             ("d4", "/x/b/notes.md"))]
    rows = [{"question": "Draft a payment clause.", "answer": "Payment. The Customer shall pay.", "source": "payment.md"},
            {"question": "q2", "answer": "a2", "source": "clauses/late-payment.md"},
            {"question": "q3", "answer": "a3", "source": "a/notes.md", "doc_id": "given"},
            {"question": "q4", "answer": "a4"}]
    items = resolve_sources(load_qa(_qa_file(tmp_path, rows)), docs)
    # whole path components: "payment.md" is not the tail of "late-payment.md"; an explicit doc_id wins
    assert [i.doc_id for i in items] == ["d1", "d2", "given", None]
    assert items[0].source == "payment.md"
    with pytest.raises(DataError, match="'notes.md' matches 2 documents"):
        resolve_sources([QAItem("1", "q", "a", source="notes.md")], docs)
    with pytest.raises(DataError, match="'nope.md' matches no document"):
        resolve_sources([QAItem("1", "q", "a", source="nope.md")], docs)
    with pytest.raises(DataError, match="malformed"):
        load_qa(_qa_file(tmp_path, [{"question": "q", "answer": "a", "source": ["x"]}]))


def test_compare_scores_recall_against_the_named_source(tiny_ws, tmp_path):
    # The gold answer is not a span of any document, so answer-recall would be 0 everywhere; naming the
    # source makes recall@k check the document instead (and 1.0 when retrieval finds it).
    doc_id, text = next(iter(DOCS.items()))
    rows = [{"question": text, "answer": "a paraphrase that appears in no document", "source": f"{doc_id}.txt"}]
    with_source = run_compare(tiny_ws, qa=_qa_file(tmp_path, rows), strategies=["rag"], warmup=False)
    rows[0].pop("source")
    without = run_compare(tiny_ws, qa=_qa_file(tmp_path, rows), strategies=["rag"], warmup=False)
    recall = lambda c: c.strategies["rag"].recall_at_k  # noqa: E731
    assert recall(with_source) == 1.0 and recall(without) == 0.0


# ----------------------------------------------------------------------------- statistics in the runner
def test_repeats_rerun_each_question_when_the_generator_samples(tiny_ws, tmp_path):
    qa = _qa_file(tmp_path, QA[:4])
    greedy = run_compare(tiny_ws, qa=qa, strategies=["rag"], warmup=False, repeats=3)
    assert greedy.meta["repeats"] == 1 and "greedy" in greedy.meta["repeats_note"]
    assert all(not q.repeats for q in greedy.questions)
    tiny_ws.settings.generator.temperature = 0.7
    seen: list[tuple[str, int, int]] = []
    sampled = run_compare(tiny_ws, qa=qa, strategies=["rag", "base"], warmup=False, repeats=3,
                          progress=lambda s, d, t: seen.append((s, d, t)))
    assert sampled.meta["repeats"] == 3 and seen[-1] == ("base", 12, 12)
    assert all(len(q.runs("rag")) == 3 for q in sampled.questions)
    rag = sampled.strategies["rag"]
    assert rag.n == 12 and rag.n_scored["f1"] == 12
    assert rag.ci["answer_correctness"] == [1.0, 1.0]
    assert sampled.to_dict()["questions"][0]["repeats"]["rag"][0]["answer"]
    with pytest.raises(ConfigError, match="--repeats"):
        run_compare(tiny_ws, qa=qa, strategies=["rag"], repeats=0)


def test_unanswerable_rows_are_scored_and_reported(tiny_ws, tmp_path):
    rows = QA[:3] + [{"question": "In which year did Quenthira Vaskelund climb Mount Everest?", "answer": None}]
    result = run_compare(tiny_ws, qa=_qa_file(tmp_path, rows), strategies=["base", "rag"], warmup=False)
    rag = result.strategies["rag"]
    # the scripted generator answers "I don't know." (no abstention flag) or a span: the unanswerable row is wrong
    last = result.questions[3]
    assert last.gold is None and last.results["rag"].scores["answer_correctness"] == float(last.results["rag"].abstained)
    assert rag.n_unanswerable == 1 and rag.abstention_recall == float(last.results["rag"].abstained)
    data = result.to_dict()
    assert data["questions"][3]["gold"] is None
    # training's exclusion list keeps only the answerable questions; the full set is rerunnable as is
    assert "answer" in (tiny_ws.path / "eval" / "heldout.jsonl").read_text()
    assert len(load_qa(tiny_ws.path / "eval" / "questions.jsonl")) == 4
    assert len(load_qa(tiny_ws.path / "eval" / "heldout.jsonl")) == 3


def test_load_qa_accepts_null_answers_only_explicitly(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text('{"question": "q1", "answer": null}\n{"question": "q2", "answer": "a"}\n')
    assert [i.answer for i in load_qa(f)] == [None, "a"]
    f.write_text('{"question": "q1"}\n')
    with pytest.raises(DataError, match="null"):
        load_qa(f)


def test_make_unanswerable_swaps_the_named_entity_for_an_invented_one():
    import random

    from ragft.evaluate.qa import QAItem, make_unanswerable, swap_entity

    assert swap_entity("When was Nikola Tesla born?", "Quen Vask") == "When was Quen Vask born?"
    assert swap_entity("Fill in the blank: Ada Lovelace wrote ____ in 1843.", "X Y") == "Fill in the blank: X Y wrote ____ in 1843."
    assert swap_entity("how tall is it?", "X") is None
    assert swap_entity("Did the Voltaic pile make Alessandro Volta famous?", "X Y") == "Did the Voltaic pile make X Y famous?"
    # a name spelt with two spaces between its words, as 4 rag-mini-wikipedia questions have it (it raised
    # ValueError, so `compare` without --qa failed on such a held-out question)
    assert swap_entity("Was his father ,  Henri  Coulomb , inspector of the Royal  Fields  in Montpellier?",
                       "X Y") == "Was his father ,  X Y , inspector of the Royal  Fields  in Montpellier?"
    assert swap_entity("Is the  Danube in Europe?", "X Y") == "Is the  X Y in Europe?"
    donors = [QAItem("1", "how tall is it?", "8"), QAItem("2", "Where is the Danube?", "Europe", doc_id="danube")]
    fakes = make_unanswerable(donors, 5, random.Random(0))
    assert len(fakes) == 1 and fakes[0].answer is None and fakes[0].doc_id is None
    assert "Danube" not in fakes[0].question and fakes[0].question.startswith("Where is the ")
    assert make_unanswerable(donors, 5, random.Random(0), absent=lambda name: False) == []


@pytest.mark.slow
def test_cli_compare_on_the_tiny_model_prints_decision_and_intervals(tmp_path, hash_embedder, tiny_generator, monkeypatch):
    """Real transformers generation (a tiny random Llama) through the CLI: the JSON carries `decision` and `ci`,
    and the report shows the decision sentence and the error bars."""
    from typer.testing import CliRunner

    import ragft.cli as cli
    from ragft.workspace import Workspace

    ws = Workspace(tmp_path / "tinymodel", embedder=hash_embedder, generator=tiny_generator)
    ws.settings.generator.max_new_tokens = 8  # gibberish either way; keep it short
    _fill(ws)
    monkeypatch.setattr(cli, "open_workspace", lambda path: ws)
    qa = _qa_file(tmp_path, QA[:4])
    res = CliRunner().invoke(cli.app, ["compare", "--qa", str(qa), "--strategies", "base,rag", "--json",
                                       "--report", str(tmp_path / "r")])
    assert res.exit_code in (0, 1), res.output
    data = json.loads(res.stdout)
    d = data["decision"]
    assert d["recommended"] in ("base", "rag") and d["runner_up"] in ("base", "rag", None)
    assert d["n_questions"] == 4 and isinstance(d["significant"], bool) and d["reason"]
    for s in ("base", "rag"):
        ci = data["strategies"][s]["ci"]
        assert set(ci) >= {"exact_match", "f1", "answer_correctness", "latency_ms_p50", "cost_per_1k"}
        assert all(low <= high for low, high in ci.values())
    html = (tmp_path / "r" / "index.html").read_text()
    assert 'id="decision"' in html and 'class="errorbar"' in html


def test_evaluate_and_advise_modules_stay_readable():
    """Architecture issue #22: no module of ragft/evaluate or advise*.py over 600 lines."""
    root = Path(__file__).resolve().parents[1] / "ragft"
    files = list((root / "evaluate").glob("*.py")) + list(root.glob("advise*.py"))
    too_long = {f.name: n for f in files if (n := len(f.read_text(encoding="utf-8").splitlines())) > 600}
    assert not too_long, too_long
