"""A bare number is answered with the unit or record field its cited source writes beside it (ragft/measures.py)."""

from __future__ import annotations

from ragft.answer import answer_question
from ragft.measures import rival_sentence, with_qualifier, with_unit, wrong_unit
from tests.fakes import FakeGenerator
from tests.test_answer import ctx, hit

TENT = "sku: NW-TENT-2P\nname: Skerry 2 tent\ncategory: tents\nweight_kg: 1.9\nprice_eur: 349"
STORE = "store: Northwind Lille; city: Lille; price: 39; repair workshop: no"


def test_a_bare_number_takes_the_unit_written_after_it():
    assert with_unit("2 [1]", ["Orders placed before 2 pm on a business day leave the same day."]) == "2 pm [1]"
    assert with_unit("30", ["Return within 30 days. Members get 90 days."]) == "30 days"
    assert with_unit("12.50 [2]", ["Express delivery costs 12.50 EUR."]) == "12.50 EUR [2]"
    assert with_unit("10", ["Staff discount: 10 percent on sale items."]) == "10 percent"
    assert with_unit("7", ["The shop opens at 7 a.m. daily."]) == "7 a.m."
    assert with_unit("300", ["The city was founded in 300 BC."]) == "300 BC"
    # a magnitude, with or without a unit of its own; a currency sign before the number
    assert with_unit("3", ["a population of 3 million people"]) == "3 million"
    assert with_unit("5", ["It cost $5 million to build."]) == "$5 million"
    assert with_unit("$5", ["It cost $5 million to build."]) == "$5 million"
    # the first number of a range is the range
    assert with_unit("2 [1]", ["Standard delivery takes 2 to 4 business days."]) == "2 to 4 business days [1]"
    assert with_unit("2 to 4", ["Standard delivery takes 2 to 4 business days."]) == "2 to 4 business days"


def test_the_value_of_a_record_field_takes_the_field():
    assert with_unit("1.9 [1]", [TENT]) == "weight_kg: 1.9 [1]"
    assert with_unit("349", [TENT]) == "price_eur: 349"
    assert with_unit("39", [STORE]) == "price: 39"
    assert with_unit("-5", ["comfort_temperature_c: -5\nfill: down"]) == "comfort_temperature_c: -5"


def test_a_number_is_left_bare_when_its_source_gives_no_unit_or_several():
    assert with_unit("1856", ["He was born on 10 July 1856 in Smiljan."]) == "1856"
    assert with_unit("2 [1]", [TENT]) == "2 [1]"  # "Skerry 2 tent": a name, not a measure; "NW-TENT-2P" is no match
    assert with_unit("5", ["5 kg here, and 5 days there"]) == "5"  # which one was copied is not known
    assert with_unit("5", ["Stage 5 kg", "stage 5 days"]) == "5"  # across cited texts too
    assert with_unit("1", ["It weighs 11 kg and 1.5 kg."]) == "1"  # digits inside another number are no match
    assert with_unit("2", [""]) == "2" and with_unit("2", []) == "2"
    # not a bare number: left as it is
    assert with_unit("60 days [1]", ["You have 60 days."]) == "60 days [1]"
    assert with_unit("Tesla was born in 1856 [1]", ["born in 1856 AD"]) == "Tesla was born in 1856 [1]"
    # a question that asks for the number in a unit is answered by the number (a range still takes its other end);
    # one that counts the unit gets it, as a reader says it
    assert with_unit("8849 [1]", ["Mount Everest is 8849 metres tall."], "How tall is Everest in metres?") == "8849 [1]"
    assert with_unit("25 [1]", ["Employees receive 25 days of leave."], "How many days of leave do I get?") == (
        "25 days [1]")
    assert with_unit("8849", ["Mount Everest is 8849 metres tall."], "How tall is Everest?") == "8849 metres"
    assert with_unit("2", ["It takes 2 to 4 business days."], "How many business days?") == "2 to 4 business days"
    assert with_unit("10", ["a 10% discount"], "What percentage of the price is the discount?") == "10%"
    # a sign the source does not write is not dropped or replaced
    assert with_unit("£5", ["It cost $5 million to build."]) == "£5"


def test_the_answer_path_returns_the_number_with_its_unit_and_cites_its_source():
    dispatch = hit(1, "Orders placed before 2 pm on a business day leave our warehouse the same day.", doc="shipping")
    a = answer_question(ctx(FakeGenerator("2"), [dispatch]), "By what time must I order for same-day dispatch?")
    assert a.answer == "2 pm [1]" and a.citations[0].chunk_id == dispatch.chunk_id
    tent = hit(2, TENT, doc="products")
    a = answer_question(ctx(FakeGenerator("1.9 [1]"), [tent]), "How much does the Skerry 2 tent weigh?")
    assert a.answer == "weight_kg: 1.9 [1]" and a.citations[0].chunk_id == tent.chunk_id


DISCOUNT = ("The store opens 15 minutes after staff arrive. Staff discount: 30 percent on full-price items, 10 percent "
            "on sale items, for you and one household member.")


