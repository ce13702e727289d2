"""benchmarks/answers.py: the part that decides which questions count as having their fact in the corpus, and
how abstention on them is reported (docs/benchmarks.md ## Answers). The measurements themselves are scripts."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import answers as bench  # noqa: E402


PASSAGES = {
    "p1": "Church and state are officially separated since approximately 1916 in Uruguay.",
    "p2": "Yuan Shikai became president of the Republic of China in 1912.",
    "p3": "Tesla was born on 10 July 1856 in Smiljan.",
}


def test_a_gold_string_in_a_passage_about_something_else_is_not_the_fact():
    questions = [{"question": "When did Yuan Shikai die?", "answer": "1916"},  # "1916" only in the Uruguay text
                 {"question": "When was Tesla born?", "answer": "1856"},
                 {"question": "Where was Tesla born?", "answer": "Belgrade"}]  # in no passage
    facts = bench.fact_relevance(questions, PASSAGES)
    assert facts[0] < bench.FACT_BAR <= facts[1]
    assert facts[2] == 0.0


def test_abstention_is_also_reported_on_the_questions_whose_fact_is_in_the_corpus():
    rows = [{"correct": 0.0, "abstained": True, "degenerate": False, "cit": None, "s": 0.1, "fact_relevance": 0.0},
            {"correct": 1.0, "abstained": False, "degenerate": False, "cit": 1.0, "s": 1.0, "fact_relevance": 1.0},
            {"correct": 0.0, "abstained": True, "degenerate": False, "cit": None, "s": 1.0, "fact_relevance": 0.5}]
    out = bench.summarise({"default": rows})["default"]
    assert out["abstention_rate"] == round(2 / 3, 3)
    assert out["fact_in_corpus"] == 2 and out["abstention_rate_fact_in_corpus"] == 0.5
    # Logs without the field (older runs) report no subset rather than an empty one.
    plain = [{k: v for k, v in r.items() if k != "fact_relevance"} for r in rows]
    assert "fact_in_corpus" not in bench.summarise({"default": plain})["default"]
