"""Answering: the four strategies behind `ragft ask`, `compare` and the server, on one code path.

| strategy | context | adapter |
|---|---|---|
| base   | none | none |
| rag    | retrieved chunks + live SQL rows | none |
| ft     | none | a fine-tuned LoRA adapter (kind "ft") |
| hybrid | like rag | a retrieval-aware (RAFT) adapter (kind "raft") |

The retrieval path (rag, hybrid): retrieve -> add live rows -> score relevance -> a table cell the question names
answers directly (sources/cells.py; the model never chooses a database value) -> abstain early if nothing is
relevant enough (the model is not called) -> focus the context (answer.context: the best sentences of the chunks
for the bundled generator, whole chunks for remote ones) -> assemble the prompt (prompting.py) -> generate ->
resolve citations (citations.py) -> abstain if the answer is not supported by what it cites. A fragment
(wellformed.py) is never returned: the complete sentences a cut copy starts with (`whole_sentences`), else the best
supporting sentence replace it, or the answer abstains.

Stages: `prepare` (everything up to the prompt and its copy constraint, or a finished answer: a table cell, an
early abstention) -> generate -> `finish` (the checks, citations, fallback). `answer_question` runs them for one
question; `answer_batch.answer_many` prepares many, generates them together (on the bundled model up to
`batch_size` rows share each forward pass, models/continuous.py) and finishes each, so every decision is the one
`answer_question` takes.

Streaming: `on_token` receives only text of the final answer, after it is checked, so the concatenated pieces
are exactly `Answer.answer`, citation markers included (the CLI and the server's SSE deltas rely on this).
Generation itself is not streamed to the caller: a piece shown before the checks could be withdrawn by them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ragft.citations import (MARKER, is_yes_no, lexical_relevance, resolve_citations, split_trailing_markers,
                             strip_markers, support, words)
from ragft.config import ADAPTER_KIND, STRATEGIES
from ragft.errors import ConfigError
from ragft.focus import focus_clause, focus_copy
from ragft.measures import rival_sentence, with_qualifier, with_unit, wrong_unit
from ragft.models.base import BatchItem, Decoding
from ragft.names import antecedent, names_each, referent_sentence, respell
from ragft.prompting import (
    ABSTAIN_ANSWER,
    DEFAULT_SENTENCE_TOKENS,
    Prompt,
    build_prompt,
    closed_book_messages,
    constant_head,
    copy_context,
    in_source_order,
    rank_sentences,
    split_sentences,
    select_sentences,
    subject_lines,
    with_subject,
)
from ragft.fields import record_values
from ragft.records import answer_record
from ragft.sources.cells import RowHit, cell_answer
from ragft.types import Answer, Citation, Hit
from ragft.wellformed import (about_the_asked, answer_kind, asked_topic, beyond_names, day_of_a_date,
                              degenerate_reason, lowercase_words, named_phrases, offers_kind)
from ragft.yes_no import asks_yes_no, auxiliary_first, contrasts, faq_answer, labelled, reply

if TYPE_CHECKING:
    from ragft.config import AnswerSettings, GeneratorSettings
    from ragft.finetune.registry import AdapterRegistry
    from ragft.models.base import Generator

_ABSTAIN_CUES = ("do not contain", "does not contain", "doesn't contain", "don't contain", "not contain this")


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    return strategy


@dataclass(frozen=True)
class ResolvedAdapter:
    name: str
    path: str


def resolve_adapter(registry: "AdapterRegistry", strategy: str, adapter: str | None) -> ResolvedAdapter | None:
    """The adapter for ft/hybrid (none for base/rag). Without a name, the newest adapter of the strategy's kind.

    Raises ConfigError when ft/hybrid has no adapter to use, NotFoundError for an unknown name, AccessDenied for
    a tainted, unapproved adapter (the registry's rules).
    """
    if strategy not in ADAPTER_KIND:
        if adapter is not None:
            raise ConfigError(f"--adapter is only used by strategies ft and hybrid, not {strategy!r}")
        return None
    kind = ADAPTER_KIND[strategy]
    if adapter is None:
        try:
            adapter = registry.newest_servable(kind).name
        except ConfigError as exc:
            raise ConfigError(f"strategy {strategy!r} needs a {kind} adapter: {exc}; or name one: --adapter NAME "
                              f"(over HTTP, the model \"{strategy}:NAME\")") from None
    info = registry.get_servable(adapter)
    return ResolvedAdapter(name=adapter, path=str(info.path))


def score_items(question: str, items: Sequence[Hit], subjects: Mapping[str, str] | None = None) -> list[Hit]:
    """Items with `score` replaced by the calibrated relevance (lexical_relevance), most relevant first; an item
    is read with its section heading and the question's names in its title when `subjects` (title and heading
    path by chunk id) has them (`prompting.subject_lines`).

    Among equally relevant items, the one whose own words (a record's values, not its field names:
    `fields.record_values`) name more of the question comes first: "In which city is the warehouse?" ties a
    shop row, matched by its field "city", with the sentence about the warehouse, and the row was copied and
    cited. The sort is stable, so the retrieval order breaks the remaining ties.
    """
    about = subject_lines(question, subjects)
    scored = [replace(it, score=round(lexical_relevance(question, with_subject(it.text, about.get(it.chunk_id, ""))), 4))
              for it in items]

    def named(h: Hit) -> float:  # prose is its own values: its score already says it (rounded alike)
        values = record_values(h.text)
        if values is h.text:
            return h.score
        return round(lexical_relevance(question, with_subject(values, about.get(h.chunk_id, ""))), 4)

    return sorted(scored, key=lambda h: (-h.score, -named(h)))


def answer_decoding(ctx: "AnswerContext", adapter: str | None) -> Decoding:
    """How answers are decoded: `clean_answer` keeps only the first non-empty paragraph, so generation may stop
    once it has ended (`Decoding.paragraph`: the kept text is the same, the tokens after it are not computed)."""
    return Decoding.of(ctx.max_new_tokens, ctx.temperature, adapter=adapter, paragraph=True)


def _generate(gen: "Generator", messages: list[dict[str, str]], decoding: Decoding,
              constrain_to: str | None = None) -> str:
    one = getattr(gen, "generate_one", None)  # GeneratorBase: takes the whole Decoding, `paragraph` included
    if one is not None:
        return str(one(BatchItem(messages, constrain_to, constant_head(messages)), decoding))
    return gen.generate(messages, max_tokens=decoding.max_tokens, temperature=decoding.temperature,
                        adapter=decoding.adapter, constrain_to=constrain_to)


def emit(on_token: Callable[[str], None] | None, text: str) -> None:
    """Pass the final answer to `on_token` word by word (with its whitespace): the pieces join to exactly `text`."""
    if on_token is not None:
        for piece in re.findall(r"\s*\S+\s*", text) or ([text] if text else []):
            on_token(piece)


COPY_MARGIN = 0.2
"""Extractive answers copy only from items whose relevance is within this of the best item's."""

