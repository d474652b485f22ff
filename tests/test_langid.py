"""Tests for pipeline.langid: per-sentence language on real pages and on the labelled sets."""

import csv
from pathlib import Path

import pytest

from pipeline.clean import clean_text
from pipeline.langid import detect_languages, label_sentences
from pipeline.records import Sentence
from pipeline.segment import split_sentences

LANGS = ("en", "ru", "uk")


def seed_sentences(text: str) -> list[str]:
    return split_sentences(clean_text(text).text)


def test_ukrainian_headline_inside_english_page_is_uk(seed_text):
    sentences = seed_sentences(seed_text("002"))
    codes = dict(zip(sentences, detect_languages(sentences, LANGS), strict=True))
    (headline,) = [s for s in sentences if s.startswith("Росія та КНДР")]
    assert codes[headline] == "uk"
    assert [c for s, c in codes.items() if s != headline] == ["en"] * (len(sentences) - 1)


def test_every_sentence_of_the_russian_page_is_ru(seed_text):
    sentences = seed_sentences(seed_text("003"))
    assert len(sentences) > 10
    assert set(detect_languages(sentences, LANGS)) == {"ru"}


def test_english_pages_are_english_throughout(seed_text):
    for page in ("000", "001", "004"):
        sentences = seed_sentences(seed_text(page))
        assert set(detect_languages(sentences, LANGS)) == {"en"}, page


def test_russian_and_ukrainian_short_sentences_are_told_apart():
    texts = [
        "Вода в реке безопасна.",
        "Вода в річці безпечна.",
        "Мэр призвал не купаться.",
        "Мер закликав не купатися.",
    ]
    assert detect_languages(texts, LANGS) == ["ru", "uk", "ru", "uk"]


def test_other_languages_and_non_text_are_other():
    texts = [
        "Das Wasser im Fluss ist sicher.",
        "河水是安全的。",
        "Le port reste fermé jusqu'à lundi.",
        "1 379 10",
        "...",
    ]
    assert detect_languages(texts, LANGS) == ["other"] * len(texts)


def test_restricting_languages_makes_unlisted_ones_other():
    assert detect_languages(["Вода в реке безопасна.", "The water is safe."], ("en",)) == [
        "other",
        "en",
    ]


def test_ukrainian_without_ukrainian_letters_is_other_where_only_russian_is_configured():
    """Ukrainian is weighed whatever the config lists: else a Ukrainian sentence without ї, є
    or ґ read as Russian and went to the Russian model (fresh-user trial)."""
    texts = ["Ворог атакував Одесу дронами.", "Уряд ухвалив рішення про евакуацію мешканців."]
    assert detect_languages(texts, ("en", "ru"), ["ru", "ru"]) == ["other", "other"]
    assert detect_languages(texts, LANGS, ["ru", "ru"]) == ["uk", "uk"]


def test_label_sentences_sets_lang_and_keeps_everything_else():
    sentence = Sentence("a.txt", "a", 3, "Вода в річці безпечна.")
    (labelled,) = label_sentences([sentence], LANGS)
    assert labelled.lang == "uk"
    assert (labelled.article_id, labelled.position, labelled.text) == ("a.txt", 3, sentence.text)


# The labelled sets (issue #16): short news sentences in en, ru, uk and their look-alikes
# (Belarusian, Bulgarian, Serbian, Macedonian; Polish, Czech...), each with the language of
# the article it sits in. langid.tsv was written first and the rules were developed on it;
# langid_heldout.tsv was written afterwards by another author and not looked at before the
# rules were fixed.
GOLD_SETS = ("langid.tsv", "langid_heldout.tsv")


def read_gold(name: str) -> list[dict[str, str]]:
    path = Path(__file__).parent / "gold" / name
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))


def labels_of(rows: list[dict[str, str]]) -> list[str]:
    articles = [row["article_lang"] if row["article_lang"] in LANGS else "other" for row in rows]
    return detect_languages([row["text"] for row in rows], LANGS, articles)


