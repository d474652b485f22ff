"""Sentence splitting on the segmentation gold: Parallax beside razdel, blingfire and sentencex.

    python -m benchmarks.segmentation [--errors NAME]

A case counts as right only when every sentence boundary is right (the sentences, stripped,
equal the gold's). Two golds of news paragraphs in English, Russian and Ukrainian, each case
tagged with its kind (abbreviation-end, dateline, quote, ...):
- tests/gold/segmentation.jsonl: the cases of issue #16, paragraphs of the seed pages and the
  sample, and written ones; the rules were developed on it;
- tests/gold/segmentation_heldout.jsonl: written afterwards by another author, without seeing
  the rules or the first gold.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.segment import split_sentences

GOLD_DIR = Path(__file__).resolve().parent.parent / "tests" / "gold"
GOLDS = ("segmentation.jsonl", "segmentation_heldout.jsonl")

Splitter = Callable[[str, str], list[str]]  # (text, language code) -> sentences


@dataclass(frozen=True)
class Case:
    id: str
    lang: str
    kind: str
    source: str
    text: str
    sentences: tuple[str, ...]


def load_cases(name: str = GOLDS[0]) -> list[Case]:
    """The cases of the gold file `name` (in tests/gold), in file order."""
    cases = []
    for line in (GOLD_DIR / name).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        record["sentences"] = tuple(record["sentences"])
        cases.append(Case(**record))
    return cases


def _razdel(text: str, lang: str) -> list[str]:
    from razdel import sentenize

    return [s.text for s in sentenize(text)]


def _blingfire(text: str, lang: str) -> list[str]:
    from blingfire import text_to_sentences

    return text_to_sentences(text).split("\n")


def _sentencex(text: str, lang: str) -> list[str]:
    from sentencex import segment

    return list(segment(lang, text))


def splitters() -> dict[str, Splitter]:
    """Parallax, and each library that is installed (they are in the `dev` extra)."""
    found: dict[str, Splitter] = {"parallax": lambda text, lang: split_sentences(text)}
    libraries = (("razdel", _razdel), ("blingfire", _blingfire), ("sentencex", _sentencex))
    for name, splitter in libraries:
        if importlib.util.find_spec(name) is not None:
            found[name] = splitter
    return found


def is_right(splitter: Splitter, case: Case) -> bool:
    got = tuple(s.strip() for s in splitter(case.text, case.lang) if s.strip())
    return got == case.sentences


def wrong_cases(splitter: Splitter, cases: list[Case]) -> list[Case]:
    return [case for case in cases if not is_right(splitter, case)]


def accuracy_by(
    cases: list[Case], wrong: list[Case], key: Callable[[Case], str]
) -> dict[str, float]:
    """Share of cases right per group (`key` of a case), and "all"."""
    total = Counter(key(case) for case in cases)
    missed = Counter(key(case) for case in wrong)
    shares = {group: 1 - missed[group] / n for group, n in sorted(total.items())}
    return {"all": 1 - len(wrong) / len(cases), **shares}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", metavar="NAME", help="also print the cases NAME gets wrong")
    args = parser.parse_args()
    for gold in GOLDS:
        report(gold, args.errors)


def report(gold: str, errors_of: str | None) -> None:
    """Print one gold's table: share of cases right per splitter, language and kind."""
    cases = load_cases(gold)
    kinds = sorted({case.kind for case in cases})
    print(f"\n{gold}: {len(cases)} cases; share of cases with every boundary right")
    header = ["splitter", "all", "en", "ru", "uk", *kinds]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, splitter in splitters().items():
        wrong = wrong_cases(splitter, cases)
        by_lang = accuracy_by(cases, wrong, lambda case: case.lang)
        by_kind = accuracy_by(cases, wrong, lambda case: case.kind)
        cells = [by_lang["all"], by_lang["en"], by_lang["ru"], by_lang["uk"]]
        cells += [by_kind[kind] for kind in kinds]
        print(f"| {name} | " + " | ".join(f"{cell:.3f}" for cell in cells) + " |")
        if name == errors_of:
            for case in wrong:
                got = [s.strip() for s in splitter(case.text, case.lang) if s.strip()]
                print(f"\n{case.id} ({case.kind})\n  gold: {list(case.sentences)}\n  got:  {got}")


if __name__ == "__main__":
    main()