_LEAD_IN = re.compile(r"^(?:the\s+)?(?:final\s+)?answer(?:\s+is\b\s*:?|\s*:)\s*", re.IGNORECASE)


def clean_answer(text: str) -> str:
    """The first non-empty paragraph of the generation, whitespace-normalised, without an "The answer is:" lead-in
    (tiny models ramble on and announce their answer)."""
    for para in text.strip().split("\n\n"):
        if para.strip():
            return _LEAD_IN.sub("", " ".join(para.split())).strip()
    return ""


def says_abstain(text: str) -> bool:
    low = text.lower()
    return any(cue in low for cue in _ABSTAIN_CUES)


@dataclass
class AnswerContext:
    """Everything `answer_question` needs besides the question; the Workspace builds it with `context_from_settings`."""

    generator: "Generator"
    retrieve: Callable[[str, int | None], list[Hit]]
    live_rows: Callable[[str], list[Hit]]
    abstain_threshold: float
    support_threshold: float
    max_context_tokens: int
    max_new_tokens: int
    temperature: float
    prompt_format: str
    extractive: bool = True  # copy-constrained decoding for rag/hybrid when the generator supports it
    context: str = "chunks"  # "sentences": the best sentences of the chunks (bundled generator); "chunks": whole
    sentence_tokens: int = DEFAULT_SENTENCE_TOKENS
    fallback: str = "sentence"  # a fragment or unsupported answer: "sentence" (best supporting sentence) | "abstain"
    table_cells: bool = True  # answer a named cell of a live row directly (sources/cells.py)
    check_copies: bool = True  # copied spans must be of the asked kind and from a near-best sentence (copied_from_best)
    # chunk id -> its document title and heading path (retrieval.chunk_subjects): relevance reads a chunk and its
    # sentences with them, and the fallback's names rule looks for the question's names there
    subjects: Callable[[Sequence[str]], Mapping[str, str]] | None = None


