"""Citations, support and relevance: the checks that keep an answer tied to the text it was given.

Pure functions over strings (no model, no store), so each rule is tested on hand-made cases:

- `content_words`: lowercase word tokens minus English stopwords, with a light plural fold ("widgets" ->
  "widget"); numbers are kept (they are usually the fact being asked for).
- `parse_markers` / `resolve_citations`: the `[n]` markers in a generated answer. Markers that point outside the
  numbered list given in the prompt are dropped; the remaining ones are renumbered 1..m in order of first use so
  that `[n]` in the answer is `citations[n-1]` (the DESIGN.md contract). When the model cites nothing (tiny models
  rarely do), `attribute` picks the given item(s) whose words best cover the answer and a marker is appended.
- `support`: share of the answer's content tokens found in the cited text, token-aware: a token containing a
  digit is matched whole ("1" is not supported by the key "TR-1", "3" not by "30", "8" not by "89.00"); other
  tokens by their word parts. A bare "yes"/"no" has no content words of its own: the claim being affirmed is the
  *question*, so its content words are checked instead.
- `lexical_relevance`: share of the question's content words found in a chunk, compared by Snowball stem (a
  sentence answers in its own word forms), the relevance used for the "nothing relevant enough" abstention
  (calibration in docs/benchmarks.md, ## Answers).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragft.fields import record_values
from ragft.text import ENGLISH_STOPWORDS, fold_plural
from ragft.types import Citation, Hit

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_COMPOUND = re.compile(r"[^\W_]+(?:[-.,/'][^\W_]+)*", re.UNICODE)
MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
"""A citation marker, "[2]" or "[1, 3]" (group 1: the numbers): the one pattern every module reads markers with."""
YES_NO = frozenset({"yes", "no"})


# Question words and fillers carry no fact; "many"/"much" come from "how many"/"how much".
STOPWORDS = ENGLISH_STOPWORDS | {
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "many", "much", "did", "does", "do", "was",
    "were", "is", "are", "has", "have", "had", "can", "could", "would", "should", "yes", "no",
    # The asker and the one asked ("How long do I have ...?", "Do you ship ...?"): never the topic, so never a
    # word a sentence must hold. An FAQ heading "How do I wash the Merino Socks?" shared "I" with every such
    # question and put the washing instructions into the context of "How many days do I have to return an item?".
    "i", "me", "my", "mine", "myself", "you", "your", "yours", "yourself", "we", "us", "our", "ours",
    # Third persons point at a name without being one: "When did he die?" shares "he" with every sentence about
    # anyone ("its", "their" likewise), so it counted as a word a sentence must hold.
    "he", "him", "his", "himself", "she", "her", "hers", "herself", "its", "itself", "them", "theirs",
    "themselves"}
_fold = fold_plural


_CLITIC = re.compile(r"(?<=[^\W_])(?:n['\u2019]t|['\u2019](?:s|d|m|ll|re|ve))(?![^\W_])", re.IGNORECASE)
"""A possessive or contraction ending: "Ghana's" is the word "Ghana", not "Ghana" and "s" (a one-letter "word"
that is never in the text would make every question with a possessive look less relevant than it is)."""


def strip_clitics(text: str) -> str:
    """"Ghana's" -> "Ghana", "didn't" -> "did", "they're" -> "they" (straight or curly apostrophe)."""
    return _CLITIC.sub("", text)


def words(text: str) -> list[str]:
    """Lowercase word tokens of `text` without possessive/contraction endings (`strip_clitics`), folded."""
    return [_fold(w) for w in _lower_words(text)]


def content_words(text: str) -> set[str]:
    """Folded word tokens of `text` that are not stopwords, tested before and after folding: "does" folds to
    "doe" and "this" to "thi", which no stopword list holds (they counted as content words of every "How much does
    ...?" question, and a sentence holding the question's real words fell below the relevance bars)."""
    return {_fold(w) for w in _lower_words(text) if w not in STOPWORDS} - STOPWORDS


def _lower_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(strip_clitics(text))]


def fact_tokens(text: str) -> set[str]:
    """Content tokens for the support check: runs like "TR-1", "89.00", "1,200" that contain a digit stay whole
    (numbers match as whole numbers, never as a piece of a key); other runs split into folded words; stopwords go."""
    out: set[str] = set()
    for run in _COMPOUND.findall(strip_clitics(text).lower()):
        if any(ch.isdigit() for ch in run):
            out.add(run)
        else:
            out.update(_fold(w) for w in _WORD.findall(run) if w not in STOPWORDS)  # before folding, as above
    return out - STOPWORDS


def is_yes_no(answer: str) -> bool:
    """True when the answer is a bare yes/no (optionally followed by a short restatement)."""
    toks = [w.lower() for w in _WORD.findall(strip_markers(answer))]
    return bool(toks) and toks[0] in YES_NO and len(toks) <= 2


def strip_markers(text: str) -> str:
    """`text` without citation markers, whitespace-normalised ("Paris [1] is" -> "Paris is")."""
    return " ".join(MARKER.sub(" ", text).split())


_TRAILING = re.compile(rf"^(?P<text>.*?\S)\s*(?P<markers>(?:\s*{MARKER.pattern})+)\s*$", re.DOTALL)


