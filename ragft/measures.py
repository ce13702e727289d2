"""A number is answered with what its source writes beside it: its unit, or the field it is the value of.

The bundled model under the copy rule often copies just the digits: "2" for "By what time must I order for same-day
dispatch?" (the source: "Orders placed before 2 pm ..."), "1.9" for "How much does the Skerry 2 tent weigh?" (a
product record: "weight_kg: 1.9"), "1890" for a price ("price_eur: 1890"). The digits are in the source, so every
check passes, yet the answer is not one a reader can use: 2 what, 1.9 what? `with_unit` puts back, from the cited
text itself, what makes the number a measure:

- the unit written after it (a closed list: percent, am/pm, time spans, currencies, SI and imperial units, eras,
  "million"/"billion" ...), with a range it opens ("2" of "2 to 4 business days") and a currency sign before it;
- or, for the whole value of a record field (the JSON/CSV loaders write records as `key: value; key: value`
  rows, JSON records ingested before pipeline version 3 as `key: value` lines), the field: "weight_kg: 1.9".

Only text copied from the source is added, so the answer stays a copy and its citation still supports it. A number
the cited text writes with different units in different places ("2 kg" here, "2 days" there) is left bare: which one
the model copied is not known.

A measure is one of several when its sentence gives another amount in the same unit: "10" of "Staff discount: 30
percent on full-price items, 10 percent on sale items" is the sale-item discount, and "10 percent" alone would tell
someone who asked "How much is the staff discount?" the wrong thing. What tells the amounts apart is in the
sentence, not in the number, so `rival_sentence` gives that sentence for the answer path to quote instead.

Pure string rules, no model; measured in docs/benchmarks.md (## Answers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragft.citations import split_trailing_markers
from ragft.prompting import split_sentences

_NUM = r"[-\u2212]?\d+(?:[.,:]\d+)*"
_AMOUNT = rf"{_NUM}(?:\s*(?:to|-|\u2013)\s*{_NUM})?"
"""A number or a range of numbers ("2 to 4", "9:00-17:00")."""
_LONE = re.compile(rf"^(?P<sign>[$€£]?)(?P<num>{_AMOUNT})$")
"""A bare amount, optionally after a currency sign: what `with_unit` completes."""
_WHOLE_BEFORE, _WHOLE_AFTER = r"(?<![\w.,:\u2212-])", r"(?![\w]|[.,:]\d)"
"""Where a number stands whole in a text: not the tail or head of a longer number, key or word ("1" of "TR-1",
"3" of "30", "89" of "89.00")."""

UNITS_BY_KIND: dict[str, str] = {
    # multi-word units first within a kind; the order across alternatives does not decide a match, since every
    # unit must end at a word boundary (`_AFTER`'s lookahead: "m" of "minutes" or "m/s" fails and the next is tried)
    "time": r"business\s+days?|working\s+days?|calendar\s+days?|a\.m\.|p\.m\.|o'clock|am|pm|seconds?|secs?|minutes?"
            r"|mins?|hours?|hrs?|days?|nights?|weeks?|months?|years?|yrs?|decades?|centuries|century",
    "share": r"per\s+cent|percent|%",
    "money": r"eur|euros?|usd|gbp|chf|sek|nok|dkk|jpy|dollars?|cents?|pounds?|pence|yen",
    "length": r"mm|cm|m|km|metres?|meters?|kilometres?|kilometers?|miles?|mi|feet|foot|ft|inches|yards?",
    "weight": r"mg|g|kg|grams?|kilograms?|tonnes?|tons?|lbs?|ounces?|oz",
    "volume": r"ml|l|litres?|liters?|gallons?",
    "temperature": r"°c|°f|℃|℉|degrees(?:\s+(?:celsius|fahrenheit))?|kelvin",
    "speed": r"km/h|mph|kph|knots?|m/s",
    "power and data": r"kw|kwh|mw|gw|w|watts?|volts?|v|ghz|mhz|hz|gb|mb|tb|kb",
    "era": r"bc|bce|ad|ce",
}
"""The units a number is written with, by kind, as regex alternations (lower case; matched ignoring case)."""
_UNITS = "|".join(UNITS_BY_KIND.values())
_MAGNITUDE = r"thousand|million|billion|trillion|bn"
_AFTER = re.compile(rf"^(?P<unit>\s*(?:(?:{_MAGNITUDE})(?:\s+(?:{_UNITS}))?|(?:{_UNITS})))(?![\w°/])", re.IGNORECASE)
_RANGE_TAIL = re.compile(rf"^\s*(?:to|-|\u2013)\s*{_NUM}", re.IGNORECASE)
_FIELD_KEY = re.compile(r"^\s*(?P<key>[^:]{1,60}):\s*$")
"""A field name before a value, as the loaders write records: bounded, so a long line is no quadratic search."""
_FIELD_END = re.compile(r"^\s*(?:$|\n|;)")
_LETTERS = re.compile(r"[^\W\d_]+")


def _measures(number: str, source: str, is_range: bool) -> set[str]:
    """What `source` writes `number` as, at each place it does: "2 pm", "weight_kg: 1.9", or the bare number."""
    found: set[str] = set()
    for m in re.finditer(rf"{_WHOLE_BEFORE}{re.escape(number)}{_WHOLE_AFTER}", source):
        before, after = source[:m.start()], source[m.end():]
        key = _FIELD_KEY.match(re.split(r"[\n;]", before[-80:])[-1])  # the field this value is of, if any
        if key is not None and _LETTERS.search(key["key"]) and _FIELD_END.match(after):
            found.add(f"{key['key'].strip()}: {number}")
            continue
        sign = before[-1] if before and before[-1] in "$€£" else ""
        tail = None if is_range else _RANGE_TAIL.match(after)
        span = tail.group(0) if tail else ""
        unit = _AFTER.match(after[len(span):])
        if unit is not None or sign:
            found.add(f"{sign}{number}{span}{unit['unit'] if unit else ''}")
        else:
            found.add(number)
    return found


def with_unit(answer: str, sources: Sequence[str], question: str = "") -> str:
    """`answer` with the unit or field its number has in `sources` (the cited texts), its citation markers kept;
    `answer` itself when it is not a bare number, when the sources write the number bare, or in different ways,
    or when `question` asks for the number in that unit ("How tall is Mount Everest in metres?" is answered
    "8849"); a question that counts the unit ("How many days ...?") gets it ("25 days"), as a reader says it."""
    body, markers = split_trailing_markers(answer)
    lone = _LONE.match(body.strip().rstrip("."))
    if lone is None:
        return answer
    number, is_range = lone["num"], re.search(r"\d\s*(?:to|-|\u2013)", lone["num"]) is not None
    written: set[str] = set()
    for source in sources:
        written |= _measures(number, source, is_range)
    measures = written - {number}
    if len(measures) != 1:
        return answer
    measure = " ".join(measures.pop().split())
    if lone["sign"] and not measure.startswith(lone["sign"]):
        return answer
    unit = measure.partition(number)[2]  # " metres", " to 4 business days"; "" after a field's name
    words = _LETTERS.findall(unit.lower())
    asked_in = r"\bin\s+(?:the\s+)?" + r"\s+".join(map(re.escape, words)) + r"\b"
    if words and not _RANGE_TAIL.match(unit) and re.search(asked_in, question, re.IGNORECASE):
        return answer  # the question asks for the number in that unit: the number alone answers it
    return f"{measure} {markers}" if markers else measure


_QUALIFIER_WORDS = (r"(?:more|less|fewer|no\s+more|no\s+less|no\s+later|no\s+earlier)\s+than|at\s+(?:least|most|latest)"
                    r"|up\s+to|over|under|within|about|around|approximately|nearly|almost|roughly|every")
_QUALIFIER = re.compile(rf"(?<![\w-])(?P<q>(?:(?:{_QUALIFIER_WORDS})\s+){{1,2}})$", re.IGNORECASE)
"""The words before an amount that bound or round it ("more than 3 minutes", "up to 6 months", "at least every 6
months"): a closed list, at most two in a row, matched at the end of the text before the amount."""


def with_qualifier(answer: str, sources: Sequence[str], question: str = "") -> str:
    """`answer`, a measure ("3 minutes", "GBP 25", "14 characters"; citation markers allowed), with the words that
    bound it where `sources` (the cited texts) write it: "More than 3 minutes" when a seizure "lasting more than 3
    minutes" is an emergency. The limit is part of the fact: "3 minutes" alone says something else. `answer`
    itself when it is no measure, or the sources write it bare somewhere, or with different qualifiers, or when
    `question` already says the bound ("Within how many days ...?" is answered "14 days")."""
    body, markers = split_trailing_markers(answer)
    measure = " ".join(body.strip().rstrip(".").split())
    if not re.match(rf"^(?:[$€£]|[A-Z]{{3}}\s)?{_AMOUNT}(?:\s+\S+){{0,3}}$", measure):  # an amount, up to 3 words
        return answer
    spelt = r"\s+".join(map(re.escape, measure.split()))
    written = re.compile(rf"{_WHOLE_BEFORE}{spelt}{_WHOLE_AFTER}", re.IGNORECASE)
    found: set[str] = set()
    for source in sources:
        for m in written.finditer(source):
            q = _QUALIFIER.search(source[max(0, m.start() - 40):m.start()])
            found.add(" ".join(q["q"].split()) if q else "")
    if len(found) != 1 or found == {""}:
        return answer
    bound = found.pop()
    if re.search(r"\b" + r"\s+".join(map(re.escape, bound.split())) + r"\b", question, re.IGNORECASE):
        return answer  # the question says it already
    text = f"{bound} {measure}"
    return f"{text} {markers}" if markers else text


def rival_sentence(measure: str, sources: Sequence[str]) -> str | None:
    """The sentence of `sources` that writes `measure` ("10 percent", citation markers allowed) beside another
    amount in the same unit ("30 percent ..., 10 percent ..."), or None: when there is none, or `measure` is no
    number with a unit after it (a record field names what its value is; a bare number has no unit to share)."""
    body = split_trailing_markers(measure)[0].rstrip(".")
    parts = re.match(rf"^[$€£]?(?P<num>{_AMOUNT})(?P<unit>\s*\S.*)$", body)
    unit = _AFTER.match(parts["unit"]) if parts else None
    if parts is None or unit is None or unit.end() != len(parts["unit"]):
        return None
    number = parts["num"]
    written = r"\s*".join(re.escape(w) for w in unit.group(0).split())  # "business days", "%", "a.m."
    amounts = re.compile(rf"{_WHOLE_BEFORE}(?P<num>{_NUM})\s*{written}(?![\w°/])", re.IGNORECASE)
    for source in sources:
        for sentence in split_sentences(source):
            numbers = {a["num"] for a in amounts.finditer(sentence)}
            if number in numbers and len(numbers) > 1 and body.lower() in " ".join(sentence.split()).lower():
                return sentence
    return None


_COST_WORD = re.compile(r"\b(?:cost|costs|price|prices|priced|fee|fees|charge|charged|pay|paid)\b", re.IGNORECASE)
_PRICE_ASKED = re.compile(r"^\W*(?:how\s+much\s+(?:does|do|did|is|are|was|were|will|would|should|can|to)\b"
                          r"|what\b(?!\s+(?:time|date|day|year)\b))", re.IGNORECASE)
_NOT_MONEY_UNIT = re.compile("|".join(u for kind, u in UNITS_BY_KIND.items() if kind not in ("money", "era")),
                             re.IGNORECASE)
"""Every unit of another kind than money ("era" aside: "AD 79" is a date, no amount)."""


def wrong_unit(question: str, answer: str) -> bool:
    """True when `answer` is an amount in a unit that cannot be what `question` asks: a unit of any kind but money
    (`UNITS_BY_KIND`: a time span, a percentage, a length, a weight ...) for a question about what something costs
    ("What does it cost to spay a dog that weighs 25 kg?" copied "20 kg" of the price list's row "Bitch spay, up to
    20 kg; Price: GBP 320"). Only the price is checked: the form of "what does it cost" names the kind of its
    answer and no unit of another kind is a price; "how long" can ask a length or a time, so it is left alone. A
    price is asked by a question that opens with "how much" with a verb, or "what" with a word of cost ("What will
    I be charged ...?"): "How much notice do I need to cancel without paying a fee?" asks for the notice."""
    if not (_PRICE_ASKED.search(question) and _COST_WORD.search(question)):
        return False
    body = split_trailing_markers(answer)[0].strip().rstrip(".")
    amount = re.match(rf"^(?P<num>{_AMOUNT})\s*(?P<unit>\S.*)$", body)
    return amount is not None and _NOT_MONEY_UNIT.fullmatch(amount["unit"].strip()) is not None