def context_from_settings(answer: "AnswerSettings", generator_settings: "GeneratorSettings", generator: "Generator",
                          retrieve: Callable[[str, int | None], list[Hit]],
                          live_rows: Callable[[str], list[Hit]],
                          subjects: Callable[[Sequence[str]], Mapping[str, str]] | None = None) -> AnswerContext:
    """The answer context for the `[answer]`/`[generator]` settings; the composition root (Workspace) passes the
    generator, the caller's retrieval and live-row functions, already narrowed to the caller's groups, and the
    lookup of a retrieved chunk's title and headings."""
    a, g = answer, generator_settings
    return AnswerContext(
        generator=generator,
        retrieve=retrieve,
        live_rows=live_rows,
        abstain_threshold=a.abstain_threshold,
        support_threshold=a.support_threshold,
        max_context_tokens=a.max_context_tokens,
        max_new_tokens=g.max_new_tokens,
        temperature=g.temperature,
        prompt_format=a.prompt_format,
        # Only the bundled generator enforces the copy constraint (and only its copies get copied_from_best's checks).
        extractive=a.extractive and g.kind == "bundled",
        # Remote generators read long contexts well and ignore the copy constraint: they keep whole chunks.
        context=a.context if g.kind == "bundled" else "chunks",
        sentence_tokens=a.sentence_tokens,
        fallback=a.fallback,
        table_cells=a.table_cells,
        check_copies=a.check_copies,
        subjects=subjects,
    )


@dataclass
class Prepared:
    """What `prepare` decided for one question: either a finished `answer` (a table cell, an early abstention;
    the model is not called), or the `messages` to generate from and what `finish` needs to check the result."""

    question: str
    strategy: str
    model: str
    seconds: float  # spent on this question so far (retrieval, prompt); generation and checks add theirs
    answer: Answer | None = None
    messages: list[dict[str, str]] = field(default_factory=list)
    constrain_to: str | None = None  # copy-constrained decoding (rag/hybrid with ctx.extractive)
    prompt: Prompt | None = None  # rag/hybrid: the prompt and its items; None for base/ft
    chunk_texts: dict[str, str] = field(default_factory=dict)  # rag/hybrid: chunk id -> the whole retrieved text
    subjects: dict[str, str] = field(default_factory=dict)  # rag/hybrid: chunk id -> its title and heading path


def answer_question(
    ctx: AnswerContext,
    question: str,
    strategy: str = "rag",
    adapter: ResolvedAdapter | None = None,
    k: int | None = None,
    on_token: Callable[[str], None] | None = None,
) -> Answer:
    """Answer `question` with `strategy`: `prepare` -> generate -> `finish` (the module docstring has the steps)."""
    prep = prepare(ctx, question, strategy, adapter, k)
    if prep.answer is not None:
        emit(on_token, prep.answer.answer)
        return prep.answer
    start = time.perf_counter()
    raw = _generate(ctx.generator, prep.messages, answer_decoding(ctx, adapter.path if adapter else None),
                    prep.constrain_to)
    return finish(ctx, prep, raw, time.perf_counter() - start, on_token)


