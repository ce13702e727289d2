"""The fragment rule shared by answering and evaluation (ragft/wellformed.py)."""

from __future__ import annotations

import pytest

from ragft.wellformed import degenerate_reason, is_degenerate


@pytest.mark.parametrize(
    ("answer", "question"),
    [
        ("1 [1]", "How long do Northwind Trail Club members get to return a purchase?"),
        ("Tesla was born ( [1][2]", "When was Tesla born?"),
        ("30 minutes ( [1]", "How long does the battery last?"),
        ("The boiling point ( [1][2]", "What is the boiling point of water?"),
        ("The largest polar bear on record was a (p ) ( ) ( ) ( )", "How large was the largest polar bear?"),
        ("[1]", "Who wrote Hamlet?"),
        ("", "Who wrote Hamlet?"),
        ("( ) ( )", "Who wrote Hamlet?"),
        ("7 [1]", "Who founded the company?"),
        ("12", "Where is the warehouse?"),
        ("42 [2]", "What is the capital of France?"),
        ("The largest bear on record was a", "How large was the largest bear?"),
        ("Located in the north of", "Where is the lake?"),
        ("Tesla was born [1]", "When was Tesla born?"),
        ("The European immigrants' \" [1]", "Who settled the valley?"),
        ("The polar bear's skin color [1]", "What is polar bear's skin color?"),
        # A pronoun is all these add to the question: they point at the answer without naming it.
        ("He won the 1903 Nobel Prize in Physics for discovering radioactivity. [1]",
         "Who won the 1903 Nobel Prize in Physics for discovering radioactivity?"),
        ("She died in 1832. [1]", "Who died in 1832?"),
        ("This traps a layer of air [1]", "What traps a layer of air?"),
        ("He [1]", "Who wrote Hamlet?"),
        # An FAQ's own question, copied: it asks, it does not answer.
        ("How do I care for a down sleeping bag? [1]", "How do I wash a down sleeping bag?"),
    ],
)
def test_fragments_are_degenerate(answer, question):
    assert is_degenerate(answer, question), degenerate_reason(answer, question)


@pytest.mark.parametrize(
    ("answer", "question"),
    [
        ("60 days [1]", "How long do I have to return an item?"),
        ("Yes [1]", "Is the polar bear a marine mammal?"),
        ("No", "Did Tesla live in Paris?"),
        ("12 [1]", "How many Trail Runner shoes are in stock?"),
        ("129.00 [1]", "How much does the Trail Runner cost?"),
        ("1856 [1]", "What year was Tesla born?"),
        ("1856", "When was Tesla born?"),
        ("William Shakespeare [1]", "Who wrote Hamlet?"),
        ("Paris [1]", "What is the capital of France?"),
        ("The polar bear (Ursus maritimus) is a bear [1]", "What is a polar bear?"),
        ("30 minutes", "How long does the battery last?"),
        ("100 degrees Celsius [1][2]", "What is the boiling point of water?"),
        ("It is 42", "What is the answer?"),
        ("The City Boot [1]", "Which is cheaper, the City Boot or the Rain Jacket?"),
        ("Black skin [1]", "What is polar bear's skin color?"),
        ('"Electric Power" [1]', "What was the title of the article?"),
        ("his mother [1]", "Who raised him?"),
        ("He was born in Smiljan [1]", "Where was he born?"),
    ],
)
def test_answers_are_well_formed(answer, question):
    assert degenerate_reason(answer, question) is None


@pytest.mark.parametrize(
    ("question", "kind", "offered", "not_offered"),
    [
        ("When did Lincoln begin his political career?", "time", "in 1832, at age 23", "at age 23"),
        ("When is my cat's last meal before surgery?", "time", "no food after 20:00 on the evening before",
         "no food on the evening before"),
        ("In what year was the Principia published?", "time", "It was published in July", "by Newton"),
        ("How many species of elephants are there?", "count", "three species", "African species"),
        ("How old was Coulomb when he died?", "count", "70 years", "old"),
        ("Who got Seward elected to the senate?", "name", "Weed got Seward elected", "He got Seward elected"),
        ("Where was Volta born?", "place", "in Como", "in a small town"),
    ],
)
def test_the_kind_of_answer_follows_the_question_form(question, kind, offered, not_offered):
    from ragft.wellformed import answer_kind, offers_kind

    assert answer_kind(question) == kind
    assert offers_kind(offered, question)
    assert not offers_kind(not_offered, question)