def split_trailing_markers(text: str) -> tuple[str, str]:
    """(the text, its trailing citation markers) of an answer: ("2", "[1]") of "2 [1]", ("2", "") of "2". Why:
    rules that rewrite an answer's words (measures, records) keep its citations as they were."""
    m = _TRAILING.match(text.strip())
    return (m["text"], "".join(m["markers"].split())) if m else (text.strip(), "")


def parse_markers(answer: str) -> list[int]:
    """Every number cited in `answer`, in order of appearance (duplicates kept); "[1, 3]" gives 1 and 3."""
    found: list[int] = []
    for m in MARKER.finditer(answer):
        found.extend(int(x) for x in m.group(1).split(","))
    return found


def coverage(claim_words: set[str], text: str) -> float:
    """Share of `claim_words` present in `text` (0 when there are no claim words)."""
    if not claim_words:
        return 0.0
    present = set(words(text))
    return len(claim_words & present) / len(claim_words)


def claim_words(answer: str, question: str) -> set[str]:
    """The words an answer asserts: its own content words; for a bare yes/no, the question's."""
    if is_yes_no(answer):
        return content_words(question)
    own = content_words(strip_markers(answer))
    return own


def support(answer: str, question: str, cited_texts: Sequence[str]) -> float:
    """Share of the claim tokens of `answer` (`fact_tokens`; the question's for a bare yes/no) found as whole
    tokens in the union of `cited_texts` (0..1)."""
    claim = fact_tokens(question) if is_yes_no(answer) else fact_tokens(strip_markers(answer))
    if not claim:
        return 0.0
    return len(claim & fact_tokens("\n".join(cited_texts))) / len(claim)


def lexical_relevance(question: str, text: str) -> float:
    """Share of the question's content words that occur in `text` (0..1), compared by Snowball stem (`stems`);
    the abstention relevance and the rank of a sentence as an answer.

    Why stems: a sentence answers in its own word forms ("Watt retired in 1800" answers "When did Watt retire?");
    with the plural fold alone, "retired"/"retire" or "declared"/"declares" counted as missing words and an
    answering sentence fell below the fallback bar (docs/benchmarks.md ## Answers).
    The support check (`support`, `fact_tokens`) still compares whole tokens: a fact is matched exactly."""
    asked = stems(content_words(question))
    if not asked:
        return 0.0
    return len(asked & stems(set(words(text)))) / len(asked)


@functools.cache
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer  # PyStemmer: the Snowball English stemmer in C, with its own word cache

    return Stemmer.Stemmer("english")


def stems(folded: set[str]) -> set[str]:
    """Snowball English stems of already folded words ("caused", "causes" -> "caus")."""
    return set(_stemmer().stemWords(list(folded)))


def attribute(answer: str, question: str, items: Sequence[Hit], min_overlap: float = 0.0) -> list[int]:
    """1-based positions of the given item(s) that best support `answer` (ties kept, at most 2).

    Scored by coverage of the answer's claim words; the question's words break ties (the item the question was
    about), then the question's words in the item's own text (a record's values, not its field names: "city"
    in "store: ...; city: Rotterdam" does not make a shop row about "In which city is the warehouse?").
    Returns [] when no item shares a single claim word (nothing to attribute to).
    """
    claim = claim_words(answer, question)
    qwords = content_words(question)
    scored: list[tuple[float, float, float, int]] = []
    for i, item in enumerate(items, 1):
        q, values = coverage(qwords, item.text), record_values(item.text)
        scored.append((coverage(claim, item.text), q, q if values is item.text else coverage(qwords, values), i))
    if not scored:
        return []
    best = max(scored)
    if best[0] <= min_overlap:
        return []
    return [i for c, q, v, i in sorted(scored, reverse=True) if (c, q, v) == best[:3]][:2]


@dataclass(frozen=True)
class ResolvedCitations:
    answer: str
    citations: list[Citation]
    attributed: bool  # True when markers were added after generation (the model cited nothing valid)


def resolve_citations(answer: str, question: str, items: Sequence[Hit]) -> ResolvedCitations:
    """Map the markers of `answer` to the prompt items; drop invalid ones, renumber, attribute when none.

    Citations only ever reference `items` (the chunks that were in the prompt).
    """
    cited = [n for n in parse_markers(answer) if 1 <= n <= len(items)]
    order: list[int] = []
    for n in cited:
        if n not in order:
            order.append(n)
    attributed = False
    text = answer
    if not order:
        text = strip_markers(answer)
        order = attribute(text, question, items)
        attributed = bool(order)
        if order:
            text = text.rstrip() + " " + "".join(f"[{new}]" for new in range(1, len(order) + 1))
    else:
        renumber = {old: new for new, old in enumerate(order, 1)}

        def _sub(m: re.Match[str]) -> str:
            keep = [renumber[int(x)] for x in m.group(1).split(",") if int(x) in renumber]
            return "".join(f"[{n}]" for n in keep)

        text = MARKER.sub(_sub, answer)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    citations = [
        Citation(n=new, doc_id=items[old - 1].doc_id, chunk_id=items[old - 1].chunk_id,
                 source=items[old - 1].source, text=items[old - 1].text)
        for new, old in enumerate(order, 1)
    ]
    return ResolvedCitations(answer=text, citations=citations, attributed=attributed)