def prepare(ctx: AnswerContext, question: str, strategy: str = "rag", adapter: ResolvedAdapter | None = None,
            k: int | None = None) -> Prepared:
    """Everything before generation: checks, the closed-book messages (base, ft), or retrieval, relevance, a
    named table cell, the early abstention and the prompt with its copy constraint (rag, hybrid)."""
    check_strategy(strategy)
    if not question.strip():
        raise ConfigError("the question is empty; pass the question text as the argument")
    start = time.perf_counter()
    gen = ctx.generator
    model = gen.name + (f"+{adapter.name}" if adapter else "")

    def _prepared(**kw) -> Prepared:  # type: ignore[no-untyped-def]
        return Prepared(question=question, strategy=strategy, model=model, seconds=time.perf_counter() - start, **kw)

    def _early(**kw) -> Prepared:  # type: ignore[no-untyped-def]
        done = _prepared()
        done.answer = Answer(strategy=strategy, model=model, latency_ms=round(done.seconds * 1000, 1), **kw)
        return done

    if strategy in ("base", "ft"):
        return _prepared(messages=closed_book_messages(question))
    found = [*ctx.retrieve(question, k), *ctx.live_rows(question)]
    # From here on the question as its sources spell it ("larest" -> "largest"): every check below compares words.
    question = respell(question, [it.text for it in found])
    # what each chunk is about (title, heading path): relevance reads it with the chunk's text and sentences
    about = dict(ctx.subjects([it.chunk_id for it in found])) if ctx.subjects is not None else {}
    items = score_items(question, found, about)
    cell = cell_answer(question, [it for it in items if isinstance(it, RowHit)]) if ctx.table_cells else None
    if cell is not None:  # the question names a row and one of its columns: the value is read, not generated
        row = cell.row
        return _early(answer=f"{cell.value} [1]",
                      citations=[Citation(n=1, doc_id=row.doc_id, chunk_id=row.chunk_id, source=row.source,
                                          text=row.text)],
                      retrieved=[it.chunk_id for it in items])
    best = items[0].score if items else 0.0
    if best < ctx.abstain_threshold:
        return _early(answer=ABSTAIN_ANSWER, abstained=True, retrieved=[it.chunk_id for it in items])
    window = getattr(gen, "context_window", 2048)
    focused = (select_sentences(question, items, gen.count_tokens, ctx.sentence_tokens, about)
               if ctx.context == "sentences" else items)
    prompt: Prompt = build_prompt(question, focused, gen.count_tokens, window, ctx.max_new_tokens,
                                  ctx.max_context_tokens, ctx.prompt_format)
    # Copy only from on-topic items: the cited text must pass the same relevance bar below, so a number copied
    # from an off-topic chunk ("3" of "3 to 5 business days" for a returns question) could never be kept anyway.
    # Among those, only the items nearly as relevant as the best one (COPY_MARGIN): a live inventory row that
    # names the product and "stock" should not lose to an FAQ line that merely mentions the product.
    bar = max(ctx.abstain_threshold, max((it.score for it in prompt.items), default=0.0) - COPY_MARGIN)
    on_topic_items = [it for it in prompt.items if it.score >= bar] or prompt.items
    constrain = copy_context(on_topic_items) if ctx.extractive else None
    return _prepared(messages=prompt.messages, constrain_to=constrain, prompt=prompt,
                     chunk_texts={it.chunk_id: it.text for it in items}, subjects=about)


