"""Score a run's alignments against gold statement pairs: precision, recall, F1, and the errors.

Gold (YAML): `articles` (the ids the gold covers) and `pairs`, each side an article id and an
anchor substring, with strength `strong` or `weak`. A predicted pair matches a gold pair when
each side's sentence (original or English) contains its anchor, in either order. Precision
counts a prediction correct when it matches any gold pair, strong or weak; recall counts the
strong gold pairs that some prediction matches. Only predictions between articles the gold
covers are scored, and only links that claim the same statement: a link marked `disagrees`
(the same topic and names, other figures or polarity) is counted apart, as a finding.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from pipeline.align import mutual_best
from pipeline.export import plain_cell, write_csv
from pipeline.records import Sentence
from pipeline.relation import SAME

STRENGTHS = ("strong", "weak")


class GoldError(ValueError):
    """The gold file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Side:
    article: str
    anchor: str


@dataclass(frozen=True)
class GoldPair:
    a: Side
    b: Side
    strength: str


@dataclass(frozen=True)
class Predicted:
    """One row of alignments.csv, reduced to what matching needs."""

    article_a: str
    texts_a: tuple[str, str]  # original, English
    article_b: str
    texts_b: tuple[str, str]
    relation: str = SAME


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    predicted: int
    correct: int
    strong: int
    found: int
    misses: list[GoldPair]
    false_alarms: list[Predicted]
    disagreements: int = 0  # links marked `disagrees` between the gold's articles, not scored


