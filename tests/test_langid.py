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


def test_label_sentences_sets_lang_and_keeps_everything_else():
    sentence = Sentence("a.txt", "a", 3, "Вода в річці безпечна.")
    (labelled,) = label_sentences([sentence], LANGS)
    assert labelled.lang == "uk"
    assert (labelled.article_id, labelled.position, labelled.text) == ("a.txt", 3, sentence.text)