def finish(ctx: AnswerContext, prep: Prepared, raw: str, generate_seconds: float = 0.0,
           on_token: Callable[[str], None] | None = None) -> Answer:
    """Everything after generation: clean the text, then (rag, hybrid) the abstention cue, the checks (`accepted`)
    and the fallback sentence. `generate_seconds` is this question's generation time."""
    start = time.perf_counter()
    question, gen = prep.question, ctx.generator

    def _done(**kw) -> Answer:  # type: ignore[no-untyped-def]
        seconds = prep.seconds + generate_seconds + time.perf_counter() - start
        whole = prep.chunk_texts  # a citation quotes its sentences in the order its chunk has them
        kw["citations"] = [replace(c, text=in_source_order(c.text, whole.get(c.chunk_id)))
                           for c in kw.get("citations", [])]
        return Answer(strategy=prep.strategy, model=prep.model, latency_ms=round(seconds * 1000, 1), **kw)

    text = clean_answer(raw)
    if prep.prompt is None:  # base, ft: the closed-book answer as generated
        emit(on_token, text)
        return _done(answer=text, tokens_in=_tokens(gen, prep.messages), tokens_out=gen.count_tokens(raw))
    prompt = prep.prompt

    def _abstain(**kw) -> Answer:  # type: ignore[no-untyped-def]
        emit(on_token, ABSTAIN_ANSWER)
        return _done(answer=ABSTAIN_ANSWER, abstained=True, **kw)

    common = {"tokens_in": prompt.tokens, "tokens_out": gen.count_tokens(raw),
              "retrieved": [it.chunk_id for it in prompt.items]}
    if says_abstain(text):
        return _abstain(**common)
    copied = prep.constrain_to is not None
    good = accepted(ctx, prep, text, copied)
    for trimmed in whole_sentences(text)[1:] if good is None else []:
        # Quoting a whole sentence: the bar a fallback sentence must pass too (an on-topic item is not enough).
        if lexical_relevance(asked_topic(question), trimmed) >= FALLBACK_RELEVANCE:
            good = accepted(ctx, prep, trimmed, copied)
            if good is not None:
                break
    yes_no_copy = good is not None and copied and asks_yes_no(question)
    said = labelled(question, good[0]) if yes_no_copy else None
    if yes_no_copy and said is None and not contrasts(question, good[0]):
        good = None  # a copy that neither says yes nor how the asked thing differs: the fallback's reply instead
    if good is not None:
        # a copy answering a yes/no question leads with what it says to it, and stays whole as the evidence
        text = said or (focus_copy(question, good[0]) if copied else good[0])
        cited = [prep.chunk_texts.get(c.chunk_id, c.text) for c in good[1]]
        text = measured(question, text, cited)
        if copied and said is None:  # a copied table row or JSON record (or a row given for an amount in it,
            text = answer_record(question, text, cited)  # `measured`): its name and the fields asked
        good = None if wrong_unit(question, text) else good  # "20 kg" for what it costs: the fallback's instead
    if good is not None:
        emit(on_token, text)
        return _done(answer=text, citations=good[1], **common)
    # The generation is a fragment or is not supported: the best supporting sentence, if it is clearly about
    # the question, else abstain. Never the fragment.
    fallback = None
    if ctx.fallback == "sentence":
        fallback = fallback_sentence(question, prompt.items, prep.chunk_texts, prep.subjects)
    if fallback is None:
        return _abstain(**common)
    sentence, item = fallback
    if not asks_yes_no(question):  # a table row or JSON record as the sentence: its name and the fields asked
        sentence = answer_record(question, sentence, [prep.chunk_texts.get(item.chunk_id, item.text)])
    text = f"{sentence} [1]"
    emit(on_token, text)
    return _done(answer=text, citations=[Citation(n=1, doc_id=item.doc_id, chunk_id=item.chunk_id,
                                                  source=item.source, text=item.text)], **common)