def test_a_measure_beside_another_amount_in_the_same_unit_is_one_of_several():
    rivals = DISCOUNT.split(". ", 1)[1]
    assert rival_sentence("10 percent [1]", [DISCOUNT]) == rivals
    assert rival_sentence("30 percent", [DISCOUNT]) == rivals
    assert rival_sentence("2 business days", ["2 business  days inside the country, or 5 business days abroad."])
    assert rival_sentence("10%", ["10% now, 20 % later."]) == "10% now, 20 % later."
    # alone in its unit, another unit beside it, a record field, a bare number: not one of several
    assert rival_sentence("15 minutes", [DISCOUNT]) is None
    assert rival_sentence("2 kg", ["It weighs 2 kg and costs 30 EUR."]) is None
    assert rival_sentence("weight_kg: 1.9", ["weight_kg: 1.9\nvolume_l: 1.9"]) is None
    assert rival_sentence("10", [DISCOUNT]) is None
    assert rival_sentence("10 percent", ["Sales rose 10 percent.", "They fell 20 percent."]) is None  # two sentences


def test_the_answer_path_quotes_the_sentence_that_tells_several_amounts_apart():
    discount = hit(1, DISCOUNT, doc="onboarding")
    for copy in ("10 [1]", "10 percent [1]"):
        a = answer_question(ctx(FakeGenerator(copy), [discount]), "How much is the staff discount?")
        assert a.answer == DISCOUNT.split(". ", 1)[1] + " [1]" and a.citations[0].chunk_id == discount.chunk_id


def test_the_sentence_stands_in_only_when_its_cut_keeps_the_amount():
    """A long sentence is cut to the clause that answers, as a fallback sentence is; when that clause leaves the
    amount out, the amount is the answer still (a clause without it would answer "how much" with nothing)."""
    long = hit(1, "About 30% of the calves are tuskless, and the propagation of the absent-tusk gene has resulted in "
                  "the birth of large numbers of tuskless elephants, while 10% of adults lose their tusks later.",
               doc="elephants")
    a = answer_question(ctx(FakeGenerator("30% [1]"), [long]), "How much do elephants weigh at birth?")
    assert a.answer == "30% [1]"


def test_a_price_question_is_not_answered_with_an_amount_of_another_kind():
    """`wrong_unit`: a weight, a time or a percentage is no price; the copy gives way to the fallback sentence."""
    question = "What does it cost to spay a female dog that weighs 25 kg?"
    assert wrong_unit(question, "20 kg [1]") and wrong_unit("How much does the repair cost?", "3 days")
    assert wrong_unit("What is the fee?", "10%")
    # every unit `with_unit` knows that is not money, from one table (`measures.UNITS_BY_KIND`)
    assert wrong_unit("How much does the upgrade cost?", "16 GB [1]") and wrong_unit("What is the fee?", "2 miles")
    assert not wrong_unit("How much does the upgrade cost?", "40 dollars [1]")
    assert not wrong_unit(question, "GBP 395 [1]") and not wrong_unit(question, "Price: GBP 395")
    # the form asks for something else, whatever words of cost the question has
    assert not wrong_unit("How much notice do I need to cancel without paying a fee?", "24 hours")
    assert not wrong_unit("How many days do I have to pay?", "30 days")
    assert not wrong_unit("How heavy is the parcel?", "2 kg")
    row = hit(1, "Service: Bitch spay, over 20 kg; Price: GBP 395. Service: Bitch spay, up to 20 kg; Price: GBP 320.")
    a = answer_question(ctx(FakeGenerator("20 [1]"), [row]), question)
    assert a.abstained, a  # not "20 kg [1]"; no sentence of the row holds enough of the question to stand in


SEIZURE = "A seizure counts as an emergency when it is lasting more than 3 minutes: ring us at once."


def test_a_measure_keeps_the_words_that_bound_it_in_its_source():
    assert with_qualifier("3 minutes [1]", [SEIZURE]) == "more than 3 minutes [1]"
    assert with_qualifier("6 months", ["Pets on long-term medication need a check-up at least every 6 months."]) == (
        "at least every 6 months")
    assert with_qualifier("14 characters [2]", ["Passwords must be at least 14 characters long."]) == (
        "at least 14 characters [2]")
    assert with_qualifier("GBP 400 [1]", ["Expect a deposit of up to GBP 400 for an overnight stay."]) == (
        "up to GBP 400 [1]")


def test_a_measure_stays_as_it_is_when_its_source_writes_it_bare_or_bounds_it_differently():
    assert with_qualifier("3 minutes", [SEIZURE, "Rinse the eye for 3 minutes."]) == "3 minutes"  # bare elsewhere
    assert with_qualifier("500", ["about 500 people and over 500 dogs"]) == "500"  # two different bounds
    assert with_qualifier("12 [1]", ["There are 12 free parking spaces."]) == "12 [1]"  # none
    assert with_qualifier("Paris [1]", ["The train goes over Paris."]) == "Paris [1]"  # no measure
    assert with_qualifier("13 minutes", [SEIZURE]) == "13 minutes"  # not written there: "3 minutes" is no "13"
    assert with_qualifier("3 minutes", ["A walkover 3 minutes long."]) == "3 minutes"  # "walkover" is no "over"


def test_the_answer_path_answers_a_copied_measure_with_its_bound():
    seizure = hit(1, SEIZURE, doc="emergency")
    a = answer_question(ctx(FakeGenerator("3 minutes [1]"), [seizure]),
                        "After how long does a seizure count as an emergency?")
    assert a.answer == "more than 3 minutes [1]" and a.citations[0].chunk_id == seizure.chunk_id, a


def test_a_bound_the_question_already_says_is_not_repeated():
    source = ["Ask for a price match within 14 days of purchase."]
    assert with_qualifier("14 days [1]", source, "Within how many days must I ask for a price match?") == "14 days [1]"
    assert with_qualifier("14 days [1]", source, "How long do I have to ask for a price match?") == (
        "within 14 days [1]")
