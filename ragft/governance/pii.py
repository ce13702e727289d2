"""PII detection and policies (allow / mask / redact / reject), offline, with Presidio's pattern recognizers.

Why it is built this way (verified in /work/shared/notes/security.md):
- A plain `AnalyzerEngine()` downloads a spaCy model and fails offline. We give it an NLP engine whose
  pipeline is `spacy.blank("en")` (tokenizer only, no NER) and drop the spaCy NER recognizer, so only the
  regex/checksum recognizers run (email, phone, credit card with Luhn, IBAN with its checksum, IP, US SSN...).
- Presidio validates e-mail domains with `tldextract`, whose default fetches the public-suffix list over the
  network. Our e-mail recognizer uses its own `TLDExtract(suffix_list_urls=())`, i.e. the bundled snapshot.
- Names (PERSON) need NER. That is an optional extra: set `[pii] ner_model` to an installed spaCy model
  package (e.g. `en_core_web_sm`); without it PERSON is never detected, and the docs say so.
- Detector scores: phone 0.40, SSN 0.50, IP 0.60. A threshold above 0.40 silently drops phone numbers.
- Overlaps (an IPv4 address also parses as a phone number; an NHS number too) are resolved by keeping the
  highest-scoring, then longest, span.

The analyzer is built lazily, once per process and configuration (~7 s, mostly importing spaCy), and only
when a scan is actually needed. Reports carry types and counts, never the matched values.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragft.config import ANSWER_PII_POLICIES, PII_POLICIES, PiiPolicy, PiiSettings, pii_rank
from ragft.errors import ConfigError

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

Policy = PiiPolicy  # the vocabulary lives in config.py
POLICIES: tuple[str, ...] = PII_POLICIES
REDACTED = "[REDACTED]"

# Entity types detected by default: every pattern recognizer that works without NER and is specific enough
# to be useful at the default threshold. URL and DATE_TIME are left out on purpose (they are rarely personal
# data and would mask most of a technical corpus).
DEFAULT_ENTITIES: tuple[str, ...] = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "US_ITIN",
    "CRYPTO",
    "UK_NHS",
    "MEDICAL_LICENSE",
    "MAC_ADDRESS",
)
NER_ENTITIES: tuple[str, ...] = ("PERSON",)
DEFAULT_THRESHOLD = 0.35


@dataclass(frozen=True)
class Finding:
    """One detected span: `text[start:end]` is of `type` with detector confidence `score` (0..1)."""

    type: str
    start: int
    end: int
    score: float


@functools.lru_cache(maxsize=4)
def _analyzer(entities: tuple[str, ...], ner_model: str) -> "AnalyzerEngine":
    """Build the Presidio analyzer once per process and configuration (see the module docstring)."""
    try:
        import spacy
        import tldextract
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import EmailRecognizer
    except ImportError as exc:
        raise ConfigError(
            f"PII detection needs Presidio ({exc}); install it with `pip install 'ragft[pii]'` "
            "or set [pii] policy = \"allow\" and answer_policy = \"allow\" in ragft.toml"
        ) from exc

    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recognizer with an offline public-suffix check."""

        def validate_result(self, pattern_text: str) -> bool:
            return extractor(pattern_text).fqdn != ""

    class _Engine(SpacyNlpEngine):
        """Loads a blank English pipeline (tokenizer only), or the configured NER model."""

        def load(self) -> None:
            if ner_model:
                try:
                    self.nlp = {"en": spacy.load(ner_model)}
                except OSError as exc:
                    raise ConfigError(
                        f"[pii] ner_model = {ner_model!r} is not installed ({exc}); install that spaCy model "
                        "package or set ner_model = \"\" to detect PII without names"
                    ) from exc
            else:
                self.nlp = {"en": spacy.blank("en")}

    engine = _Engine(models=[{"lang_code": "en", "model_name": ner_model or "blank"}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(OfflineEmailRecognizer())
    if not ner_model:
        registry.remove_recognizer("SpacyRecognizer")
    known = {e for r in registry.recognizers for e in r.supported_entities}
    unknown = sorted(set(entities) - known)
    if unknown:
        raise ConfigError(f"[pii] entities: unknown type(s) {unknown}; allowed: {', '.join(sorted(known))}")
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


class PiiScanner:
    """Scans text for PII and applies a policy. Cheap to construct; the analyzer is shared per process.

    Args:
        threshold: minimum detector score kept (phone numbers score 0.40).
        entities: types to look for (default DEFAULT_ENTITIES, plus PERSON when `ner_model` is set).
        ner_model: an installed spaCy model package with NER, or "" for pattern recognizers only.
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        entities: Sequence[str] | None = None,
        ner_model: str = "",
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"PII threshold must be within 0..1, got {threshold}")
        self.threshold = threshold
        chosen = tuple(entities) if entities else DEFAULT_ENTITIES + (NER_ENTITIES if ner_model else ())
        self.entities = tuple(sorted(set(chosen)))
        self.ner_model = ner_model

    @classmethod
    def from_settings(cls, settings: "PiiSettings") -> "PiiScanner":
        """From the `[pii]` settings section."""
        return cls(threshold=settings.threshold, entities=settings.entities or None, ner_model=settings.ner_model)

    def scan(self, text: str) -> list[Finding]:
        """Non-overlapping findings at or above the threshold, in text order."""
        if not text or not text.strip():
            return []
        results = _analyzer(self.entities, self.ner_model).analyze(
            text=text, language="en", entities=list(self.entities), score_threshold=self.threshold
        )
        return resolve_overlaps([Finding(r.entity_type, r.start, r.end, float(r.score)) for r in results])

    def apply(self, text: str, policy: str) -> tuple[str | None, dict[str, int]]:
        """Apply an ingest policy. Returns (text or None when rejected, counts by type)."""
        if policy not in POLICIES:
            raise ConfigError(f"unknown PII policy {policy!r}; allowed: {', '.join(POLICIES)}")
        findings = self.scan(text)
        counts = dict(Counter(f.type for f in findings))
        if policy == "reject" and findings:
            return None, counts
        if policy in ("mask", "redact"):
            return replace_findings(text, findings, policy), counts
        return text, counts


def resolve_overlaps(findings: Sequence[Finding]) -> list[Finding]:
    """Keep the best of overlapping spans: highest score, then longest, then earliest; return in text order."""
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def replace_findings(text: str, findings: Sequence[Finding], policy: str) -> str:
    """`mask`: each span becomes `<TYPE>`; `redact`: each span becomes `[REDACTED]` (the type is hidden too)."""
    out, pos = [], 0
    for f in sorted(findings, key=lambda f: f.start):
        out.append(text[pos : f.start])
        out.append(f"<{f.type}>" if policy == "mask" else REDACTED)
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------------- module-level conveniences
def scan(text: str, threshold: float = DEFAULT_THRESHOLD) -> list[Finding]:
    """Findings in `text` with the default entity set."""
    return PiiScanner(threshold).scan(text)


def apply_ingest_policy(text: str, policy: str, threshold: float = DEFAULT_THRESHOLD,
                        scanner: PiiScanner | None = None) -> tuple[str | None, dict[str, int]]:
    """allow -> text unchanged + counts; mask -> `<TYPE>` placeholders; redact -> `[REDACTED]`; reject -> None
    when anything is found. Counts are by type, never the values. `scanner` (the workspace's, built from
    `[pii]`) replaces a default scanner at `threshold`."""
    return (scanner or PiiScanner(threshold)).apply(text, policy)


def mask_answer(text: str, policy: str, threshold: float = DEFAULT_THRESHOLD, scanner: PiiScanner | None = None) -> str:
    """The answer-side policy (`[pii] answer_policy`): allow, mask or redact. `allow` does not even scan."""
    if policy not in ANSWER_PII_POLICIES:
        raise ConfigError(f"unknown answer PII policy {policy!r}; allowed: {', '.join(ANSWER_PII_POLICIES)}")
    if policy == "allow":
        return text
    result, _ = (scanner or PiiScanner(threshold)).apply(text, policy)
    assert result is not None
    return result


def policy_for(settings: PiiSettings, groups: Sequence[str] = ()) -> str:
    """The ingest policy for a document in `groups`: the strictest `[pii] group_policies` entry among its
    groups, else `[pii] policy`. Strictest wins so that adding a group can never weaken protection."""
    overrides = [settings.group_policies[g] for g in groups if g in settings.group_policies]
    if not overrides:
        return settings.policy
    return max(overrides, key=pii_rank)


@dataclass
class PiiEval:
    """Span-level detection quality on a labelled set: a finding counts when its type matches a labelled span
    it overlaps. Per type: tp, fp, fn, precision, recall; `overall` micro-averages them."""

    per_type: dict[str, dict[str, float]]
    overall: dict[str, float]
    texts: int
    not_scanned: dict[str, int]  # labelled spans of types this scanner does not look for (e.g. PERSON without NER)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    return {
        "tp": tp, "fp": fp, "fn": fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
    }


def evaluate(scanner: PiiScanner, rows: Sequence[dict[str, Any]]) -> PiiEval:
    """Score `scanner` on rows of {"text", "entities": [{"type", "start", "end"}]} (tests/fixtures/pii_labelled.jsonl)."""
    counts: dict[str, list[int]] = {}
    not_scanned: Counter[str] = Counter()
    for row in rows:
        not_scanned.update(e["type"] for e in row["entities"] if e["type"] not in scanner.entities)
        gold = [(e["type"], e["start"], e["end"]) for e in row["entities"] if e["type"] in scanner.entities]
        found = [(f.type, f.start, f.end) for f in scanner.scan(row["text"])]
        matched_gold: set[int] = set()
        for ftype, fs, fe in found:
            hit = next((i for i, (t, s, e) in enumerate(gold) if i not in matched_gold and t == ftype and fs < e and s < fe), None)
            c = counts.setdefault(ftype, [0, 0, 0])
            if hit is None:
                c[1] += 1
            else:
                matched_gold.add(hit)
                c[0] += 1
        for i, (t, _, _) in enumerate(gold):
            if i not in matched_gold:
                counts.setdefault(t, [0, 0, 0])[2] += 1
    per_type = {t: _prf(*c) for t, c in sorted(counts.items())}
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return PiiEval(per_type=per_type, overall=_prf(*total), texts=len(rows), not_scanned=dict(not_scanned))
