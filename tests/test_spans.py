import difflib

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.spans import _runs, _words, divergent_ranges, divergent_spans


def test_an_editorial_aside_is_the_only_divergent_span():
    a = 'NATO said "the troops constitute a dangerous escalation," despite having no evidence.'
    b = 'NATO said "the troops constitute a dangerous escalation."'
    assert divergent_spans(a, b) == (["despite having no evidence"], [])


def test_reordered_words_have_counterparts():
    only_a, only_b = divergent_spans(
        "The port authority closed the river on Friday.",
        "On Friday the river was closed by the port authority.",
    )
    assert only_a == [] and only_b == []


def test_plural_and_possessive_forms_count_as_the_same_word():
    assert divergent_spans("Russia's troops arrived.", "The troop of Russia arrived.") == ([], [])


def test_both_sides_report_what_they_add():
    only_a, only_b = divergent_spans(
        "Fourteen people were hospitalised with burns.",
        "Fourteen people were hospitalised, among them three crew members.",
    )
    assert only_a == ["burns"]
    assert only_b == ["among them three crew members"]


def test_function_words_alone_are_not_a_span():
    assert divergent_spans("The water is safe.", "Water is safe to drink.")[0] == []


def test_a_span_holding_punctuation_is_given_as_it_stands_in_the_text():
    text = "Reiner said on Friday, in Marenburg, that water was safe."
    ((start, end),) = divergent_ranges(text, "Reiner said that water was safe.")[0]
    assert text[start:end] == "Friday, in Marenburg"
    assert divergent_spans(text, "Reiner said that water was safe.")[0] == ["Friday, in Marenburg"]


def by_the_definition(text_a: str, text_b: str) -> tuple[list, list]:
    """The module docstring's rule, with the common subsequence always computed: a word has a
    counterpart when it is in the subsequence, or is a content word the other side has."""
    words_a, normal_a = _words(text_a)
    words_b, normal_b = _words(text_b)
    matcher = difflib.SequenceMatcher(None, normal_a, normal_b, autojunk=False)
    matched_a, matched_b = set(), set()
    for block in matcher.get_matching_blocks():
        matched_a.update(range(block.a, block.a + block.size))
        matched_b.update(range(block.b, block.b + block.size))
    return (
        _runs(words_a, normal_a, matched_a, set(normal_b)),
        _runs(words_b, normal_b, matched_b, set(normal_a)),
    )


# Function words in plenty, so that runs meet them on both sides.
_VOCABULARY = "the a of to in and on was troops troop sent river closed mayor said 14".split()


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(st.sampled_from(_VOCABULARY), max_size=14),
    st.lists(st.sampled_from(_VOCABULARY), max_size=14),
)
def test_pairs_done_without_the_common_subsequence_get_what_the_definition_gives(a, b):
    text_a, text_b = " ".join(a), " ".join(b)
    assert divergent_ranges(text_a, text_b) == by_the_definition(text_a, text_b)
