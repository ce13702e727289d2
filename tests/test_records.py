"""A copied table row or JSON record is cut to its first field and the fields the question asks (ragft/records.py)."""

from __future__ import annotations

from ragft.answer import answer_question
from ragft.records import focus_record
from tests.fakes import FakeGenerator
from tests.test_answer import ctx, hit

ROWS = ("store: Northwind Rotterdam; city: Rotterdam; opening hours: Mon-Sat 9:00-18:00; repair workshop: yes\n\n"
        "store: Northwind Utrecht; city: Utrecht; address: Oudegracht 201; opening hours: Mon-Sat 10:00-18:00; "
        "phone desk: yes; repair workshop: no")
UTRECHT = ("store: Northwind Utrecht; city: Utrecht; address: Oudegracht 201; opening hours: Mon-Sat 10:00-18:00; "
           "phone desk: yes; repair workshop: no")
STOVE = "sku: NW-STOVE-GAS\nname: Ember gas stove\ncategory: cooking\nweight_kg: 0.08\nprice_eur: 45"


def test_a_copied_row_keeps_its_first_field_and_the_fields_asked():
    assert focus_record("When does the store open?", UTRECHT + " [1]", [ROWS]) == (
        "store: Northwind Utrecht; opening hours: Mon-Sat 10:00-18:00 [1]")
    assert focus_record("Which store has a repair workshop?", UTRECHT, [ROWS]) == (
        "store: Northwind Utrecht; repair workshop: no")
    # a JSON record, its lines joined by spaces in the prompt's sentence context
    flat = " ".join(STOVE.split("\n"))
    assert focus_record("What category is the Ember gas stove?", flat + " [2]", [STOVE]) == (
        "sku: NW-STOVE-GAS; category: cooking [2]")


def test_a_copy_is_left_whole_when_nothing_or_everything_is_asked_or_it_is_short():
    flat = " ".join(STOVE.split("\n"))
    # no field name holds what is asked ("weigh" is not "weight_kg"); a value that names the record is not asked
    assert focus_record("What does the Ember gas stove weigh?", flat, [STOVE]) == flat
    assert focus_record("When does the store open?", "store: Northwind Utrecht; opening hours: Mon-Sat 10:00-18:00",
                        [ROWS]) == "store: Northwind Utrecht; opening hours: Mon-Sat 10:00-18:00"  # two fields
    assert focus_record("Where is the store and when does it open?", "store: A; city: B; opening hours: C",
                        ["store: A; city: B; opening hours: C"]) == "store: A; city: B; opening hours: C"
    prose = "Orders placed before 2 pm on a business day leave our warehouse the same day."
    assert focus_record("By what time must I order?", prose, [prose]) == prose


def test_the_answer_path_cuts_a_copied_row_and_a_row_quoted_as_the_fallback():
    rows = hit(1, ROWS, doc="stores")
    a = answer_question(ctx(FakeGenerator(UTRECHT + " [1]"), [rows]), "When does the store open?")
    assert a.answer == "store: Northwind Utrecht; opening hours: Mon-Sat 10:00-18:00 [1]", a
    assert a.citations[0].chunk_id == rows.chunk_id
    a = answer_question(ctx(FakeGenerator("( [1]"), [rows]), "When does the Utrecht store open?")
    assert a.answer == "store: Northwind Utrecht; opening hours: Mon-Sat 10:00-18:00 [1]", a