def accepted(ctx: AnswerContext, prep: Prepared, text: str, copied: bool) -> tuple[str, list[Citation]] | None:
    """The answer and its citations when the generated `text` passes every check, else None: well-formed
    (`wellformed.degenerate_reason`; no bare yes/no for a question that does not ask one), citing text that
    supports it and is about the question, and for a `copied` (copy-constrained) span `copied_from_best` when
    `[answer] check_copies` is on."""
    question = prep.question
    items = prep.prompt.items if prep.prompt is not None else []
    lead = _LEADING_MARKERS.match(text)
    if lead is not None:  # "[1] Qatar has ..." -> "Qatar has ... [1]": the citation follows what it supports
        text = f"{lead['text'].rstrip()} {''.join(lead['markers'].split())}"
    wrapped = _WRAPPED.match(text)
    if wrapped is not None and offers_kind(wrapped["body"], question):
        # "(Priya Shah) [1]": the brackets of the prompt's "[1] (source)" label, not the copy's. A copy in a label's
        # form is the model imitating the layout, so it must hold the asked kind, a name or place too ("(bearded)"
        # answers no "who")
        text = f"{wrapped['body'].strip()} {wrapped['markers'].strip()}".strip()
    if not text:
        return None
    if degenerate_reason(text, question) is not None:  # "3" for "how long": said with the unit its sources write
        text = with_unit(text, [it.text for it in items], question)  # it with ("3 minutes"), if only that one
        if degenerate_reason(text, question) is not None:
            return None
    yes_no = is_yes_no(strip_markers(text))
    if yes_no and not auxiliary_first(question):
        return None  # the copy rule lets "Yes"/"No" through freely; they do not answer "who", "when" or "what"
    if yes_no and copied and ctx.check_copies:
        # Measured on 40 yes/no questions of rag-mini-wikipedia: the bundled 135M model under the copy rule says
        # "No" to nearly all of them (1 right); accepting its yes/no turned 11 abstentions into wrong answers and
        # no more right ones (docs/benchmarks.md ## Answers). The question abstains instead.
        return None
    resolved = resolve_citations(text, question, items)
    supported = support(resolved.answer, question, [c.text for c in resolved.citations])
    # The cited text must also be about the question: a bare "3" copied from an unrelated chunk is not support.
    # Judged on the whole cited chunk, as the early abstention judges it: the sentence-level context keeps only
    # a chunk's most relevant sentences, which can hold fewer of the question's words than the chunk does.
    lines = subject_lines(question, prep.subjects)
    on_topic = max((lexical_relevance(question, with_subject(prep.chunk_texts.get(c.chunk_id, c.text),
                                                             lines.get(c.chunk_id, "")))
                    for c in resolved.citations), default=0.0)
    if not resolved.citations or supported < ctx.support_threshold or on_topic < ctx.abstain_threshold:
        return None
    if copied and ctx.check_copies and not copied_from_best(resolved.answer, question, items, prep.subjects):
        return None
    return resolved.answer, resolved.citations


def measured(question: str, answer: str, cited: Sequence[str]) -> str:
    """A number answered with what its cited source writes beside it (`measures.with_unit`): "2 [1]" -> "2 pm [1]",
    "1.9 [1]" -> "weight_kg: 1.9 [1]"; and a measure that is one of several in the same unit in its sentence
    ("10 percent" of "30 percent on full-price items, 10 percent on sale items") gives way to that sentence
    (`measures.rival_sentence`, cut as a fallback sentence is), which says what tells the amounts apart; unless
    the cut leaves the amount out (it would no longer answer with it); otherwise the measure keeps the words that
    bound it in its source (`measures.with_qualifier`: "more than 3 minutes")."""
    text = with_unit(answer, cited, question)
    sentence = rival_sentence(text, cited)
    if sentence is not None:
        body, markers = split_trailing_markers(text)
        focused = focus_clause(asked_topic(question), sentence)
        if body.rstrip(".") in focused:
            return f"{focused} {markers}".strip()
    return with_qualifier(text, cited, question)  # "3 minutes" -> "more than 3 minutes", as its source bounds it


