from pipeline.spans import divergent_ranges, divergent_spans


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
