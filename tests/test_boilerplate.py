"""Cross-page boilerplate (pipeline/boilerplate.py): what one source repeats on its pages."""

import random
import shutil

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.boilerplate import mark_in_corpus
from pipeline.config import BoilerplateConfig, load_config
from pipeline.corpus import Corpus
from pipeline.records import Sentence
from pipeline.run import run


def sentences(source: str, articles: dict[str, list[str]]) -> list[Sentence]:
    return [
        Sentence(article, source, position, text, "en", text)
        for article, texts in articles.items()
        for position, text in enumerate(texts)
    ]


def mark_boilerplate(found: list[Sentence], config: BoilerplateConfig) -> list[Sentence]:
    """Marks counted over `found` alone, as a run without accumulate mode counts them."""
    corpus = Corpus(None)
    try:
        sources = {s.article_id: s.source for s in found}
        return mark_in_corpus(found, sources, corpus, config)[0]
    finally:
        corpus.close()


def marked(found: list[Sentence]) -> list[tuple[str, str]]:
    return [(s.article_id, s.text) for s in found if s.boilerplate]


def test_a_line_a_source_prints_on_its_pages_is_boilerplate_and_a_sign_off_too():
    found = mark_boilerplate(
        sentences("herald", {
            "a": ["The dam burst on Tuesday.", "Read also: floods in the north",
                  "Rescuers worked all night, Herald reports with reference to Ukrinform."],
            "b": ["Schools reopened on Friday.", "READ ALSO - floods in the north!",
                  "The mayor thanked them, Herald informs with reference to Ukrinform."],
            "c": ["Insurers counted the damage.", "Farmers fear for the harvest."],
        }),
        BoilerplateConfig(),
    )  # fmt: skip
    assert marked(found) == [
        ("a", "Read also: floods in the north"),
        ("a", "Rescuers worked all night, Herald reports with reference to Ukrinform."),
        ("b", "READ ALSO - floods in the north!"),
        ("b", "The mayor thanked them, Herald informs with reference to Ukrinform."),
    ]


def test_content_is_not_boilerplate():
    found = mark_boilerplate(
        sentences("herald", {
            # The same attribution naming no one, in both articles: content.
            "a": ["Two people died, the defence ministry said.", "The dam burst."],
            "b": ["Ten were hurt, the defence ministry said.", "Schools reopened."],
        })
        # Another outlet printing the same sentence: a shared statement, not boilerplate.
        + sentences("post", {"c": ["The dam burst."]})
        # A background line one outlet repeats in 2 of its 5 articles (under half of them).
        + sentences("wire", {f"w{i}": ["The dam was built in 1962." if i < 2 else f"News {i}."]
                             for i in range(5)}),
        BoilerplateConfig(),
    )  # fmt: skip
    assert marked(found) == []


def test_an_outlets_sign_off_on_the_seed_pages_is_marked_and_not_aligned(seeds_dir, tmp_path):
    """Pages 002 and 004 come from one outlet (Censor.NET), each with its sign-off "...,
    Censor.NET informs/reports with reference to Ukrinform."; before, the two were linked as
    if they were news."""
    corpus = tmp_path / "corpus"
    for page in seeds_dir.glob("*.txt"):
        outlet = "censor" if page.name[:3] in ("002", "004") else page.stem
        (corpus / outlet).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, corpus / outlet / page.name)
    config = load_config(
        overrides={
            "paths": {"output_dir": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")},
            "translate": {"packages_dir": str(tmp_path / "none")},
        }
    )
    result = run(corpus, config)
    rows = (result.run_dir / "sentences.csv").read_text(encoding="utf-8")
    signs = [line for line in rows.splitlines() if "with reference to Ukrinform" in line]
    assert len(signs) == 2 and all(line.endswith(",true") for line in signs)
    assert result.counts["boilerplate_sentences"] == 2
    assert not any("Ukrinform" in x.a.text + x.b.text for x in result.alignments)


LINES = ["Read also: floods.", "The dam burst.", "Schools reopened.", "Rain fell.",
         "Rescuers came, Herald reports with reference to Ukrinform.",
         "The mayor spoke, Post informs with reference to Ukrinform."]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 12), st.sampled_from([(2, 0.5), (3, 0.3), (2, 0.8)]))
def test_articles_added_one_run_at_a_time_are_marked_as_if_all_came_at_once(seed, size, limits):
    """Accumulate mode marks a run's new articles against the corpus, and re-marks older
    articles whose lines cross the threshold: the marks equal those counted over everything."""
    rng = random.Random(seed)
    config = BoilerplateConfig(min_articles=limits[0], min_share=limits[1])
    articles = {
        f"a{n}": (rng.choice(["herald", "post"]), rng.sample(LINES, rng.randint(0, 3)))
        for n in range(size)
    }
    everything = [s for article, (source, texts) in articles.items()
                  for s in sentences(source, {article: texts})]  # fmt: skip
    expected = marked(mark_boilerplate(everything, config))

    corpus = Corpus(None)
    current: dict[str, list[Sentence]] = {}
    for article, (source, _texts) in articles.items():
        todo = {article: source}
        while todo:  # the run's new article, then the older ones it changed
            found = [s for a, (src, t) in articles.items() if a in todo
                     for s in sentences(src, {a: t})]  # fmt: skip
            found, others = mark_in_corpus(found, todo, corpus, config)
            current.update({a: [s for s in found if s.article_id == a] for a in todo})
            todo = {a: articles[a][0] for a in others}
    corpus.close()
    assert marked([s for a in articles for s in current.get(a, [])]) == expected
