"""Tests for pipeline.relation: figures, names and polarity that the embedding does not weigh."""

import pytest

from pipeline.relation import (
    DIFFERENT,
    DISAGREES,
    SAME,
    figures,
    names,
    relation,
    times,
    titled_people,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "Dock workers at the port of Ferrance voted to accept a pay rise.",
            "Dock workers at the port of Brennmouth walked out over pay.",
        ),
        (
            "This was stated by NATO chief Jens Stoltenberg in Tokyo.",
            "This was stated by Kremlin aide Yuri Ushakov in Moscow.",
        ),
        (
            "President Biden said the sanctions would stay.",
            "President Putin said the sanctions would stay.",
        ),
        # The seed pages: one organisation, two of its heads (a false link before).
        (
            "This was stated by NATO Secretary General Jens Stoltenberg in an interview with "
            "Kyodo News, Censor.NET informs with reference to Ukrinform.",
            "NATO Secretary General Mark Rutte, Censor.NET reports with reference to Ukrinform.",
        ),
    ],
)
def test_sentences_naming_other_people_or_places_are_different_claims(a, b):
    assert relation(a, b) == DIFFERENT


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "The Central Bank of Ostria raised its rate to 5.25 percent.",
            "Ostria's central bank kept its rate at 4.75 percent.",
        ),
        ("Turnout was 61 percent, the lowest since independence.", "Turnout was 48 percent."),
        ("A planned 48-hour strike has been called off.", "The union called a two-day strike."),
        ("The blast was heard at 3 a.m.", "The blast was heard at 5:40 in the morning."),
        (
            "The court on Thursday struck down the detention law.",
            "The court on Tuesday upheld the detention law.",
        ),
        (
            "The court found the law violated the right to liberty.",
            "The court found the law did not violate the right to liberty.",
        ),
        # Irregular verbs: "sent" is "send" (found by a fresh-user trial).
        ("The army sent troops to the border.", "The army did not send troops to the border."),
        ("The UN said it would send a team.", "The UN did not say it would send a team."),
        # One count differs though another is shared: 14 or 16 people (a fresh-user trial).
        (
            "Fourteen people were treated in hospital, three of them members of the crew.",
            "Sixteen people, including three crew members, were taken to hospital.",
        ),
        ("The fire killed 5 people and injured 12.", "The fire killed 7 people and injured 12."),
    ],
)
def test_the_same_claim_with_other_figures_or_the_opposite_polarity_disagrees(a, b):
    assert relation(a, b) == DISAGREES


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # Paraphrase turns negation over: "no danger" is "safe".
        (
            "There is no danger to the drinking water in Marenburg, the minister said.",
            "Drinking water in Marenburg is safe, the minister said.",
        ),
        # Transliterations of one name, a number in words and in digits, thousands separators.
        ("Seven people died in Kyiv, officials said.", "7 people were killed in Kiev."),
        ("The study involved 2,400 volunteers.", "Some 2400 volunteers took part."),
        # The day of a date is not a figure of the claim.
        (
            "It was signed by five partners on 8 November.",
            "Five partners joined the statement on Friday.",
        ),
        # A quotation's first word and a title are no names.
        (
            '"We will not retreat from the eastern front," Zelensky said.',
            'Zelensky said: "We will not retreat from the eastern front."',
        ),
        # An acronym and its expansion are one name.
        ("The UN said aid convoys were blocked.", "The United Nations said convoys were blocked."),
        (
            "NATO allies condemned the deployment.",
            "Allies of the North Atlantic Treaty Organization condemned the deployment.",
        ),
        # A figure in words, in digits, with a multiplier or with a separator.
        ("Three thousand people fled the city.", "Some 3,000 people fled the city."),
        ("Twenty-five soldiers were wounded.", "25 soldiers were wounded."),
        ("The plant will power 1.5 million homes.", "The plant will power 1,500,000 homes."),
        ("Two dozen missiles were launched.", "24 missiles were launched."),
        ("The talks began at 10:30.", "The talks began at 10.30 a.m."),
        ("Polls closed at 8 p.m.", "Polls closed at 20:00."),
        # An order of magnitude is no figure; a time is compared only with a time.
        ("Thousands of people fled the city.", "About 4,000 people fled the city."),
        (
            "The dam burst shortly after 3 a.m. on Tuesday.",
            "The dam burst on Tuesday and flooded some 200 houses.",
        ),
        # One side gives a count the other leaves out: no other count of the same thing.
        (
            "Fourteen people, including three crew members, were taken to hospital.",
            "Fourteen people were hospitalised.",
        ),
        ("The fire killed 5 people and destroyed 30 homes.", "Five people died in the fire."),
        # A span of time in other units is no other count (the paraphrase gold's ceasefire).
        (
            "They agreed to a 30-day ceasefire after three days of talks.",
            "They signed up to a one-month ceasefire after talks lasting three days.",
        ),
        # One side names no one: nothing to compare.
        (
            "Governor Lena Marsh said inflation was too high.",
            "The governor said inflation was too high.",
        ),
    ],
)
def test_paraphrases_of_one_statement_are_the_same(a, b):
    assert relation(a, b) == SAME


def test_names_skip_the_first_word_weekdays_and_months_and_figures_read_number_words():
    assert names("Officials in Kyiv said on Monday that NATO's envoy met Ruslan Ivanov.") == {
        "kyiv", "nato", "ruslan", "ivanov",
    }  # fmt: skip
    assert figures("Twelve of the 1,500 troops left on 3 March; seven stayed two-day.") == {
        "12", "1500", "7", "2",
    }  # fmt: skip
    assert figures("No one of them left on November 8, 2024 at 9 a.m.; one died.") == {
        "2024", "1",
    }  # fmt: skip
    assert figures("several thousand troops, dozens of drones, a 9-billion-euro plant") == {
        "9000000000",
    }  # fmt: skip
    assert times("at 3 a.m., 10.30 pm, 12 p.m. and 22:05") == {"3.00", "22.30", "12.00", "22.05"}


def test_titled_people_are_the_names_after_a_title():
    assert titled_people("NATO Secretary General Jens Stoltenberg said so.") == {
        "jens", "stoltenberg",
    }  # fmt: skip
    assert titled_people("The Secretary General said so in Tokyo.") == set()
