"""A copied table row or JSON record is cut to its first field and the fields the question asks (ragft/records.py)."""

from __future__ import annotations

from ragft.answer import answer_question
from ragft.records import Asked, answer_record, focus_record, pick_record, same_stem
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
    # no field name holds what is asked; a value that names the record ("name: Ember gas stove") is not asked
    assert focus_record("Who makes the Ember gas stove?", flat, [STOVE]) == flat
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


SUPPORT = ("title: Customer support contacts\nupdated: 2026-11-01\n\nchannel: chat\nhours: every day 8:00-22:00\n\n"
           "channel: phone\nnumber: +31 10 555 0142\nhours: Mon-Fri 9:00-17:00\n\n"
           "channel: e-mail\naddress: help@northwind.example\nresponse_time: within one business day")


def test_a_field_name_matches_a_stem_it_extends_by_a_letter_or_two():
    assert same_stem("weigh", "weight") and same_stem("weight", "weigh") and same_stem("price", "price")
    assert not same_stem("cost", "costume")  # more than two letters on
    assert not same_stem("age", "ages") and not same_stem("kg", "kgs")  # too short to extend
    flat = " ".join(STOVE.split("\n"))
    assert focus_record("What does the Ember gas stove weigh?", flat + " [1]", [STOVE]) == (
        "sku: NW-STOVE-GAS; weight_kg: 0.08 [1]")


def test_a_copy_of_a_record_that_holds_nothing_asked_moves_to_the_one_record_that_does():
    header = "title: Customer support contacts updated: 2026-11-01 [1]"
    asked = "What is the phone number of customer support?"
    assert pick_record(asked, header, [SUPPORT]) == (
        "channel: phone; number: +31 10 555 0142; hours: Mon-Fri 9:00-17:00 [1]")
    assert answer_record(asked, header, [SUPPORT]) == "channel: phone; number: +31 10 555 0142 [1]"
    assert pick_record(asked, "2026-11-01", [SUPPORT]) == (  # a bare value of the header too
        "channel: phone; number: +31 10 555 0142; hours: Mon-Fri 9:00-17:00")


def test_a_copy_stays_where_it_is_unless_exactly_one_other_record_is_asked():
    chat = "channel: chat hours: every day 8:00-22:00 [1]"
    # the copied record holds an asked field ("hours"): even if another does too, it stays
    assert pick_record("What are the support hours?", chat, [SUPPORT]) == chat
    # nothing asked anywhere / two other records asked ("hours": chat and phone) / a "where" question
    header = "title: Customer support contacts updated: 2026-11-01"
    assert pick_record("Which contacts are listed?", header, [SUPPORT]) == header
    assert pick_record("What are the hours of customer support?", header, [SUPPORT]) == header
    assert pick_record("Where is the number of customer support?", header, [SUPPORT]) == header
    # text in more than one record, or in none: nothing to move
    assert pick_record("What is the phone number?", "channel", [SUPPORT]) == "channel"
    prose = "Call us on weekdays."
    assert pick_record("What is the phone number?", prose, [SUPPORT]) == prose


def test_the_answer_path_moves_a_copied_header_to_the_asked_record():
    support = hit(1, SUPPORT, doc="support")
    gen = FakeGenerator("title: Customer support contacts updated: 2026-11-01 [1]")
    a = answer_question(ctx(gen, [support]), "What is the phone number of customer support?")
    assert a.answer == "channel: phone; number: +31 10 555 0142 [1]", a
    assert a.citations[0].chunk_id == support.chunk_id


DELIVERY = ("Service: Standard; Time: 2 to 4 business days; Price: 4.95 EUR, free above 75 EUR\n\n"
            "Service: Express; Time: next business day; Price: 12.50 EUR\n\n"
            "Service: Store pickup; Time: 3 business days; Price: free")