def test_questions_whose_form_names_no_kind_accept_any_text():
    from ragft.wellformed import answer_kind, offers_kind

    assert answer_kind("What is the national currency of Liechtenstein?") is None
    assert offers_kind("the Swiss franc", "What is the national currency of Liechtenstein?")


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("How long do I have to return an item?", "do I have to return an item"),
        ("What type of tools do biologists use to capture wolves?", "tools do biologists use to capture wolves"),
        ("In what year did Henri Becquerel die?", "In did Henri Becquerel die"),
        ("Which kinds of beetle eat potatoes?", "beetle eat potatoes"),
        ("What colour is a polar bear's skin?", "is a polar bear's skin"),
        ("What is the type specimen of the genus?", "What is the type specimen of the genus"),  # topic, not form
        ("How long do refunds take?", "do refunds"),  # the verb of the duration form
        ("How much time does the repair take?", "does the repair"),
        ("How much does the Trail Runner cost?", "does the Trail Runner"),  # the verb of the price form
        ("Who took the photo?", "Who took the photo"),  # "took" asks about the photo: kept
        ("How many photos did he take?", "photos did he take"),  # not a duration: kept
    ],
)
def test_the_asked_topic_drops_the_words_that_name_the_kind_of_answer(question, topic):
    from ragft.wellformed import asked_topic

    assert " ".join(asked_topic(question).replace("?", " ").split()) == topic


def test_a_sentence_answering_a_what_type_question_need_not_repeat_type():
    from ragft.answer import fallback_sentence
    from ragft.types import Hit

    item = Hit(chunk_id="c1", doc_id="d1", source="wolves.md", score=0.5, text=(
        "Biologists may also trap wolves for research purposes. Darting and foot hold traps are the tools of choice "
        "for biologists who tag wolves."))
    got = fallback_sentence("What type of tools do biologists use to capture wolves for tagging?", [item])
    assert got is not None and got[0].startswith("Darting and foot hold traps")


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("When did Picasso make his first trip to Paris?", [{"picasso"}, {"pari"}]),  # folded as citations.words
        ("What is Northern California's most widely circulated newspaper", [{"northern", "california"}]),
        ("What did Charles-Augustin de Coulomb give engineering?", [{"charle", "augustin", "coulomb"}]),
        ("Who represented the Continental Congress in Europe?", [{"continental", "congress"}, {"europe"}]),
        ("Is Paris, France big?", [{"pari"}, {"france"}]),  # a comma ends a name
        ("How long do I have to return an item?", []),  # "I" names nothing; the first word is no name
        ("Do the ants eat plants, meats, or both?", []),
    ],
)
def test_named_phrases_are_the_runs_of_capitalised_words_after_the_first(question, names):
    from ragft.wellformed import named_phrases

    assert named_phrases(question) == names


def test_a_fallback_sentence_comes_from_text_that_names_what_the_question_names():
    from ragft.answer import fallback_sentence
    from ragft.types import Hit

    wilson = Hit(chunk_id="c1", doc_id="d1", source="wilson.md", score=0.6, text=(
        "He spent six months at Paris for the 1919 Paris Peace Conference, his first trip to Europe."))
    # Most of the question's words are there, but not the name it is about: no fallback (the question abstains).
    assert fallback_sentence("When did Picasso make his first trip to Paris?", [wilson]) is None
    picasso = Hit(chunk_id="c2", doc_id="d2", source="picasso.md", score=0.5, text=(
        "Picasso grew up in Barcelona. In 1900 he made his first trip to Paris, then the art capital of Europe."))
    got = fallback_sentence("When did Picasso make his first trip to Paris?", [wilson, picasso])
    assert got is not None and got[0].startswith("In 1900") and got[1].chunk_id == "c2"
    # One word of a name names it: "Coulomb" for "Charles-Augustin de Coulomb".
    coulomb = Hit(chunk_id="c3", doc_id="d3", source="coulomb.md", score=0.5, text=(
        "Coulomb is remembered in geotechnical engineering for his retaining wall design."))
    got = fallback_sentence("What is Charles-Augustin de Coulomb remembered for in geotechnical engineering?", [coulomb])
    assert got is not None and got[1].chunk_id == "c3"


