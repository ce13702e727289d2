"""House-style adherence of drafted clauses, per strategy, from a `ragft compare --report DIR` folder.

`ragft compare` scores accuracy against the reference clause (exact match, token F1); this script adds the
measure a contract team cares about as much: does the draft follow the house style at all? Each answer is
checked against five rules written down in README.md, and the script prints, per strategy, the share of
rules each answer satisfies (mean over answers) and how often each rule holds.

    python examples/contracts/style_check.py OUT/report            # table
    python examples/contracts/style_check.py OUT/report --json     # one JSON document

Rules are simple and literal on purpose (regular expressions over the answer), so a reader can check any
score by hand. Abstained or failed answers count as answers that satisfy no rule.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

# Clause headings the house style uses, e.g. "Governing Law. This Agreement ..."
HEADINGS = (
    "Confidentiality", "Limitation of Liability", "Governing Law", "Termination", "Payment", "Indemnity",
    "Force Majeure", "Assignment", "Notices", "Warranties", "Intellectual Property", "Data Protection",
)
_NUMBER_WORDS = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|fifteen|eighteen|" \
                r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:-[a-z]+)?"


def _heading(text: str) -> bool:
    return any(text.lstrip().startswith(h + ".") for h in HEADINGS)


def _shall(text: str) -> bool:
    return re.search(r"\bshall\b", text) is not None and re.search(r"\b(will|must)\b", text, re.I) is None


def _party_terms(text: str) -> bool:
    forbidden = re.search(r"\b(vendor|client|buyer|seller|contractor|purchaser)s?\b", text, re.I)
    lower_case_party = re.search(r"\bthe (supplier|customer)\b", text)  # defined terms must be capitalised
    return forbidden is None and lower_case_party is None


def _numbers(text: str) -> bool:
    """Every number is written 'words (digits)': no bare digits, and at least one such pair when digits appear."""
    digits = re.findall(r"\d+", text.replace("Schedule 1", ""))
    if not digits:
        return True
    paired = re.findall(_NUMBER_WORDS + r" \((\d+)\)", text, re.I)
    return len(paired) == len(digits)


def _agreement(text: str) -> bool:
    """'this Agreement' with a capital A whenever the contract refers to itself."""
    return re.search(r"\b(this|the) agreement\b", text) is None


RULES: dict[str, Callable[[str], bool]] = {
    "heading": _heading,
    "shall_not_will_or_must": _shall,
    "defined_party_terms": _party_terms,
    "numbers_words_and_digits": _numbers,
    "capitalised_agreement": _agreement,
}


def check(text: str | None) -> dict[str, bool]:
    """Which rules `text` satisfies (all False for a missing answer)."""
    if not text or not text.strip():
        return {name: False for name in RULES}
    return {name: rule(text) for name, rule in RULES.items()}


def score_report(report_dir: Path) -> dict[str, dict]:
    """Per strategy: `style` (mean share of rules met), `rules` (share of answers meeting each), `n`."""
    data = json.loads((report_dir / "results.json").read_text(encoding="utf-8"))
    per: dict[str, list[dict[str, bool]]] = {}
    for q in data["questions"]:
        for strategy, run in q["results"].items():
            answer = None if run.get("abstained") or run.get("error") else run.get("answer")
            per.setdefault(strategy, []).append(check(answer))
    # The reference answers are the ceiling: a rule they fail is a bug in the rule, not in a model.
    per["reference"] = [check(q["gold"]) for q in data["questions"]]
    out = {}
    for strategy, checks in per.items():
        n = len(checks)
        out[strategy] = {
            "n": n,
            "style": round(sum(sum(c.values()) / len(RULES) for c in checks) / n, 3) if n else None,
            "rules": {name: round(sum(c[name] for c in checks) / n, 3) if n else None for name in RULES},
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="House-style adherence per strategy from a compare report.")
    parser.add_argument("report", type=Path, help="Folder written by `ragft compare --report DIR`.")
    parser.add_argument("--json", action="store_true", help="Print one JSON document.")
    ns = parser.parse_args(argv)
    if not (ns.report / "results.json").is_file():
        print(f"error: {ns.report}/results.json not found; run `ragft compare --report {ns.report}` first", file=sys.stderr)
        return 2
    scores = score_report(ns.report)
    if ns.json:
        print(json.dumps(scores))
        return 0
    names = list(RULES)
    print(f"{'strategy':<10} {'style':>6}  " + "  ".join(f"{n[:14]:>14}" for n in names))
    for strategy, s in scores.items():
        cells = "  ".join(f"{s['rules'][n]:>14.2f}" for n in names)
        print(f"{strategy:<10} {s['style']:>6.2f}  {cells}   (n={s['n']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