def load_gold(path: Path) -> tuple[set[str], list[GoldPair]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise GoldError(f"{path}: cannot read gold file: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("pairs"), list):
        raise GoldError(f"{path}: expected a mapping with `articles` and `pairs`")
    pairs = []
    for number, entry in enumerate(data["pairs"]):
        try:
            sides = [Side(str(entry[k]["article"]), str(entry[k]["anchor"])) for k in ("a", "b")]
            strength = entry.get("strength", "strong")
        except (KeyError, TypeError):
            raise GoldError(
                f"{path}: pairs[{number}] needs a and b, each with article and anchor"
            ) from None
        if strength not in STRENGTHS:
            raise GoldError(
                f"{path}: pairs[{number}].strength: expected strong or weak, got {strength!r}"
            )
        pairs.append(GoldPair(sides[0], sides[1], strength))
    articles = {str(a) for a in data.get("articles") or []}
    articles |= {side.article for pair in pairs for side in (pair.a, pair.b)}
    return articles, pairs


def read_predictions(alignments_csv: Path) -> list[Predicted]:
    with alignments_csv.open(encoding="utf-8", newline="") as handle:
        return [
            Predicted(
                plain_cell(row["article_a"]),
                (plain_cell(row["text_a"]), plain_cell(row["english_a"])),
                plain_cell(row["article_b"]),
                (plain_cell(row["text_b"]), plain_cell(row["english_b"])),
                row.get("relation") or SAME,  # runs before the column existed claim sameness
            )
            for row in csv.DictReader(handle)
        ]


def _contains(texts: tuple[str, str], anchor: str) -> bool:
    return any(anchor in text for text in texts)


def matches(predicted: Predicted, gold: GoldPair) -> bool:
    def side(article: str, texts: tuple[str, str], expected: Side) -> bool:
        return article == expected.article and _contains(texts, expected.anchor)

    p = predicted
    return (side(p.article_a, p.texts_a, gold.a) and side(p.article_b, p.texts_b, gold.b)) or (
        side(p.article_a, p.texts_a, gold.b) and side(p.article_b, p.texts_b, gold.a)
    )


def score(predictions: list[Predicted], articles: set[str], gold: list[GoldPair]) -> Score:
    covered = [p for p in predictions if p.article_a in articles and p.article_b in articles]
    scored = [p for p in covered if p.relation == SAME]
    false_alarms = [p for p in scored if not any(matches(p, g) for g in gold)]
    strong = [g for g in gold if g.strength == "strong"]
    misses = [g for g in strong if not any(matches(p, g) for p in scored)]
    correct = len(scored) - len(false_alarms)
    found = len(strong) - len(misses)
    precision = correct / len(scored) if scored else 0.0
    recall = found / len(strong) if strong else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(
        precision, recall, f1, len(scored), correct, len(strong), found, misses, false_alarms,
        len(covered) - len(scored),
    )  # fmt: skip


def write_report(result: Score, folder: Path) -> None:
    """misses.csv (strong gold pairs not found) and false_alarms.csv (predictions not in gold)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "misses.csv",
        ("article_a", "anchor_a", "article_b", "anchor_b"),
        ((g.a.article, g.a.anchor, g.b.article, g.b.anchor) for g in result.misses),
    )
    write_csv(
        folder / "false_alarms.csv",
        ("article_a", "english_a", "article_b", "english_b"),
        ((p.article_a, p.texts_a[1], p.article_b, p.texts_b[1]) for p in result.false_alarms),
    )


def evaluate_run(run_dir: Path, gold_path: Path) -> Score:
    """Score a run folder against a gold file and write evaluation/ into the run folder.

    Raises GoldError for a malformed gold, a folder that is no run, or a run that holds none of
    the gold's articles (a score of 0/0 there would only say that --run or --gold is wrong).
    """
    articles, gold = load_gold(gold_path)
    alignments = run_dir / "alignments.csv"
    if not alignments.is_file():
        raise GoldError(f"{run_dir}: no alignments.csv (is it a Parallax run folder?)")
    in_run = {s.article_id for s in read_sentences(run_dir / "sentences.csv")}
    if not in_run & articles:
        raise GoldError(
            f"none of the {len(articles)} articles {gold_path} covers is in {run_dir} "
            f"({len(in_run)} articles): is it the run of that corpus?"
        )
    result = score(read_predictions(alignments), articles, gold)
    write_report(result, run_dir / "evaluation")
    return result


def read_sentences(sentences_csv: Path) -> list[Sentence]:
    with sentences_csv.open(encoding="utf-8", newline="") as handle:
        return [
            Sentence(
                plain_cell(row["article"]),
                plain_cell(row["source"]),
                int(row["position"]),
                plain_cell(row["original"]),
                row["lang"],
                plain_cell(row["english"]),
                row["english_origin"],
                row.get("boilerplate") == "true",
            )  # fmt: skip
            for row in csv.DictReader(handle)
        ]


def cosine_baseline(
    sentences: list[Sentence], vectors: np.ndarray, threshold: float
) -> list[Predicted]:
    """The baseline to beat: per article pair, mutual best by plain cosine above one threshold."""
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, sentence in enumerate(sentences):
        rows_of[sentence.article_id].append(row)
    articles = sorted(rows_of)
    predicted = []
    for first, name_a in enumerate(articles):
        for name_b in articles[first + 1 :]:
            rows_a, rows_b = rows_of[name_a], rows_of[name_b]
            cosines = vectors[rows_a] @ vectors[rows_b].T
            for i, j in mutual_best(cosines):
                if cosines[i, j] >= threshold:
                    a, b = sentences[rows_a[i]], sentences[rows_b[j]]
                    predicted.append(
                        Predicted(
                            a.article_id, (a.text, a.english), b.article_id, (b.text, b.english)
                        )
                    )
    return predicted


# Statement groups: a gold lists groups of (article, anchor) members; a group is scored by its
# pairs of members from different articles (pairwise precision and recall, the usual measure
# for clusterings whose sizes differ).


@dataclass(frozen=True)
class GroupScore:
    precision: float
    recall: float
    f1: float
    predicted: int  # member pairs that share a predicted group
    correct: int  # of those, pairs that share a gold group
    gold: int  # member pairs that share a gold group
    found: int  # of those, pairs that share a predicted group


def load_gold_groups(path: Path) -> tuple[set[str], list[list[Side]]]:
    """The gold's articles and groups; GoldError naming the entry when malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        articles = {str(a) for a in data["articles"]}
        groups = [
            [Side(str(m["article"]), str(m["anchor"])) for m in group["members"]]
            for group in data["groups"]
        ]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise GoldError(f"{path}: expected `articles` and `groups` of members: {error}") from None
    return articles, groups


def read_groups(statements_csv: Path) -> list[list[tuple[str, tuple[str, str]]]]:
    """statements.csv's groups, each a list of (article, (original, English))."""
    groups: dict[str, list[tuple[str, tuple[str, str]]]] = defaultdict(list)
    with statements_csv.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            texts = (plain_cell(row["original"]), plain_cell(row["english"]))
            groups[row["group"]].append((plain_cell(row["article"]), texts))
    return list(groups.values())


def score_groups(
    groups: list[list[tuple[str, tuple[str, str]]]], articles: set[str], gold: list[list[Side]]
) -> GroupScore:
    """Pairwise precision and recall of predicted groups against gold groups."""

    def in_gold_group(member: tuple[str, tuple[str, str]], side: Side) -> bool:
        return member[0] == side.article and _contains(member[1], side.anchor)

    def share_a_gold_group(x: tuple, y: tuple) -> bool:
        return any(
            any(in_gold_group(x, s) for s in group) and any(in_gold_group(y, s) for s in group)
            for group in gold
        )

    predicted_pairs = [
        (x, y)
        for group in groups
        for i, x in enumerate(group)
        for y in group[i + 1 :]
        if x[0] != y[0] and x[0] in articles and y[0] in articles
    ]
    correct = sum(1 for x, y in predicted_pairs if share_a_gold_group(x, y))
    gold_pairs = [
        (s, t) for group in gold for i, s in enumerate(group) for t in group[i + 1 :]
        if s.article != t.article
    ]  # fmt: skip
    found = sum(
        1
        for s, t in gold_pairs
        if any(
            any(in_gold_group(x, s) for x in group) and any(in_gold_group(y, t) for y in group)
            for group in groups
        )
    )
    precision = correct / len(predicted_pairs) if predicted_pairs else 0.0
    recall = found / len(gold_pairs) if gold_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return GroupScore(precision, recall, f1, len(predicted_pairs), correct, len(gold_pairs), found)
