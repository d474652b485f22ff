"""`parallax evaluate`: scoring rules, and the aligner against gold on held-out seed pages."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import alignment as alignment_bench
from pipeline.config import load_config
from pipeline.evaluate import (
    GoldError,
    GoldPair,
    Predicted,
    Side,
    load_gold,
    load_gold_groups,
    read_groups,
    score,
    score_groups,
)
from pipeline.run import run

GOLD = Path(__file__).resolve().parent / "gold"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def predicted(a: str, text_a: str, b: str, text_b: str) -> Predicted:
    return Predicted(a, (text_a, ""), b, (text_b, ""))


def test_a_prediction_matches_gold_in_either_order_and_weak_pairs_count_only_for_precision():
    gold = [
        GoldPair(Side("x", "water is safe"), Side("y", "no danger"), "strong"),
        GoldPair(Side("x", "port closed"), Side("y", "shipping halted"), "weak"),
        GoldPair(Side("x", "mayor"), Side("y", "do not swim"), "strong"),
    ]
    predictions = [
        predicted("y", "There is no danger.", "x", "The water is safe."),  # reversed order
        predicted("x", "The port closed.", "y", "All shipping halted."),  # weak: still correct
        predicted("x", "The water is safe.", "y", "Fish died."),  # false alarm
        predicted("x", "Elsewhere.", "z", "Not in the gold articles."),  # not scored
    ]
    result = score(predictions, {"x", "y"}, gold)
    assert (result.predicted, result.correct) == (3, 2)
    assert (result.strong, result.found) == (2, 1)
    assert result.precision == pytest.approx(2 / 3) and result.recall == pytest.approx(0.5)
    assert result.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert [m.a.anchor for m in result.misses] == ["mayor"]
    assert [p.texts_b[0] for p in result.false_alarms] == ["Fish died."]


def test_malformed_gold_names_the_entry(tmp_path):
    path = tmp_path / "gold.yaml"
    path.write_text(
        "pairs:\n  - a: {article: x, anchor: y}\n    strength: strong\n", encoding="utf-8"
    )
    with pytest.raises(GoldError, match=r"pairs\[0\] needs a and b"):
        load_gold(path)
    path.write_text(
        "pairs:\n  - {a: {article: x, anchor: y}, b: {article: z, anchor: w}, strength: maybe}\n"
    )
    with pytest.raises(GoldError, match=r"pairs\[0\].strength: expected strong or weak"):
        load_gold(path)


def test_gold_files_are_well_formed():
    for name in ("sample.yaml", "seeds.yaml"):
        articles, pairs = load_gold(GOLD / name)
        assert pairs and all(p.a.article in articles and p.b.article in articles for p in pairs)
        assert all(p.a.article != p.b.article for p in pairs)


def run_with_tm(corpus: Path, tm: Path, tmp_path: Path) -> Path:
    config = load_config(
        overrides={
            "paths": {"output_dir": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")},
            "translate": {"tm_files": [str(tm)], "packages_dir": str(tmp_path / "none")},
        }
    )
    return run(corpus, config).run_dir


def evaluate_command(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "parallax"), "evaluate", *arguments],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def f1_of(line: str) -> float:
    return float(line.split("F1=")[1].split()[0])


def test_seed_pages_with_references_reach_f1_093_and_keep_statements_apart(seeds_dir, tmp_path):
    """The issue's goal, measured as a user would: `parallax evaluate --run OUTPUT` (the
    output folder, for its latest run) on the five seed pages, the Russian one through
    reference translations (F1 0.880 before this round). Statement groups pairwise against
    tests/gold/seeds_groups.yaml: without the one-sentence-per-article rule one group held
    "condemn the decisions" and "impacts Euro-Atlantic security" (P 0.52)."""
    memory = alignment_bench.seeds_memory(tmp_path / "tm.tsv")
    run_dir = run_with_tm(seeds_dir, memory, tmp_path)
    done = evaluate_command("--run", str(tmp_path / "out"), "--gold", str(GOLD / "seeds.yaml"))
    assert done.returncode == 0, done.stderr
    assert f1_of(done.stdout.splitlines()[0]) >= 0.93, done.stdout
    assert (run_dir / "evaluation" / "misses.csv").is_file()
    assert (run_dir / "evaluation" / "false_alarms.csv").is_file()
    articles, gold_groups = load_gold_groups(GOLD / "seeds_groups.yaml")
    groups = score_groups(read_groups(run_dir / "statements.csv"), articles, gold_groups)
    assert groups.precision >= 0.8 and groups.recall >= 0.85, groups


def test_evaluate_command_prints_scores_and_beats_the_cosine_baseline(tmp_path):
    run_dir = run_with_tm(SAMPLE / "articles", SAMPLE / "tm.tsv", tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(f"paths:\n  cache_dir: {tmp_path / 'cache'}\n", encoding="utf-8")
    done = evaluate_command(
        "--run", str(run_dir), "--gold", str(GOLD / "sample.yaml"), "--baseline-cosine", "0.55",
        "--config", str(config),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ours, _, baseline = done.stdout.strip().splitlines()
    f1 = {line.split(":")[0]: f1_of(line) for line in (ours, baseline)}
    assert f1["parallax"] > f1["cosine>=0.55"]


def test_paraphrase_gold_beats_cosine_mutual_best_at_its_own_best_threshold(tmp_path):
    """24 stories each retold in other words, briefs among them, and 8 articles on the same
    topics with other claims: the default configuration against the baseline tuned on it."""
    (gold_set,) = [g for g in alignment_bench.GOLD_SETS if g.name == "paraphrase"]
    (tmp_path / "work").mkdir()
    row = alignment_bench.evaluate_set(gold_set, tmp_path / "work", tmp_path / "cache", [])
    ours, baseline = row["parallax"], row["baseline"]
    assert ours.f1 >= 0.84, (ours.precision, ours.recall)
    assert ours.f1 >= baseline.f1 + 0.10, (ours.f1, baseline.f1, row["threshold"])
    assert ours.precision >= 0.88  # the topical neighbours are not linked


def test_english_seed_pages_raw_reach_f1_085(seeds_dir, tmp_path):
    """The issue's goal on the raw English seed pages, noise included (0.75 before, 0.824 with
    the relation check; 0.875 once two heads of one organisation are two people)."""
    (gold_set,) = [g for g in alignment_bench.GOLD_SETS if g.name == "seeds-en"]
    (tmp_path / "work").mkdir()
    row = alignment_bench.evaluate_set(gold_set, tmp_path / "work", tmp_path / "cache", [])
    assert row["parallax"].f1 >= 0.85, (row["parallax"].precision, row["parallax"].recall)


def test_evaluating_a_run_of_another_corpus_is_an_error_not_a_zero(tmp_path):
    run_dir = run_with_tm(SAMPLE / "articles", SAMPLE / "tm.tsv", tmp_path)
    gold = tmp_path / "gold.yaml"
    gold.write_text(
        "pairs:\n- a: {article: x.txt, anchor: A}\n  b: {article: y.txt, anchor: B}\n",
        encoding="utf-8",
    )
    done = evaluate_command("--run", str(run_dir), "--gold", str(gold))
    assert done.returncode == 1 and done.stdout == ""
    assert "none of the 2 articles" in done.stderr and "is it the run of that corpus" in done.stderr
    bad = evaluate_command("--run", str(run_dir), "--gold", str(gold), "--baseline-cosine", "2")
    assert bad.returncode == 2 and "between -1 and 1" in bad.stderr