def whole_sentences(text: str) -> list[str]:
    """`text`, then its leading runs of whole sentences, longest first: what `finish` checks when `text` fails.

    Why: a copy that runs past its sentence ("... National Democratic Congress. The Parliament of G") is cut by
    the token budget mid-word, and a copy of two sentences is held by no single sentence (`copied_from_best`);
    the complete sentences it starts with are an answer the model did copy. A shorter candidate must pass every
    check of `accepted` and, being a quoted sentence, the fallback sentence's relevance bar (FALLBACK_RELEVANCE),
    so it only ever replaces a rejected generation, never with text less on topic than a fallback."""
    sentences = split_sentences(text)
    return [text, *(" ".join(sentences[:n]) for n in range(len(sentences) - 1, 0, -1))]


_LEADING_MARKERS = re.compile(rf"^(?P<markers>(?:\s*{MARKER.pattern})+)\s*(?P<text>\S.*)$", re.DOTALL)
_WRAPPED = re.compile(rf"^\((?P<body>[^()]+)\)\s*(?P<markers>(?:{MARKER.pattern}\s*)*)$")
"""An answer wholly inside one pair of round brackets, then its citation markers."""

FALLBACK_RELEVANCE = 0.5
"""A sentence replaces a failed generation only if it holds this share of the question's content words.

Measured on the dev slice of rag-mini-wikipedia (docs/benchmarks.md ## Answers): at 0.75 a third of answerable
questions abstained; at 0.5 about one in nine, with more right answers. The price is on questions whose fact is
absent from the corpus: a relevant-looking sentence is quoted (with its citation) more often; the table there has
both sides."""
SOURCE_MARGIN = 0.25
"""A copied answer must come from a sentence at most this much less relevant than the best sentence of the prompt."""


def copied_from_best(answer: str, question: str, items: Sequence[Hit],
                     subjects: Mapping[str, str] | None = None) -> bool:
    """Checks on a copy-constrained answer (the bundled model copies a span; which span is its choice, and a 135M
    model often picks a nearby fact): the span must be of the kind the question asks for when the form says so
    ("when" -> a year, month or century; "what time" -> a time of day; "how many/much/old..." -> a number, not
    the day of a date: `wellformed.offers_kind`, `wellformed.day_of_a_date`), and it must occur in a sentence
    nearly as relevant as the best one (SOURCE_MARGIN): "1972" copied from a side sentence does
    not answer "When was the Six Day War?" when the best sentence names 1967. Names and places are not kind-checked
    here: a right answer may be lowercase ("his mother", "in the sea")."""
    span = " ".join(strip_markers(answer).split()).strip(" .").lower()
    kind = answer_kind(question)
    if kind in ("time", "count") and not offers_kind(span, question):
        return False
    if kind == "count" and day_of_a_date(span, [it.text for it in items]):
        return False  # "31" of "31 March" is no count
    asked = asked_topic(question)
    ranked = rank_sentences(asked, items, subjects)
    if not ranked or not span:
        return False
    holding = [r for r in ranked if span in " ".join(r.text.split()).lower()]
    if kind == "clock" and not any(offers_kind(with_unit(span, [r.text], question), question) for r in holding):
        return False  # a time of day, as its sentence writes it ("2" of "before 2 pm" is "2 pm")
    return bool(holding) and max(r.relevance for r in holding) >= ranked[0].relevance - SOURCE_MARGIN