def test_the_kind_of_answer_a_question_asks_for_names_fields():
    assert Asked.of("How long does express delivery take?").field("Time: next business day")
    assert Asked.of("How much does express delivery cost?").field("Price: 12.50 EUR")
    assert Asked.of("How heavy is the Ember gas stove?").field("weight_kg: 0.08")
    assert Asked.of("When does support answer e-mails?").field("response_time: within one business day")
    assert not Asked.of("How long is the kayak?").field("Time: next business day")  # a length, not a duration
    assert not Asked.of("What does express delivery include?").field("Price: 12.50 EUR")
    express = "Service: Express; Time: next business day; Price: 12.50 EUR [1]"
    assert answer_record("How long does express delivery take?", express, [DELIVERY]) == (
        "Service: Express; Time: next business day [1]")
    assert answer_record("How much does express delivery cost?", express, [DELIVERY]) == (
        "Service: Express; Price: 12.50 EUR [1]")


def test_a_copy_of_an_unasked_field_moves_to_the_asked_field_of_its_record():
    # the pickup row's time copied for its price
    assert pick_record("How much does store pickup cost?", "3 business days [1]", [DELIVERY]) == (
        "Service: Store pickup; Price: free [1]")
    # the record's name copied for its opening hours
    assert answer_record("When does the Utrecht store open?", "Northwind Utrecht [1]", [ROWS]) == (
        "store: Northwind Utrecht; opening hours: Mon-Sat 10:00-18:00 [1]")
    # it holds the asked field: stays; its text in two records ("free"): stays
    assert pick_record("How much does store pickup cost?", "free [1]", [DELIVERY]) == "free [1]"
    assert pick_record("How much does express delivery cost?", "12.50 EUR", [DELIVERY]) == "12.50 EUR"


def test_the_answer_path_gives_an_amount_its_row_name_and_column_and_moves_a_wrong_cell():
    delivery = hit(1, DELIVERY, doc="shipping")
    # "4.95 EUR" stands beside "75 EUR" in its row (measures.rival_sentence): the row, cut to its name and price
    a = answer_question(ctx(FakeGenerator("4.95 EUR [1]"), [delivery]), "What does standard delivery cost?")
    assert a.answer == "Service: Standard; Price: 4.95 EUR, free above 75 EUR [1]", a
    a = answer_question(ctx(FakeGenerator("3 business days [1]"), [delivery]), "How much does store pickup cost?")
    assert a.answer == "Service: Store pickup; Price: free [1]", a
    a = answer_question(ctx(FakeGenerator("3 business days [1]"), [delivery]), "How long does store pickup take?")
    assert a.answer == "3 business days [1]", a


def test_a_copy_that_begins_after_the_name_of_its_record_still_names_the_record():
    rotterdam = ROWS.split("\n\n")[0]
    copy = rotterdam.removeprefix("store: ") + " [1]"  # "Northwind Rotterdam; city: Rotterdam; ..."
    assert focus_record("In which city is the store?", copy, [ROWS]) == (
        "store: Northwind Rotterdam; city: Rotterdam [1]")
    # the value must stand before the first copied field: a copy from "city:" on is named by "city:", as before
    tail = rotterdam[rotterdam.index("city:"):]
    assert focus_record("When does the store open?", tail, [ROWS]) == (
        "city: Rotterdam; opening hours: Mon-Sat 9:00-18:00")
    # a copy that holds the whole first field is cut as before
    assert focus_record("In which city is the store?", rotterdam, [ROWS]) == (
        "store: Northwind Rotterdam; city: Rotterdam")


def test_how_often_asks_for_an_interval_or_a_frequency():
    vaccine = ("vaccine: Leptospirosis (L4); protects_against: leptospirosis; first_dose_age: 8 weeks; "
               "booster_interval: every 12 months")
    assert Asked.of("How often does the vaccine have to be repeated?").field("booster_interval: every 12 months")
    assert Asked.of("How often are the classes held?").field("frequency: weekly")
    assert not Asked.of("How often does the vaccine have to be repeated?").field("first_dose_age: 8 weeks")
    # a copy cut short before the asked field moves to it (pick_record), with the record's name
    cut = vaccine[:vaccine.index("booster_interval")] + "booster_in [1]"
    assert answer_record("How often does the leptospirosis vaccine have to be repeated?", cut, [vaccine]) == (
        "vaccine: Leptospirosis (L4); booster_interval: every 12 months [1]")
