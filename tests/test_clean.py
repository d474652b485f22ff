"""Tests for pipeline.clean: noise lines go, every real sentence stays."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.clean import Cleaned, clean_text

REAL_LINES = [
    "Москва перебросила 7 тысяч солдат КНДР к украинской границе!",
    "What was the background of the decision that the council took on Friday?",
    "How many? Nobody knows.",
    "He said 12 people died.",
    "Home is where the heart is.",
    "NATO is confident that DPRK provides significant military support to Russia - Stoltenberg",
    "Росія та КНДР підписали угоду, яка передбачає допомогу в разі агресії",
    "Share prices fell 12 percent on Monday.",
    "Like many others, he left Kyiv in 2022.",
    "Read also the statement of the Alliance.",
    "8 ноября Путин заявил о переговорах.",
    "Угоду підписали 19 червня 2024 р. у Пхеньяні.",
    "Russia / Ukraine talks resume",
    "99% of weapons were supplied by NATO countries.",
    "«Мы призываем все страны не оказывать помощи», — говорится в заявлении.",
]


@pytest.mark.parametrize(
    ("prefix", "removed"),
    [
        ("000", ()),
        ("001", ()),
        ("002", ("3152 visitors online", "1\u2009379 10")),
        ("003", ("Москва перебросила 7 тысяч солдат КНДР к украинской границе!", "00:49")),
        ("004", ("date 2024-10-16", "What was the background?")),
    ],
)
def test_seed_pages_lose_exactly_their_noise_lines(seed_text, prefix, removed):
    page = seed_text(prefix)

    cleaned = clean_text(page)

    assert cleaned.removed == removed
    # Page 004 opens with a scraper's "date 2024-10-16" before its first sentence.
    page = page.replace(" date 2024-10-16 ", "", 1)
    kept = [line for line in page.splitlines() if line not in removed]
    assert cleaned.text.splitlines() == kept


@pytest.mark.parametrize(
    "teaser", ["Moscow moves 7,000 DPRK soldiers to the border!", "Sirens again in Kyiv!"]
)
def test_a_related_articles_headline_at_the_pages_end_is_a_teaser(teaser):
    body = "The council met on Friday.\nIt condemned the decision.\n"
    cleaned = clean_text(f"{body}{teaser}\n00:49\n")
    assert cleaned.text == body
    assert cleaned.removed == (teaser, "00:49")


@pytest.mark.parametrize(
    "text",
    [
        "Russia fires missiles at Ukraine's power grid\n",  # a brief with no full stop
        "Title of the piece\nThe council met.\nThe vote is on Monday\n",  # its full stop lost
        "The council met.\nWe will win!\n",  # too little body before it
        'The council met.\nIt voted.\n"We will win!"\n',  # a quotation
        "The council met.\nIt voted.\nThe ministers said the vote went well and they hoped "
        "the next one would go as well as this one\n",  # too long for a headline
    ],
)
def test_an_articles_own_last_line_is_not_a_teaser(text):
    assert clean_text(text).text == text


@pytest.mark.parametrize(
    "line", ["What was the background?", "Что известно?", "Що відомо на цю хвилину?", "Why now?"]
)
def test_a_short_question_on_its_own_line_is_a_subheading(line):
    assert clean_text(f"{line}\n").removed == (line,)


@pytest.mark.parametrize(
    ("line", "prefix"),
    [
        (" date 2024-10-16 NATO has no information about it.", "date 2024-10-16"),
        ("Published: 2024-11-08 14:05 The council met.", "Published: 2024-11-08 14:05"),
        ("Published: 2024-10-16T14:05:00Z The council met.", "Published: 2024-10-16T14:05:00Z"),
        ("updated 16.10.2024, 14:05 UTC The council met.", "updated 16.10.2024, 14:05 UTC"),
        ("Опубликовано: 16.10.2024 Совет собрался.", "Опубликовано: 16.10.2024"),
    ],
)
def test_a_scrapers_date_label_before_the_first_sentence_is_removed(line, prefix):
    cleaned = clean_text(line)
    assert cleaned.removed == (prefix,)
    assert cleaned.text == line.strip()[len(prefix) :].lstrip()


@pytest.mark.parametrize("line", ["date 2024-10-16", "  Published: 2024-10-16T14:05Z  "])
def test_a_scrapers_date_label_alone_on_its_line_is_removed(line):
    cleaned = clean_text(f"The council met.\n{line}\nIt voted.\n")
    assert cleaned.text == "The council met.\nIt voted.\n"
    assert cleaned.removed == (line,)


def test_a_sentence_opening_with_the_word_date_is_kept():
    text = "Date 2024 was chosen for the vote.\nDated 16.10.2024 letters arrived.\n"
    assert clean_text(text).text == text


def test_seed_page_002_keeps_its_paragraph_breaks(seed_text):
    cleaned = clean_text(seed_text("002"))

    assert cleaned.text.startswith("\nNATO is confident that DPRK provides")
    assert "against Ukraine.\n\nThis was stated by" in cleaned.text


@pytest.mark.parametrize(
    "line",
    ["3152 visitors online", "1 205 читателей онлайн", "Сейчас на сайте: 120", "Online: 57"],
)
def test_visitor_counters_are_removed(line):
    assert clean_text(line).removed == (line,)


@pytest.mark.parametrize("line", ["1 379 10", "12", "👍 34  💬 5", "1\u00a0205 · 17"])
def test_bare_numbers_and_count_rows_are_removed(line):
    assert clean_text(line).removed == (line,)


@pytest.mark.parametrize(
    "line",
    [
        "00:49",
        "14:05:33",
        "08.11.2024",
        "2024-11-08 14:05",
        "8 ноября 2024, 14:05",
        "November 8, 2024",
        "8 листопада 2024 р.",
        "Пятница, 8 ноября 2024",
        "14:05, 8 November",
    ],
)
def test_bare_dates_and_times_are_removed(line):
    assert clean_text(line).removed == (line,)


@pytest.mark.parametrize(
    "line",
    [
        "Share",
        "Like 12",
        "Поделиться",
        "Поширити",
        "Tweet",
        "Facebook Twitter Telegram",
        "💬 Comments 5",
    ],
)
def test_share_and_like_widgets_are_removed(line):
    assert clean_text(line).removed == (line,)


@pytest.mark.parametrize(
    "line",
    [
        "Home > World > Europe",
        "Главная / Новости / Мир",
        "Головна » Новини",
        "World › Europe › Ukraine",
    ],
)
def test_navigation_crumbs_are_removed(line):
    assert clean_text(line).removed == (line,)


@pytest.mark.parametrize("line", ["Read also", "Читайте также:", "Читайте також", "READ MORE »"])
def test_read_also_labels_are_removed(line):
    assert clean_text(line).removed == (line,)


@pytest.mark.parametrize("line", REAL_LINES)
def test_real_sentences_are_kept_in_english_russian_and_ukrainian(line):
    assert clean_text(line) == Cleaned(text=line, removed=())


def test_kept_lines_are_byte_identical_and_in_order():
    text = "  Заголовок без точки  \r\n00:49\r\n\r\nHe said 12 people died.\tStill here.\nShare\n"

    cleaned = clean_text(text)

    assert cleaned.text == "  Заголовок без точки  \r\n\r\nHe said 12 people died.\tStill here.\n"
    assert cleaned.removed == ("00:49", "Share")


def test_noise_inside_a_sentence_line_is_not_touched():
    line = "Share 12 | 00:49 The Council met on 8.11.2024 in Brussels."

    assert clean_text(line).text == line


_NOISE_LINES = st.one_of(
    st.sampled_from(["Share", "Поделиться", "Головна » Новини", "Читайте також", "Tweet"]),
    st.integers(0, 99_999).map(lambda n: f"{n} visitors online"),
    st.integers(0, 9_999).map(lambda n: f"Сейчас на сайте: {n}"),
    st.integers(0, 9_999).map(lambda n: f"Like {n}"),
    st.lists(st.integers(0, 9_999), min_size=1, max_size=4).map(lambda ns: " ".join(map(str, ns))),
    st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]:02d}:{t[1]:02d}"),
    st.tuples(st.integers(1, 28), st.integers(1, 12), st.integers(1990, 2030)).map(
        lambda t: f"{t[0]:02d}.{t[1]:02d}.{t[2]}"
    ),
)
_LINES = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from(REAL_LINES).map(lambda s: (s, False)),
            _NOISE_LINES.map(lambda s: (s, True)),
            st.just(("", False)),
        ),
        st.sampled_from(["", " ", "  ", "\t"]),
    ),
    max_size=30,
)


def _stripped(lines) -> Counter[str]:
    return Counter(line.strip() for line in lines if line.strip())


@given(_LINES)
def test_cleaning_only_ever_moves_whole_noise_lines_out(lines):
    # The page ends with a body line, so no real line is a trailing teaser (tested apart).
    lines = [*lines, (("It ended there.", False), "")]
    text = "\n".join(pad + line + pad for (line, _), pad in lines)

    cleaned = clean_text(text)

    kept = _stripped(cleaned.text.splitlines())
    assert kept + _stripped(cleaned.removed) == _stripped(text.splitlines())
    assert [line.strip() for line in cleaned.removed] == [
        line for (line, noise), _ in lines if noise
    ]
    real = _stripped(line for (line, noise), _ in lines if not noise)
    assert kept == real
