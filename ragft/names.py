"""Does a text name what a question names, what does a pronoun stand for, and how do the sources spell a word.

`respell` corrects the question's typos against the retrieved texts before any word is compared. `names_each` is
the fallback sentence's rule (answer.fallback_sentence): the source must name each name of the question
(`wellformed.named_phrases`), a misspelt name one edit away included. `antecedent` turns a "who" answer that only
says "He ..." into the name the source gave him a sentence or two before; `referent_sentence` gives a "what"
answer that only says "This ..." the sentence before it, which names what "this" is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragft.citations import words
from ragft.prompting import split_sentences
from ragft.text import ENGLISH_STOPWORDS
from ragft.wellformed import OPENERS, answer_kind


def names_each(names: Sequence[frozenset[str]], text: str) -> bool:
    """True when `text` holds at least one word of each of the question's names (`wellformed.named_phrases`), a
    name word also matching a word of the text one typing slip away (`near_word`): "Bequerel" names Becquerel."""
    present = set(words(text))
    return all(name & present or any(near_word(w, present) for w in name) for name in names)


_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)


def respell(question: str, texts: Sequence[str]) -> str:
    """`question` with each word that none of `texts` holds replaced by the one word of `texts` one edit away
    (`near_word`'s rule: same first letter, at least TYPO_MIN_LENGTH letters), when there is exactly one.

    Why: every check of the answer path compares words (relevance, the names rule, the echo rule), so one typo
    ("the eggs of the larest species") costs a fifth of a five-word question's relevance, and the sentence
    holding the answer falls below the fallback's bar. The retrieved texts are the vocabulary: a word they hold
    is never changed, and a word with two near neighbours there is left as typed. On the 327 dev and test
    questions of rag-mini-wikipedia it changed 22, mostly other forms of a word ("retire" -> "retired")."""
    written: dict[str, str] = {}  # lower-cased word -> its first spelling in the texts ("becquerel": "Becquerel")
    for t in texts:
        for w in _TOKEN.findall(t):
            written.setdefault(w.lower(), w)
    if not written:
        return question

    def fix(m: re.Match[str]) -> str:
        tok = m.group(0)
        w = tok.lower()
        if len(w) < TYPO_MIN_LENGTH or w in written:
            return tok
        near = [v for v in written if _one_slip(w, v)]
        if len(near) != 1:
            return tok
        return written[near[0]] if tok[:1].isupper() else near[0]

    return _TOKEN.sub(fix, question)


TYPO_MIN_LENGTH = 6
"""Words shorter than this are never taken for a typo of another: one edit turns "Iran" into "Iraq"."""


def near_word(word: str, present: set[str]) -> bool:
    """True when `present` holds a word one edit (insert, delete, substitute, swap two neighbours) from `word`
    with the same first letter, for a word of at least TYPO_MIN_LENGTH letters.

    Why: users misspell names ("Bequerel", "Janpan", "Singapor"); the names rule would then reject every source,
    and the answer abstain although its source is retrieved. The first letter must agree so that "Prussia" does
    not name Russia."""
    if len(word) < TYPO_MIN_LENGTH:
        return False
    return any(_one_slip(word, v) for v in present)


def _one_slip(word: str, other: str) -> bool:
    """`other` could be `word` typed right: the same first letter and one edit away."""
    return other[:1] == word[:1] and abs(len(other) - len(word)) <= 1 and _one_edit(word, other)


def _one_edit(a: str, b: str) -> bool:
    """`a` and `b` differ by exactly one insertion, deletion, substitution or swap of neighbouring letters."""
    if len(a) > len(b):
        a, b = b, a
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                   and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


_SUBJECT_PRONOUNS = frozenset({"he", "she", "they"})
_NAME = r"[A-Z][\w'.-]*(?:\s+(?:(?:de|da|di|del|der|van|von|le|la)\s+)?[A-Z][\w'.-]*)*"
"""Capitalised words in a row, name particles allowed between them ("Ludwig van Beethoven")."""
_SUBJECT = re.compile(rf"^(?P<name>{_NAME}(?P<more>(?:,?\s+and\s+(?:[a-z]+\s+)?{_NAME})*))"
                      r"(?P<next>\s*[(,]|\s+[a-z]+\b)")
"""A name opening a clause, with names joined to it by "and" (one lowercase title allowed: "Captain James Cook and
naturalist Sir Joseph Banks"), and what follows it: "(" (dates), "," or a lowercase word, its verb if any."""
_BE_HAVE = frozenset({"was", "is", "were", "are", "had", "has"})
_NOT_VERBS = ENGLISH_STOPWORDS - _BE_HAVE
"""A lowercase word after a name that is a stopword other than be/have ("of", "and", "in") is no verb: "Monroe
fought" has a subject, "Virginia in 1776" does not."""
_NOT_NAMES = OPENERS | frozenset({"according", "during", "following", "despite", "under", "with", "from", "by", "for",
                                  "on", "at", "as", "upon", "within", "without", "throughout", "between", "among",
                                  "unlike", "like", "born"})
"""Words that open a sentence capitalised without being a name: `wellformed.OPENERS`, prepositions and "Born"."""


def antecedent(question: str, sentence: str, chunk_text: str) -> str | None:
    """The name a "who" question asks for when the sentence that answers it names its subject only by a pronoun
    ("He won the 1903 Nobel Prize in Physics ..."): the subject name (`subject_name`) of the nearest earlier
    sentence of the chunk, going back over sentences that open with the same pronoun ("He also served as ..."),
    else None.

    Why: encyclopaedic text names a person once and then says "he"; the sentence matching the question is then a
    restatement of it (`wellformed.degenerate_reason`), and its subject is the one the previous sentences name.
    "They" stands for names joined by "and" too; "he" and "she" for one name only."""
    pronoun = _first_word(sentence)
    if answer_kind(question) != "name" or pronoun not in _SUBJECT_PRONOUNS:
        return None
    for earlier in _before(sentence, chunk_text):
        found = subject_name(earlier, plural=pronoun == "they")
        if found is not None:
            return found
        if _first_word(earlier) != pronoun:
            return None  # another subject in between, or none found: the pronoun's referent is not certain
    return None


def subject_name(sentence: str, plural: bool = False) -> str | None:
    """The name that is the subject of `sentence`, else None: a name opening the sentence ("Antoine Henri
    Becquerel (1852-1908) was ...", "Monroe went to school"), or opening the clause after an opening phrase that
    ends in a comma ("After graduating from William and Mary in 1776, Monroe fought ..."; "Born in Westmoreland
    County, Virginia, Monroe went ..."). A name counts as the subject when a verb follows it (be/have, or a
    lowercase word that is not a stopword); one that opens the sentence may also be followed by "(" or "," when
    it has two or more words. Names joined by "and" count only when `plural` (the pronoun was "they").

    Why the opening phrase: encyclopaedic sentences often start with a time or circumstance, and the person
    follows it ("According to this legend, Captain James Cook and naturalist Sir Joseph Banks were exploring
    ..."). A clause after the comma that opens with a pronoun or a lowercase word ("According to Curie, the prize
    was shared") names no subject, and the search stops there."""
    found = _subject(sentence, plural, opening=True)
    if found is not None or _first_word(sentence) not in _NOT_NAMES:
        return found  # a subject, or a sentence opening with neither a name nor an opening phrase
    for clause in sentence.split(", ")[1:]:
        if clause[:1].islower():  # "the prize was shared", "he married again": no name is the subject
            return None
        found = _subject(clause, plural, opening=False)
        if found is not None:
            return found
    return None


def _subject(clause: str, plural: bool, opening: bool) -> str | None:
    m = _SUBJECT.match(clause)
    if m is None or m["name"].split()[0].lower() in _NOT_NAMES or (m["more"] and not plural):
        return None
    follows = m["next"].strip()
    if follows in ("(", ","):
        return m["name"] if opening and len(m["name"].split()) > 1 else None
    return m["name"] if follows not in _NOT_VERBS else None  # be/have, or a word that is no stopword


_REFERRING = frozenset({"it", "this", "these", "they", "he", "she"})
"""Words that open a sentence standing for something an earlier sentence named."""


def referent_sentence(question: str, sentence: str, chunk_text: str) -> str | None:
    """For a "what"/"which" question whose answering sentence only restates it behind a pronoun ("This traps a
    layer of air ..." for "What traps a layer of air ...?"): the sentence before it in the chunk, which names what
    the pronoun stands for ("They have a very soft underfur which is protected by their outer layer of long guard
    hair."), going back over sentences that open with the same pronoun; else None.

    Why a sentence and not a name: what "it" or "this" stands for is a noun phrase anywhere in that sentence
    ("The British used Singapore as a strategic trading post." before "It became one of the most important
    commercial and military centres of the British Empire."), which no rule here can pick out reliably; the
    sentence holds it, and its citation shows both. "Who" questions get a name or nothing (`antecedent`)."""
    pronoun = _first_word(sentence)
    if _first_word(question) not in ("what", "which") or pronoun not in _REFERRING:
        return None
    return next((earlier for earlier in _before(sentence, chunk_text) if _first_word(earlier) != pronoun), None)


def _first_word(text: str) -> str:
    """The first whitespace-separated token of `text`, lower-cased ("" for blank text)."""
    first = text.split(maxsplit=1)[:1]
    return first[0].lower() if first else ""


def _before(sentence: str, chunk_text: str) -> list[str]:
    """The sentences of `chunk_text` before the one holding `sentence`, nearest first (none if it is not there)."""
    sentences = split_sentences(chunk_text)
    key = " ".join(sentence.split())
    at = next((i for i, s in enumerate(sentences) if key in s), 0)
    return sentences[:at][::-1]
