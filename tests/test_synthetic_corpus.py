"""The benchmark corpus generator: deterministic, growable, and with a reference translation."""

from pathlib import Path

from benchmarks.synthetic_corpus import write_corpus
from pipeline import clean, segment
from pipeline.normalise import matching_key


def files_of(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*.txt"))
    }


def test_a_corpus_plus_one_article_is_the_larger_corpus(tmp_path):
    write_corpus(tmp_path / "grown", 30, seed=4)
    write_corpus(tmp_path / "grown", 1, seed=4, first=30)
    write_corpus(tmp_path / "whole", 31, seed=4)
    assert files_of(tmp_path / "grown") == files_of(tmp_path / "whole")
    assert len(files_of(tmp_path / "whole")) == 31


def test_every_russian_and_ukrainian_sentence_has_a_reference_translation(tmp_path):
    reference = tmp_path / "reference.tsv"
    paths = write_corpus(tmp_path / "corpus", 12, seed=1, reference=reference)
    english_of = dict(line.split("\t") for line in reference.read_text("utf-8").splitlines())
    english_of = {matching_key(text): english for text, english in english_of.items()}
    checked = 0
    for path in paths:
        if path.parent.name.endswith("-en"):
            continue
        for sentence in segment.split_sentences(clean.clean_text(path.read_text("utf-8")).text):
            english = english_of[matching_key(sentence)]
            assert english.isascii() and english != sentence
            checked += 1
    assert checked > 50
