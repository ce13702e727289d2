"""Yes/no questions answered from the sources: "Yes: <sentence>" or "No: <sentence>" with the sentence's citation,
or no verdict (the answer path then keeps a copied sentence as it is, or abstains).

Why a rule and not the model: under the copy rule the bundled 135M model says "No" to nearly every yes/no question
(1 right of 40, docs/benchmarks.md ## Answers), so its own "Yes"/"No" is never accepted (`answer.accepted`). A
sentence of the sources that states the whole question, every content word of it (by stem), and no word that
denies it, says yes to it; an FAQ entry whose question holds the whole question answers it with its own answer
(`faq_answer`: "Yes."/"No." as the source words it). A statement says "No" only in so many words: every
content word of the question and a denying word right before one of them (`says_no`: "Passwords ... must never
be shared, not even with the service desk."). Nothing reads a "No" into a difference: a sentence that states
everything but a name, and another name in its slot ("The capital city is Helsinki." for "Is the capital city
Oslo?"), was right 7 times of 8 on real questions, but it also said "No" to 14 of 100 questions about invented
names, mostly without grounds ("Are elephant populations in <invented place> small?" -> "No: Elephant
populations in West Africa ... are small"): the sources not saying a thing is not the sources denying it.
Measured on rag-mini-wikipedia's yes/no questions, a dev and a held-out slice (docs/benchmarks.md ## Answers,
"Yes/no questions"; benchmarks/yes_no.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ragft.citations import content_words, lexical_relevance, stems, strip_markers
from ragft.prompting import rank_sentences, split_sentences
from ragft.text import WORD
from ragft.types import Hit

NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|cannot)\b|n't\b", re.IGNORECASE)
"""Words that deny: a sentence holding one says something a word count cannot read as yes. Contrast words ("but",
"however", "instead", "unlike", ...) were tried too: on the dev slice they cost 2 right answers for 1 wrong one
fewer (docs/benchmarks.md, "Yes/no questions")."""
_YES_NO_START = frozenset({"is", "was", "are", "were", "do", "does", "did", "can", "could", "has", "have", "had",
                           "will", "would", "should", "shall", "may", "might", "must"})
_ALTERNATIVES = re.compile(r"\w\s*,?\s+or\s+(?!not\b)\w", re.IGNORECASE)
"""Two options joined by "or" ("... or not" still asks yes or no)."""


def auxiliary_first(question: str) -> bool:
    """The question opens with an auxiliary verb: it may be answered "Yes"/"No" (with "or" in it too: 9 of the 15
    such rag-mini-wikipedia questions, "Are there seven verb paradigms or speech levels in Korean?", want yes/no)."""
    first = question.strip().split(maxsplit=1)[:1]
    return not first or first[0].lower() in _YES_NO_START


def asks_yes_no(question: str) -> bool:
    """A question an auxiliary opens ("Did ...", "Is ...") asks yes or no, unless it offers alternatives ("Did he
    found the school before or after ...?", "Do ants eat plants, meat, or both?"): the answer is then one of them,
    which a sentence can hold."""
    return auxiliary_first(question) and not _ALTERNATIVES.search(question)


_DEONTIC = re.compile(r"\b(?:must|required|requires|require|mandatory|obligatory|compulsory|needed|needs|need"
                      r"|necessary)\b", re.IGNORECASE)
"""Words that say something is required: one of them in the question is stated by any of them in a sentence ("Is
full-disk encryption required on company laptops?" by "All company laptops must use full-disk encryption.")."""


def _deontic(text: str) -> str:
    return _DEONTIC.sub("must", text)


def says_yes(question: str, sentence: str) -> bool:
    """True when `sentence` states the whole yes/no `question`: every content word by stem (`lexical_relevance`
    1.0; a word that says something is required by any such word, `_DEONTIC`) and `_affirms` (a statement with no
    word that denies, for a question that denies nothing)."""
    return _affirms(question, sentence) and (lexical_relevance(question, sentence) == 1.0
                                             or lexical_relevance(_deontic(question), _deontic(sentence)) == 1.0)


def _affirms(question: str, sentence: str) -> bool:
    """The checks of `says_yes` besides relevance: `sentence` is a statement, not a question ("Do you ship to
    Norway and Switzerland?" in an FAQ holds every word of "Do you ship to Norway?" and says nothing), and neither
    it nor the question holds a word that denies (NEGATION). A question that itself denies ("Did he not ...?") gets
    no verdict: which answer it expects is ambiguous (even the dataset's answers disagree)."""
    text = sentence.strip()
    return bool(text) and not text.endswith("?") and not NEGATION.search(question) and not NEGATION.search(text)


_BEFORE_DENIED = frozenset({"be", "been", "being", "to", "ever", "always", "also", "even", "usually", "normally",
                            "generally", "any", "a", "an", "the", "longer"})
_IDIOM = re.compile(r"\b(?:not only|not just|no matter|not least|nothing but|no doubt|not until)\b", re.IGNORECASE)


def _denied(sentence: str) -> set[str]:
    """The words a denying word denies: the first word after it that is not an auxiliary, article or adverb
    ("must never be shared" -> "shared", "does not carry over" -> "carry", "no refunds" -> "refunds")."""
    out = set()
    for m in NEGATION.finditer(sentence):
        following = [w for w in WORD.findall(sentence[m.end():])[:4] if w.lower() not in _BEFORE_DENIED]
        if following:
            out.add(following[0])
    return out


def says_no(question: str, sentence: str) -> bool:
    """True when `sentence` denies the yes/no `question`: it holds every content word of the question (by stem,
    a word that says something is required by any such word) and a denying word stands right before one of them
    ("Passwords are personal and must never be shared, not even with the service desk." for "Can I share my
    password with the service desk?"). Why the word right after: in a sentence that holds the question, the
    denial is mostly in another clause ("Kangaroos are shy ... and present no threat to humans" for "Are kangaroos
    shy?"), and a "No" read from any denying word was right 3 times of 9 (docs/benchmarks.md)."""
    text = sentence.strip()
    if not text or text.endswith("?") or NEGATION.search(question) or _IDIOM.search(text):
        return False
    if lexical_relevance(question, text) < 1.0 and lexical_relevance(_deontic(question), _deontic(text)) < 1.0:
        return False
    return bool(stems(content_words(" ".join(_denied(text)))) & stems(content_words(question)))


def contrasts(question: str, sentence: str) -> bool:
    """True when `sentence`, which does not say yes, can still stand as the answer to the yes/no `question`: it
    holds every content word of the question but one, and at least two (by stem), so it says how the asked thing
    differs ("The capital city is Helsinki." for "Is the capital city Oslo?"). Why: a copy that shares a word or
    two says nothing to the question; "Is there a company car?" was answered with "The company pays 8 percent of
    your gross salary into the pension plan.", which shares "company" alone."""
    asked = stems(content_words(question))
    held = len(asked & stems(content_words(strip_markers(sentence))))
    return held >= 2 and held >= len(asked) - 1


def reply(question: str, items: Sequence[Hit], chunk_texts: Mapping[str, str] | None = None) -> tuple[str, Hit] | None:
    """For a yes/no question whose generation failed: "Yes: <sentence>" from the most relevant sentence of the
    prompt's items that `says_yes`, and its item; or, where that sentence is a question (an FAQ's), the answer the
    source gives right after it (`faq_answer`); else "No: <sentence>" from one that `says_no`; None (abstain)
    when none. The ranking already measured each
    sentence's relevance, so only the other checks (`_affirms`) run here."""
    whole = [r for r in rank_sentences(question, items) if r.relevance >= 1.0]
    for r in whole:
        if _affirms(question, r.text):
            rest = split_verdict(r.text)[1]  # "Yes, orders to Norway ...": the source's own yes is said once
            return f"Yes: {rest or r.text}", items[r.item]
    if _DEONTIC.search(question):  # read again with every word that says "required" as one (`_DEONTIC`)
        read = [replace(it, text=_deontic(it.text)) for it in items]
        for r in rank_sentences(_deontic(question), read):
            sentence = split_sentences(items[r.item].text)[r.position]  # the source's own words
            if r.relevance >= 1.0 and _affirms(question, sentence):
                return f"Yes: {split_verdict(sentence)[1] or sentence}", items[r.item]
    for r in whole:  # a statement first: it says yes in so many words; an FAQ's answer may only imply it
        found = faq_answer(question, r.text, items[r.item], chunk_texts)
        if found is not None:
            return found
    for r in whole:
        if says_no(question, r.text):
            return f"No: {r.text}", items[r.item]
    return None


_VERDICT = re.compile(r"^(?P<word>yes|no)\b[\s.,;:!-]*", re.IGNORECASE)


def split_verdict(text: str) -> tuple[str | None, str]:
    """("Yes" or "No", the rest) when `text` opens with the word ("Yes. Orders ship ...", "No, gift cards ..."),
    else (None, `text`): the one reading of a source's or a copy's own verdict that `reply`, `faq_answer` and
    `labelled` share."""
    m = _VERDICT.match(text)
    return (None, text) if m is None else (m["word"].capitalize(), text[m.end():].strip())


def faq_answer(question: str, asked: str, item: Hit, chunk_texts: Mapping[str, str] | None = None) -> tuple[str, Hit] | None:
    """The source's own answer to `asked`, a question sentence of `item` that holds every word of the user's
    `question` (an FAQ entry: "Do you ship to Norway and Switzerland? Yes. Orders to Norway and Switzerland ship
    with DHL Express ..."), read in the whole retrieved chunk (`chunk_texts`): the sentence after it, labelled
    "Yes: "/"No: " when the source opens its answer so ("Yes." or "No, ..."), as it is otherwise ("Do gift cards
    expire?" -> "Gift cards are valid for three years ..."). The item then carries the whole chunk, which holds
    the question and its answer. None when `asked` is no question, the user's question denies (NEGATION), or
    nothing answers it before the next question.

    Why: an FAQ's question holds every word of the user's and says nothing (`_affirms` refuses it), and its
    answer rarely repeats the question's words, so the demo abstained on "Do you ship to Switzerland?" with the
    answer retrieved first. A "No" here is the source's own word, unlike the "No" rule left out above."""
    if not asked.rstrip().endswith("?") or NEGATION.search(question):
        return None
    whole = (chunk_texts or {}).get(item.chunk_id, item.text)
    sentences = split_sentences(whole)
    target = " ".join(asked.split())
    at = next((i for i, s in enumerate(sentences) if s == target), None)
    if at is None:
        return None
    after = []
    for s in sentences[at + 1:]:
        if s.rstrip().endswith("?"):
            break  # the next question of the FAQ
        after.append(s)
        if len(after) == 2:
            break
    if not after:
        return None
    label, rest = split_verdict(after[0])
    if label is None:
        return after[0], replace(item, text=whole)
    rest = rest or (after[1] if len(after) > 1 else "")
    return (f"{label}: {rest}" if rest else label), replace(item, text=whole)


def labelled(question: str, answer: str) -> str | None:
    """A copied answer to a yes/no question with "Yes: " in front when it `says_yes` ("Yes: The leopard is solitary
    ... [1]"), "No: " when it `says_no`, else None. Why: "The climate in Uruguay is temperate. [1]" does answer "Is
    the climate in Uruguay temperate?", but a reader (and `evaluate.metrics.answer_correct`) looks for the yes or no
    first. A copy that opens with the source's own "Yes."/"No." (an FAQ's answer) leads with it the same way ("Yes:
    Orders to Norway ..."), never "Yes: Yes. ...", and is not read again."""
    label, rest = split_verdict(answer)
    if label is not None and strip_markers(rest).strip():  # not a bare "Yes [1]"
        return f"{label}: {rest}"
    plain = strip_markers(answer)
    if says_yes(question, plain):
        return f"Yes: {answer}"
    return f"No: {answer}" if says_no(question, plain) else None
