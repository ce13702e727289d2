"""House-style adherence of drafted clauses, per strategy, from a `ragft compare --report DIR` folder.

`ragft compare` scores accuracy against the reference clause (exact match, token F1); this script adds the
measure a contract team cares about as much: does the draft follow the house style at all? Each answer is
checked against the house-style rules written down in README.md that its request calls for (a rule about
numbers applies only when the reference clause has a number), and the script prints, per strategy, the share
of those rules each answer meets (mean over answers) and how often each rule holds.

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


# Defined terms of the house style: capitalised wherever they are used.
DEFINED_TERMS = (
    "the Supplier", "the Customer", "Confidential Information", "Liability Cap", "Force Majeure Event",
    "Personal Data", "Business Day", "Deliverables", "Services", "Background Materials",
)
_FORBIDDEN_PARTIES = re.compile(r"\b(vendor|client|buyer|seller|contractor|purchaser)s?\b", re.I)


def _heading(text: str, reference: str) -> bool | None:
    """Starts with the same clause heading as the reference, then a full stop."""
    heading = next((h for h in HEADINGS if reference.startswith(h + ".")), None)
    return None if heading is None else text.lstrip().startswith(heading + ".")


def _shall(text: str, reference: str) -> bool | None:
    """Obligations in "shall"; "will" and "must" never appear."""
    if re.search(r"\bshall\b", reference) is None:
        return None
    return re.search(r"\bshall\b", text) is not None and re.search(r"\b(will|must)\b", text, re.I) is None


def _defined_terms(text: str, reference: str) -> bool | None:
    """Every defined term the reference uses appears, capitalised; no vendor/client/buyer/seller."""
    terms = [t for t in DEFINED_TERMS if t in reference]
    if not terms:
        return None
    return all(t in text for t in terms) and _FORBIDDEN_PARTIES.search(text) is None


def _numbers(text: str, reference: str) -> bool | None:
    """Numbers written 'words (digits)': at least one such pair, and no bare digits."""
    if not re.search(_NUMBER_WORDS + r" \(\d+\)", reference, re.I):
        return None
    paired = re.findall(_NUMBER_WORDS + r" \((\d+)\)", text, re.I)
    digits = re.findall(r"\d+", text.replace("Schedule 1", ""))
    return bool(paired) and len(paired) == len(digits)


def _agreement(text: str, reference: str) -> bool | None:
    """The contract calls itself 'this Agreement', capital A, never 'this agreement' or 'the contract'."""
    if re.search(r"\b[Tt]his Agreement\b", reference) is None:
        return None
    return re.search(r"\b[Tt]his Agreement\b", text) is not None and \
        re.search(r"\b(this|the) (agreement|contract)\b", text) is None


RULES: dict[str, Callable[[str, str], bool | None]] = {
    "heading": _heading,
    "shall_not_will_or_must": _shall,
    "defined_terms": _defined_terms,
    "numbers_words_and_digits": _numbers,
    "capitalised_agreement": _agreement,
}


def check(text: str | None, reference: str) -> dict[str, bool]:
    """The rules that apply to `reference` (the house-style clause for the request), each True when `text`
    meets it. A rule the reference itself does not use (no number in it, say) is left out: a draft is held
    to the conventions its request calls for. A missing answer meets none."""
    out = {}
    for name, rule in RULES.items():
        if rule(reference, reference) is None:
            continue
        out[name] = bool(text and text.strip()) and bool(rule(text, reference))
    return out


def score_report(report_dir: Path) -> dict[str, dict]:
    """Per strategy: `style` (mean share of applicable rules met), `rules` (share of answers meeting each
    rule, among the answers it applies to), `n` answers."""
    data = json.loads((report_dir / "results.json").read_text(encoding="utf-8"))
    per: dict[str, list[dict[str, bool]]] = {}
    for q in data["questions"]:
        # The reference answers are scored too: they are the ceiling, and a rule they fail is a bug in the rule.
        runs = {**q["results"], "reference": {"answer": q["gold"]}}
        for strategy, run in runs.items():
            answer = None if run.get("abstained") or run.get("error") else run.get("answer")
            per.setdefault(strategy, []).append(check(answer, q["gold"]))
    out = {}
    for strategy, checks in per.items():
        scored = [c for c in checks if c]
        rules = {}
        for name in RULES:
            applied = [c[name] for c in checks if name in c]
            rules[name] = round(sum(applied) / len(applied), 3) if applied else None
        out[strategy] = {
            "n": len(checks),
            "style": round(sum(sum(c.values()) / len(c) for c in scored) / len(scored), 3) if scored else None,
            "rules": rules,
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
        cells = "  ".join(f"{s['rules'][n]:>14.2f}" if s["rules"][n] is not None else f"{'-':>14}" for n in names)
        style = f"{s['style']:>6.2f}" if s["style"] is not None else f"{'-':>6}"
        print(f"{strategy:<10} {style}  {cells}   (n={s['n']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
