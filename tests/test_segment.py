"""Tests for pipeline.segment: sentence boundaries in English, Russian and Ukrainian news text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import segmentation
from pipeline.segment import split_lines, split_sentences


def _collapsed(text: str) -> str:
    return " ".join(text.split())


def test_russian_quote_with_attribution_dash_is_one_sentence():
    text = "«Мы призываем все страны не оказывать помощи агрессии», — говорится в заявлении."

    assert split_sentences(text) == [text]


def test_english_quote_with_attribution_is_one_sentence():
    text = (
        '"Allies will stand with Ukraine for as long as it takes to prevail," the ambassador said.'
    )

    assert split_sentences(text) == [text]


def test_exclamation_in_quote_before_lowercase_attribution_does_not_split():
    assert split_sentences("«Стоп!» — крикнул он. Потом ушёл.") == [
        "«Стоп!» — крикнул он.",
        "Потом ушёл.",
    ]


def test_dash_before_capital_starts_a_new_sentence():
    assert split_sentences("Он ушёл. — Куда? — спросила она.") == [
        "Он ушёл.",
        "— Куда? — спросила она.",
    ]


def test_initials_do_not_split():
    text = "В. В. Путин и В.Путин приехали. J. Smith met them. Ю. Свириденко відповіла."

    assert split_sentences(text) == [
        "В. В. Путин и В.Путин приехали.",
        "J. Smith met them.",
        "Ю. Свириденко відповіла.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Mr. Smith and Dr. Jones met Gen. Brown on Nov. 8 in the U.S. capital.",
        "Prof. Lee, Sen. Graham, Rep. Ellis and St. Clair Jr. arrived at 9 a.m. on Oct. 3.",
        "Russia vs. Ukraine, etc. others, e.g. Kyiv, i.e. the capital.",
        "Under Art. 5 and No. 5 of the U.K. law, Ms. Mrs. Maj. Col. Lt. Capt. Gov. Smith Sr. said.",
        "В 2024 г. Минобороны потратило 5 млрд. руб. на ул. Ленина, т.е. в центре, и т. д.",
        "Ген. Иванов, проф. Петров и др. военные, т.н. добровольцы, им. Жукова, см. Стр. 5.",
        "У 2024 р. Міноборони виділило 5 млн. грн. на вул. Хрещатик, ім. Шевченка, див. Рис.",
        "Загалом 7 тис. бійців, у т.ч. Добровольці, та ін. сили, ген. Залужний, 1990-х рр. також.",
        "Суд применил ч. 2 ст. 228 УК, див. стор. 12, Дж. Байден, акад. Сахаров.",
        "Отпуск с 5 окт. по 1 нояб. прошёл, а в 2023 г. Россия потратила 1,6 трлн руб. на это.",
        "Washington, D.C. Mayor Bowser said the U.S. Army and Sgt. Maj. Hill left Mt. Everest.",
    ],
)
def test_abbreviations_ru_uk_en_do_not_split(text):
    assert split_sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "first"),
    [
        (
            "Проект обойдется в 5 млрд руб. Правительство одобрило его.",
            "Проект обойдется в 5 млрд руб.",
        ),
        ("Это было в 1985 г. Сейчас всё иначе.", "Это было в 1985 г."),
        ("Збитки — 2 млн грн. Роботи тривають.", "Збитки — 2 млн грн."),
        ("They met at 5 p.m. The talks lasted an hour.", "They met at 5 p.m."),
        (
            "Ведомство закупило топливо и т. д. Сумма не раскрывается.",
            "Ведомство закупило топливо и т. д.",
        ),
        ("Talks will be held in the U.K. A date is not set.", "Talks will be held in the U.K."),
        ("They opted for Plan B. The talks failed.", "They opted for Plan B."),
        ("Voting is set for 5 Nov. The polls open early.", "Voting is set for 5 Nov."),
        ("Регистрация по 1 нояб. Участие бесплатное.", "Регистрация по 1 нояб."),
    ],
)
def test_a_sentence_that_ends_in_an_abbreviation_is_split_from_the_next(text, first):
    assert split_sentences(text) == [first, text[len(first) + 1 :]]


@pytest.mark.parametrize(
    "dateline",
    [
        "Москва. 8 ноября. INTERFAX.RU - Совет одобрил закон.",
        "МОСКВА, 8 ноя — РИА Новости. Совет одобрил закон.",
        "Київ, 8 листопада. Укрінформ. Уряд ухвалив рішення.",
        "Київ. 8 листопада. УНІАН. Уряд ухвалив рішення.",
        "KYIV, Nov 8 (Reuters) - Ukraine said it struck a refinery.",
        "BRUSSELS, November 8. /TASS/. NATO said the deployment was dangerous.",
        "Москва, 8 ноября 2024 года. ИНТЕРФАКС. Правительство одобрило план.",
        "МОСКВА, 8 ноября 2024 г. — РИА Новости. Правительство одобрило план.",
        "Київ, 8 листопада 2024 року. Укрінформ. Уряд ухвалив рішення.",
    ],
)
def test_an_agency_dateline_of_any_agency_stays_with_the_first_sentence(dateline):
    assert split_sentences(f"{dateline} Second sentence here.") == [
        dateline,
        "Second sentence here.",
    ]


def test_a_short_capitalised_first_sentence_without_a_date_is_not_a_dateline():
    assert split_sentences("Breaking News. The council met.") == [
        "Breaking News.",
        "The council met.",
    ]


@pytest.mark.parametrize("gold", segmentation.GOLDS)
def test_segmentation_gold_is_95_percent_right_in_each_language(gold):
    cases = segmentation.load_cases(gold)
    assert len(cases) >= 100
    wrong = segmentation.wrong_cases(segmentation.splitters()["parallax"], cases)
    by_lang = segmentation.accuracy_by(cases, wrong, lambda case: case.lang)
    assert set(by_lang) == {"all", "en", "ru", "uk"}
    assert min(by_lang.values()) >= 0.95, (by_lang, [case.id for case in wrong])


@pytest.mark.parametrize("gold", segmentation.GOLDS)
@pytest.mark.parametrize("library", ["razdel", "blingfire", "sentencex"])
def test_segmentation_gold_parallax_is_right_more_often_than(library, gold):
    pytest.importorskip(library, reason=f"{library} is in the dev extra; install it to compare")
    cases = segmentation.load_cases(gold)
    splitters = segmentation.splitters()
    ours = len(segmentation.wrong_cases(splitters["parallax"], cases))
    theirs = len(segmentation.wrong_cases(splitters[library], cases))
    assert ours < theirs


def test_no_is_an_abbreviation_only_before_a_number():
    assert split_sentences("Resolution No. 2270 stands. No. We refuse.") == [
        "Resolution No. 2270 stands.",
        "No.",
        "We refuse.",
    ]


def test_decimals_and_numbered_dates_do_not_split():
    text = "The rate rose to 3.5% on 8.11.2024 and fell to 2.9 on 1.12. 2025 will differ."

    assert split_sentences(text) == [
        "The rate rose to 3.5% on 8.11.2024 and fell to 2.9 on 1.12.",
        "2025 will differ.",
    ]


def test_multi_sentence_quotation_splits_into_sentences():
    text = (
        "“Это особенно вопиющий факт. Мы призываем Россию соблюдать свои обязательства», "
        "— говорится в заявлении."
    )

    assert split_sentences(text) == [
        "“Это особенно вопиющий факт.",
        "Мы призываем Россию соблюдать свои обязательства», — говорится в заявлении.",
    ]


def test_ukrainian_low_high_quotes_close_with_the_sentence():
    assert split_sentences("Він сказав: „Так.“ Потім пішов.") == [
        "Він сказав: „Так.“",
        "Потім пішов.",
    ]


def test_terminator_runs_and_ellipses_split_before_a_capital():
    text = "Really?! Nobody knew... Then it came… And it is, … well, over."

    assert split_sentences(text) == [
        "Really?!",
        "Nobody knew...",
        "Then it came…",
        "And it is, … well, over.",
    ]


def test_headline_line_without_period_is_its_own_sentence():
    text = "NATO condemns DPRK deployment – statement\nNATO countries strongly condemn it."

    assert split_sentences(text) == [
        "NATO condemns DPRK deployment – statement",
        "NATO countries strongly condemn it.",
    ]


def test_hard_wrapped_line_is_joined_with_a_space():
    text = "The Council called on all countries\nnot to provide assistance.\nThe end."

    assert split_sentences(text) == [
        "The Council called on all countries not to provide assistance.",
        "The end.",
    ]


def test_blank_line_is_a_boundary_even_before_lowercase():
    assert split_sentences("Rutte said:\n\nlowercase start here") == [
        "Rutte said:",
        "lowercase start here",
    ]


def test_line_ending_in_a_terminator_is_not_joined_to_a_lowercase_line():
    assert split_sentences("It ended.\nbut this is new") == ["It ended.", "but this is new"]


def test_whitespace_inside_sentences_is_collapsed():
    assert split_sentences("  Two\u00a0 spaces\there.   Next\tone.  ") == [
        "Two spaces here.",
        "Next one.",
    ]


def test_split_lines_gives_each_non_empty_line_stripped():
    assert split_lines("  First. Still first.\n\n\tSecond  \n") == ["First. Still first.", "Second"]


def test_seed_page_003_has_one_sentence_per_line_except_two_double_lines(seed_text):
    page = seed_text("003")

    sentences = split_sentences(page)

    # 13 lines of text, two of which hold two quoted sentences, and the "00:49" line that
    # pipeline.clean removes before segmentation.
    assert len(sentences) == 15
    assert sentences[5].endswith("Совета Безопасности ООН.")
    assert sentences[6].startswith("Мы призываем Россию вернуться")
    assert sentences[6].endswith("», — говорится в заявлении.")
    assert sentences[-2] == "Москва перебросила 7 тысяч солдат КНДР к украинской границе!"
    assert " ".join(sentences) == _collapsed(page)


def test_seed_page_004_quote_splits_into_its_four_sentences(seed_text):
    sentences = split_sentences(seed_text("004"))

    start = sentences.index(
        "\"I can't confirm such reports, but obviously they are a cause for concern."
    )
    assert sentences[start : start + 4] == [
        "\"I can't confirm such reports, but obviously they are a cause for concern.",
        "What we do know is that North Korea is helping to fuel Russia's aggressive war against"
        " Ukraine.",
        "We strongly condemn the deepening military cooperation between Russia and North Korea.",
        'But at this stage, we cannot confirm the reports you are referring to."',
    ]


def test_seed_page_000_keeps_the_tass_dateline_with_the_first_sentence(seed_text):
    sentences = split_sentences(seed_text("000"))

    assert sentences[0].startswith(
        "BRUSSELS, November 8. /TASS/. The North Atlantic Council expressed"
    )
    assert sentences[0].endswith("ambassadorial meeting.")
    assert len(sentences) == 10


def test_every_seed_page_segments_without_losing_characters(seeds_dir):
    for path in sorted(seeds_dir.glob("*.txt")):
        page = path.read_text(encoding="utf-8")

        assert " ".join(split_sentences(page)) == _collapsed(page), path.name


# Each entry is one piece of text and the sentences it must split into.
SENTENCE_POOL = [
    ("Mr. Smith met Gen. Jones in the U.S. capital on Monday.",),
    ("NATO Secretary General Mark Rutte said 99% of weapons came from allies.",),
    ('"Allies remain resolute," the ambassador said.',),
    ('"We cannot confirm it.', 'We are concerned," Rutte said.'),
    ("What was the background?",),
    ("The rate rose to 3.5% on 8.11.2024, e.g. in Kyiv.",),
    ("J. Smith arrived at 10 a.m. local time.",),
    ("Really?!", "Nobody expected it..."),
    ("«Мы призываем Россию соблюдать свои обязательства», — говорится в заявлении.",),
    (
        "“Это вопиющий факт.",
        "Мы призываем Россию вернуться к соблюдению резолюций», — говорится в заявлении.",
    ),
    ("В. В. Путин подписал указ в 2024 г. в Москве.",),
    ("Москва перебросила 7 тыс. солдат КНДР к границе!",),
    ("— Это правда? — спросил журналист.",),
    ("Расходы выросли на 5 млрд. руб. и т.д., сообщил Минфин.",),
    ("Угоду підписали 19 червня 2024 р. у Пхеньяні.",),
    ("„Ми не можемо це підтвердити.", "Але ми стурбовані“, — сказав Рутте."),
    ("Виділено 5 млн. грн. на вул. Хрещатик.",),
    ("2270 resolutions were adopted.",),
]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(SENTENCE_POOL), st.sampled_from([" ", "\n", "\n\n", " \n\t", "\u00a0"])
        ),
        max_size=12,
    )
)
def test_pool_sentences_are_recovered_exactly_however_they_are_joined(pieces):
    text = "".join(" ".join(sentences) + separator for sentences, separator in pieces)

    result = split_sentences(text)

    assert result == [sentence for sentences, _ in pieces for sentence in sentences]
    assert " ".join(result) == _collapsed(text)


@given(st.text(st.sampled_from(list("aZяЖ 12.!?…»«“”„\"'()—-/,\n\t"))))
def test_any_text_keeps_every_character_in_stripped_sentences(text):
    result = split_sentences(text)

    assert " ".join(result) == _collapsed(text)
    assert all(sentence and sentence == sentence.strip() for sentence in result)