@pytest.mark.parametrize("name", GOLD_SETS)
def test_labelled_set_is_99_percent_right_and_no_look_alike_reaches_a_model(name):
    rows = read_gold(name)
    assert len(rows) >= 230
    got = labels_of(rows)
    for lang in LANGS:
        pairs = [(row, code) for row, code in zip(rows, got, strict=True) if row["lang"] == lang]
        wrong = [row["text"] for row, code in pairs if code != lang]
        assert len(wrong) <= 0.01 * len(pairs), (lang, wrong)
    sent_to_a_model = [
        (row["lang"], code, row["text"])
        for row, code in zip(rows, got, strict=True)
        if row["lang"] not in LANGS and code != "other"
    ]
    assert sent_to_a_model == []


def test_short_english_sentences_full_of_slavic_names_are_english_in_an_english_article():
    names = [row for row in read_gold("langid.tsv") if row["kind"] == "names"]
    texts = [row["text"] for row in names]
    assert "Kuleba met Blinken in Brussels." in texts
    # On its own such a line reads as Dutch or Slovak; the article it sits in is English.
    alone = detect_languages(texts, LANGS)
    assert alone.count("other") >= 10
    article = [Sentence("news.txt", "wire", i, text) for i, text in enumerate(texts)]
    assert {s.lang for s in label_sentences(article, LANGS)} == {"en"}


def test_a_link_does_not_decide_the_language():
    texts = [
        "Подписывайтесь на наш канал: https://t.me/example_news",
        "Пишіть нам: news@example.ua #новини @example_ua",
        "Full statement: https://example.com/statement",
    ]
    assert detect_languages(texts, LANGS) == ["ru", "uk", "en"]
    assert detect_languages(["https://t.me/example_news @example #news"], LANGS) == ["other"]


@pytest.mark.parametrize(
    "text",
    [
        "Урад заявіў пра новыя меры.",  # Belarusian
        "Правителството одобри проектобюджета за следващата година.",  # Bulgarian
        "Влада Србије усвојила је нови буџет.",  # Serbian
        "Во Скопје денеска ќе врне дожд.",  # Macedonian
    ],
)
def test_a_cyrillic_language_outside_the_configured_ones_is_other(text):
    assert detect_languages([text], LANGS) == ["other"]
    article = [Sentence("a.txt", "a", 0, text), Sentence("a.txt", "a", 1, text)]
    assert [s.lang for s in label_sentences(article, LANGS)] == ["other", "other"]


def test_a_letter_the_language_lacks_rules_it_out():
    # lingua alone says Macedonian (0.88): "ї" is Ukrainian only.
    assert detect_languages(["Ми вистоїмо."], LANGS, ["en"]) == ["uk"]


def test_a_russian_line_keeps_its_language_inside_a_ukrainian_article():
    article = [
        Sentence("a.txt", "a", 0, "Уряд ухвалив нову програму підтримки аграріїв."),
        Sentence("a.txt", "a", 1, "Кошти виділять з резервного фонду до кінця року."),
        Sentence("a.txt", "a", 2, "«Мы не будем вести переговоры под давлением», — сказал он."),
        Sentence("a.txt", "a", 3, "Суд продовжив арешт."),
    ]
    assert [s.lang for s in label_sentences(article, LANGS)] == ["uk", "uk", "ru", "uk"]


def test_a_quoted_phrase_in_another_script_leaves_the_sentence_english():
    texts = ['Protesters chanted "Нет войне" outside the embassy.']
    assert detect_languages(texts, LANGS, ["en"]) == ["en"]


@pytest.mark.parametrize(("reply", "article"), [("Да.", "ru"), ("Нет.", "ru"), ("Так.", "uk")])
def test_a_one_word_reply_takes_its_articles_language(reply, article):
    # lingua gives such a word no confidence at all; its letters fit the article's language.
    assert detect_languages([reply], LANGS, [article]) == [article]
    assert detect_languages([reply], LANGS) == ["other"]