def fallback_sentence(question: str, items: Sequence[Hit], chunk_texts: Mapping[str, str] | None = None,
                      subjects: Mapping[str, str] | None = None) -> tuple[str, Hit] | None:
    """The sentence of the prompt's items that stands as the answer when the generation fails, and its item: among
    the sentences relevant enough (FALLBACK_RELEVANCE) and within SOURCE_MARGIN of the best, the most relevant one
    that holds the kind of answer the question asks for (`wellformed.offers_kind`: a year for "when", a number for
    "how many", a name for "who", where a sentence's first word is no name if its chunks also write it in lower
    case), else the most relevant; for a "how many/much/long" question, none (a sentence without a number does not
    answer it; a "when" can be answered by an event: "during pairing"). A sentence must
    hold a word of what is asked beyond the question's names (`wellformed.about_the_asked`: "born" does not answer
    "When did Isaac Newton die?"). Only sentences of items that name each name of the question count
    (`wellformed.named_phrases`: a sentence about another person or place can share most of the question's words).
    The names are looked for in the whole retrieved chunk (`chunk_texts`, by chunk id) when given: a sentence-level
    context keeps "In 1820 he became a professor of physics at the University of Turin." but not the sentence of the
    same chunk that says whose life it is; and in the chunk's document title and heading path (`subjects`, by chunk
    id), which name the subject of a chunk that never does ("Amedeo Avogadro"); relevance and the asked-word check
    read a sentence with its chunk's section heading and the question's names in its title too
    (`prompting.subject_lines`).
    A sentence that only restates a "who" question with a pronoun gives way to the name that pronoun stands for
    (`names.antecedent`); one that restates a "what"/"which" question so gives way to the sentence before it
    (`names.referent_sentence`); the item then carries the whole chunk's text. A yes/no question gets
    `yes_no.reply`'s "Yes: <sentence>" or None. A sentence that is itself a question (an FAQ's) gives way to the
    answer after it (`yes_no.faq_answer`). None also when no sentence is relevant enough."""
    if asks_yes_no(question):
        return reply(question, items, chunk_texts)
    asked = asked_topic(question)
    names = named_phrases(question)  # a sentence from an item that names none of a name's words is off-topic
    whole, about = chunk_texts or {}, subjects or {}
    naming = [names_each(names, f"{about.get(it.chunk_id, '')}\n{whole.get(it.chunk_id, it.text)}")
              for it in items]  # once per item, not per sentence
    beyond = beyond_names(asked)
    lines = subject_lines(asked, about)
    ranked = [r for r in rank_sentences(asked, items, about)
              if naming[r.item] and about_the_asked(beyond, with_subject(r.text, lines.get(items[r.item].chunk_id, "")))]
    if not ranked or ranked[0].relevance < FALLBACK_RELEVANCE:
        return None
    near = [r for r in ranked if r.relevance >= max(FALLBACK_RELEVANCE, ranked[0].relevance - SOURCE_MARGIN)]
    lower = lowercase_words(whole.get(it.chunk_id, it.text) for it in items)  # "Payment is due" names nobody
    offering = [r for r in near if offers_kind(r.text, question, lower)]
    if not offering and answer_kind(question) in ("count", "clock"):
        return None  # no number for "how many/much/long", no time of day for "what time" ("when": "during pairing" is)
    best = offering[0] if offering else ranked[0]
    if best.text.rstrip().endswith("?"):  # an FAQ's question: its answer follows it (`yes_no.faq_answer`)
        return faq_answer(question, best.text, items[best.item], whole)
    text = focus_clause(asked, best.text, kind_of=question)
    if degenerate_reason(text, question) is not None:
        text = best.text
        if degenerate_reason(text, question) is not None:
            # "He won ..." for "Who won ...?": the name an earlier sentence gives him, else nothing to answer with;
            # the name is cited with the whole chunk, which holds it (a sentence-level item may not)
            item = items[best.item]
            chunk = whole.get(item.chunk_id, item.text)
            name = antecedent(question, best.text, chunk)
            if name:
                return name, replace(item, text=chunk)
            # "This traps ..." for "What traps ...?": the sentence before it names what "this" stands for
            before = referent_sentence(question, best.text, chunk)
            if before is None or degenerate_reason(before, question) is not None:
                return None
            return before, replace(item, text=chunk)
    return text, items[best.item]


def _tokens(gen: "Generator", messages: Sequence[dict[str, str]]) -> int:
    return sum(gen.count_tokens(m["content"]) for m in messages)