def test_the_day_of_a_date_is_no_count():
    from ragft.wellformed import day_of_a_date

    leave = "Up to 5 unused days can be carried over to the next year; carried-over days expire on 31 March."
    assert day_of_a_date("31", [leave])
    assert day_of_a_date("4", ["Independence Day falls on the 4th of July."])
    assert day_of_a_date("31", ["It closed on March 31st, 1990."]) and day_of_a_date("12", ["from 12 Mar. 2020"])
    assert not day_of_a_date("5", [leave])  # a count
    assert not day_of_a_date("31", ["It expires on 31 March and lasts 31 days."])  # also written as a count
    assert not day_of_a_date("5", ["Up to 5 may be kept."])  # "may" the verb, not the month
    assert not day_of_a_date("1.5", [leave]) and not day_of_a_date("45", ["45 March"])  # not a day number
    assert not day_of_a_date("31", ["nothing here"])


def test_a_copied_day_of_a_date_does_not_answer_how_many():
    from ragft.answer import answer_question
    from tests.fakes import FakeGenerator
    from tests.test_answer import ctx, hit

    leave = hit(1, "Up to 5 unused days can be carried over to the next year; carried-over days expire on 31 March.",
                doc="leave")
    a = answer_question(ctx(FakeGenerator("31 [1]"), [leave]), "How many unused leave days can be carried over?")
    assert "31 [1]" != a.answer and "5 unused days" in a.answer, a  # the sentence with the count, not "31"
    a = answer_question(ctx(FakeGenerator("5 [1]"), [leave]), "How many unused leave days can be carried over?")
    assert a.answer == "Up to 5 [1]", a  # with the bound its source writes (measures.with_qualifier)


def test_what_time_asks_for_a_time_of_day():
    from ragft.wellformed import answer_kind, offers_kind

    question = "By what time must I report sickness?"
    assert answer_kind(question) == "clock" and answer_kind("What time does the store open?") == "clock"
    assert answer_kind("What time period does the report cover?") is None
    for said in ("before 9:00 on the first day", "2 pm", "10 a.m. sharp", "at noon"):
        assert offers_kind(said, question), said
    for said in ("within 24 hours", "12.50 EUR", "version 1.25.3", "2"):
        assert not offers_kind(said, question), said


def test_a_copy_that_is_no_time_of_day_does_not_answer_what_time():
    from ragft.answer import answer_question
    from tests.fakes import FakeGenerator
    from tests.test_answer import ctx, hit

    security = hit(1, "Security incidents must be reported to security@example.com within 24 hours.", doc="sec")
    sick = hit(2, "Report sickness to your manager before 9:00 on the first day of absence.", doc="leave")
    a = answer_question(ctx(FakeGenerator("24 hours [1]"), [security, sick]), "By what time must I report sickness?")
    assert "9:00" in a.answer and a.citations[0].doc_id == "leave", a
    dispatch = hit(1, "Orders placed before 2 pm on a business day leave our warehouse the same day.", doc="ship")
    a = answer_question(ctx(FakeGenerator("2 [1]"), [dispatch]), "By what time must I order for same-day dispatch?")
    assert a.answer == "2 pm [1]", a  # the bare "2" is a time of day as its sentence writes it
    # and the fallback never answers "what time" with a sentence that gives no time of day
    care = hit(1, "Dogs must be kept on the lead for 10 days after the operation of your dog.", doc="care")
    a = answer_question(ctx(FakeGenerator("( [1]"), [care]), "What time should I drop my dog off for the operation?")
    assert a.abstained, a
    drop = hit(1, "Drop your dog off for the operation between 8:00 and 8:45.", doc="care")
    a = answer_question(ctx(FakeGenerator("( [1]"), [drop]), "What time should I drop my dog off for the operation?")
    assert "8:00" in a.answer, a
