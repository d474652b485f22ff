"""Cross-page boilerplate (pipeline/boilerplate.py): what one source repeats on its pages."""

import shutil

from pipeline.boilerplate import mark_boilerplate
from pipeline.config import BoilerplateConfig, load_config
from pipeline.records import Sentence
from pipeline.run import run


def sentences(source: str, articles: dict[str, list[str]]) -> list[Sentence]:
    return [
        Sentence(article, source, position, text, "en", text)
        for article, texts in articles.items()
        for position, text in enumerate(texts)
    ]


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
