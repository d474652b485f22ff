"""The whole pipeline, end to end, with the tiny real translation models and the real embedder."""

import csv
import dataclasses
import json
import os
import re
import shutil
import unicodedata
from pathlib import Path

import pytest
from helpers import break_segmentation

from pipeline.config import Config, load_config
from pipeline.relation import DISAGREES
from pipeline.run import RunError, run
from pipeline.translate.argos import ArgosTranslator
from pipeline.translate.packages import install_command

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def config_for(tmp_path: Path, packages_dir: Path | None, **translate) -> object:
    return load_config(
        overrides={
            "paths": {"output_dir": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")},
            "translate": {
                "packages_dir": str(packages_dir or tmp_path / "no-packages"),
                "max_decoding_length": 16,
                "beam_size": 1,
                **translate,
            },
        }
    )


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SAMPLE / "articles", folder)
    return folder


def test_full_run_translates_with_installed_models_and_writes_every_output(
    corpus, tmp_path, installed_packages_dir
):
    result = run(corpus, config_for(tmp_path, installed_packages_dir))

    latest = tmp_path / "out" / "latest"
    assert latest.resolve() == result.run_dir.resolve()
    sentences = read_csv(latest / "sentences.csv")
    by_lang = {lang: [s for s in sentences if s["lang"] == lang] for lang in ("en", "ru", "uk")}
    assert all(by_lang.values())
    assert {s["english_origin"] for s in by_lang["en"]} == {"original"}
    assert {s["english_origin"] for s in by_lang["ru"] + by_lang["uk"]} == {"mt"}
    assert all(s["english"] for s in sentences)
    # the cp1251 article decoded into Cyrillic, not mojibake
    assert any("Грельмар" in s["original"] for s in by_lang["ru"])
    # page noise is gone, and no HTML script text made it in
    assert not any(s["original"].strip() in ("14:32", "2481 visitors online") for s in sentences)
    assert not any("function(" in s["original"] or "{" in s["original"] for s in sentences)

    info = json.loads((latest / "run.json").read_text())
    assert info["counts"]["sentences"] == len(sentences)
    assert set(info["models"]["translation"]) == {"ru", "uk"}
    assert info["models"]["embedding"].startswith("st:all-MiniLM-L6-v2#")
    assert info["models"]["embedding_backend"] == "torch"
    assert {"ingest", "segment", "langid", "translate", "embed", "align", "export"} <= set(
        info["seconds"]
    )
    # the align stage's own model work (joined sentences) is a part of its seconds
    assert info["counts"]["align_embedded_new"] > 0
    assert 0 < info["align_embed_seconds"] <= info["seconds"]["align"]
    assert info["config"]["translate"]["beam_size"] == 1
    assert read_csv(latest / "rejects.csv") == []
    articles = read_csv(latest / "articles.csv")
    assert sorted(a["article"] for a in articles) == sorted({s["article"] for s in sentences})
    assert all(
        int(a["sentences"]) == sum(s["article"] == a["article"] for s in sentences)
        for a in articles
    )
    assert {a["lang"] for a in articles} == {"en", "ru", "uk"}
    page = next(a for a in articles if a["article"].endswith(".html"))
    assert page["title"] and page["source"] == page["article"].split("/")[0]
    # English articles of one event share statements
    alignments = read_csv(latest / "alignments.csv")
    assert any(a["lang_a"] == a["lang_b"] == "en" for a in alignments)


def test_rerun_on_unchanged_input_translates_and_embeds_nothing(
    corpus, tmp_path, installed_packages_dir, monkeypatch
):
    config = config_for(tmp_path, installed_packages_dir)
    first = run(corpus, config)
    assert first.counts["translated_new"] > 0 and first.counts["embedded_new"] > 0

    def refuse(*args, **kwargs):
        raise AssertionError("a cached sentence went through the model again")

    monkeypatch.setattr(ArgosTranslator, "translate", refuse)
    monkeypatch.setattr("pipeline.embed.Embedder.encode", refuse)
    monkeypatch.setattr("pipeline.align.align_pair", refuse)  # every article pair is cached
    monkeypatch.setattr("pipeline.run.label_sentences", refuse)  # so is every segmentation
    monkeypatch.setattr("pipeline.run.group_statements", refuse)  # no story is re-done
    second = run(corpus, config)
    assert second.counts["translated_new"] == 0 and second.counts["embedded_new"] == 0
    assert first.counts["align_embedded_new"] > 0 and second.counts["align_embedded_new"] == 0
    assert second.counts["stories_aligned"] == 0 and second.counts["stories_changed"] == 0
    assert second.counts["translated_cached"] == first.counts["translated_new"]
    tables = sorted(path.name for path in first.run_dir.glob("*.csv"))
    assert len(tables) == 8 and second.run_dir != first.run_dir
    for name in tables:
        assert (second.run_dir / name).read_bytes() == (first.run_dir / name).read_bytes()

    # Other options make other tables: written anew, not copied.
    monkeypatch.undo()
    config = config_for(tmp_path, installed_packages_dir)
    stricter = dataclasses.replace(config, align=dataclasses.replace(config.align, min_cosine=0.9))
    third = run(corpus, stricter)
    assert third.counts["alignments"] < first.counts["alignments"]
    assert len(read_csv(third.run_dir / "alignments.csv")) == third.counts["alignments"]


def test_missing_model_skips_and_says_how_to_install_then_a_later_run_fills_in(
    corpus, tmp_path, installed_packages_dir
):
    skipped = run(corpus, config_for(tmp_path, None))
    assert {(m.lang, m.install_command) for m in skipped.missing} == {
        ("ru", install_command("ru")),
        ("uk", install_command("uk")),
    }
    rows = read_csv(skipped.run_dir / "sentences.csv")
    non_english = [r for r in rows if r["lang"] in ("ru", "uk")]
    assert non_english and all(
        r["english_origin"] == "skipped" and r["english"] == "" for r in non_english
    )

    filled = run(corpus, config_for(tmp_path, installed_packages_dir))
    assert filled.missing == []
    assert len(read_csv(filled.run_dir / "sentences.csv")) == len(rows)


def test_fail_mode_stops_before_any_work(corpus, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("work started despite a missing model")

    monkeypatch.setattr("pipeline.embed.Embedder.encode", refuse)
    with pytest.raises(
        RunError, match=rf"ru: \d+ sentences \(run `{re.escape(install_command('ru'))}`\)"
    ):
        run(corpus, config_for(tmp_path, None, on_missing_model="fail"))
    assert not (tmp_path / "out" / "latest").exists()


def test_translation_memory_fills_sentences_before_mt(corpus, tmp_path):
    result = run(corpus, config_for(tmp_path, None, tm_files=[str(SAMPLE / "tm.tsv")]))
    rows = read_csv(result.run_dir / "sentences.csv")
    assert {r["english_origin"] for r in rows if r["lang"] != "en"} == {"tm"}
    assert result.missing == []
    cross_language = [
        a for a in read_csv(result.run_dir / "alignments.csv") if a["lang_a"] != a["lang_b"]
    ]
    assert cross_language
    # The claim only one outlet carries (a fine, from an unnamed source) is unique to it; the
    # minister's statement on drinking water is one statement carried by several outlets.
    unique = read_csv(result.run_dir / "unique.csv")
    assert [u["source"] for u in unique if "fined twice" in u["english"]] == ["pribrezhnye-novosti"]
    statements = read_csv(result.run_dir / "statements.csv")
    water = {s["group"] for s in statements if "drinking water" in s["english"].lower()}
    assert len(water) == 1
    assert len({s["source"] for s in statements if s["group"] in water}) >= 4


def test_an_outlet_giving_another_count_is_no_member_of_the_statement_and_disagrees(
    corpus, tmp_path
):
    """One outlet says sixteen were taken to hospital where six say fourteen, each with the
    same three crew members (a fresh-user trial's edit): its sentence is linked to theirs as
    `disagrees`, and is no member of their statement."""
    page = corpus / "marenburg-herald" / "barge-spill.txt"
    text = page.read_text(encoding="utf-8")
    assert text.count("Fourteen people") == 1
    page.write_text(text.replace("Fourteen people", "Sixteen people"), encoding="utf-8")
    result = run(corpus, config_for(tmp_path, None, tm_files=[str(SAMPLE / "tm.tsv")]))
    statements = read_csv(result.run_dir / "statements.csv")
    fourteen = {s["group"] for s in statements if s["english"].startswith("Fourteen")}
    assert len(fourteen) == 1
    members = [s for s in statements if s["group"] in fourteen]
    assert len({s["source"] for s in members}) >= 4
    assert not [s for s in members if "Sixteen" in s["english"]]
    sixteen = [
        x for x in result.alignments
        if "Sixteen" in x.a.english + x.b.english and "Fourteen" in x.a.english + x.b.english
    ]  # fmt: skip
    assert sixteen and {x.relation for x in sixteen} == {DISAGREES}


def test_memory_entries_match_however_the_page_spells_them_and_empty_ones_fall_to_mt(
    tmp_path, installed_packages_dir
):
    """A page with soft hyphens, zero-width and no-break spaces and decomposed letters matches
    the memory written without them; an entry with an empty English is no entry: with a model
    installed its sentence is machine-translated, not lost."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    page = (
        "Пре\u00adзи\u00adдент прибув до\u00a0Києва.\u200b "
        + unicodedata.normalize("NFD", "Уряд ухвалив новий бюджет країни.")
        + " Суд відклав засідання у справі."
    )
    (corpus / "page.txt").write_text(page, encoding="utf-8")
    tm = tmp_path / "tm.tsv"
    tm.write_text(
        "Президент прибув до Києва.\tThe president arrived in Kyiv.\n"
        "Уряд ухвалив новий бюджет країни.\tThe government passed a new budget.\n"
        "Суд відклав засідання у справі.\t\n",
        encoding="utf-8",
    )
    result = run(corpus, config_for(tmp_path, installed_packages_dir, tm_files=[str(tm)]))
    rows = read_csv(result.run_dir / "sentences.csv")
    assert [(r["lang"], r["english_origin"]) for r in rows] == [
        ("uk", "tm"), ("uk", "tm"), ("uk", "mt"),
    ]  # fmt: skip
    assert rows[0]["english"] == "The president arrived in Kyiv."
    assert rows[0]["original"] == "Президент прибув до Києва."
    assert rows[2]["english"]  # translated by the installed model, not an empty "hit"
    info = json.loads((result.run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["translation_memory"] == [
        {"file": str(tm), "entries": 2, "skipped": {"empty en side": 1}}
    ]


@pytest.mark.parametrize(
    "second",
    [
        "Overnight, Russia fired dozens of missiles at Ukraine's power grid.",
        "Russia fired dozens of missiles at Ukraine's power grid overnight. Kyiv is dark.",
    ],
)
def test_a_one_line_brief_aligns_with_another_brief(tmp_path, second):
    """The margin's neighbourhood does not shrink with the other article: a 1x1 block's own
    cosine was its only neighbour, so its margin was always 1.0, under the threshold."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    brief = "Overnight, Russia fired dozens of missiles at Ukraine's power grid."
    (corpus / "wire.txt").write_text(brief + "\n", encoding="utf-8")
    (corpus / "daily.txt").write_text(second + "\n", encoding="utf-8")
    result = run(corpus, config_for(tmp_path, None))
    assert [(x.a.text, x.b.text) for x in result.alignments] == [(second.split(" Kyiv")[0], brief)]
    assert result.alignments[0].method == "mutual"  # one link shows no order: no translation
    unique = read_csv(result.run_dir / "unique.csv")
    assert [row["original"] for row in unique] == (["Kyiv is dark."] if "Kyiv" in second else [])


@pytest.mark.parametrize(
    ("merged", "parts"),
    [
        (
            "The Kessel dam burst early on Tuesday and flooded some 200 houses in Ostrow.",
            ("The Kessel reservoir dam gave way shortly after 3 a.m. on Tuesday.",
             "About 200 homes in the village of Ostrow were under water."),
        ),
        (
            "Striker Lucas Ferro scored the winner in the 112th minute, and Redhaven United "
            "will meet Castlebury in the final on Saturday.",
            ("Lucas Ferro's header in the 112th minute settled the tie for Redhaven United.",
             "Redhaven United now play Castlebury in Saturday's final."),
        ),
    ],
)  # fmt: skip
def test_a_sentence_covering_two_of_the_other_sides_links_to_both(tmp_path, merged, parts):
    """One-to-many by design (the retellings' kind): a long sentence that merges two short ones
    of the other article links to each, the second link made by the joined-pair check."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    filler = (
        "Rescue teams worked through the night. "
        "The regional governor is expected to visit on Wednesday. "
        "Insurers have not yet estimated the damage."
    )
    (corpus / "wire.txt").write_text(f"{merged} {filler}\n", encoding="utf-8")
    (corpus / "daily.txt").write_text(
        f"{parts[0]} Schools in the district stayed closed. {parts[1]}\n", encoding="utf-8"
    )
    result = run(corpus, config_for(tmp_path, None))
    links = {(x.a.text, x.b.text) if x.a.text == merged else (x.b.text, x.a.text)
             for x in result.alignments}  # fmt: skip
    assert {(merged, parts[0]), (merged, parts[1])} <= links, links
    assert "merge" in {x.method for x in result.alignments}


def test_lines_mode_takes_one_sentence_per_line(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        "First line. Still first\nSecond line\n\nThird line\n", encoding="utf-8"
    )
    config = load_config(
        overrides={
            "paths": {"output_dir": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")},
            "segment": {"mode": "lines"},
        }
    )
    result = run(corpus, config)
    rows = read_csv(result.run_dir / "sentences.csv")
    assert [r["original"] for r in rows] == ["First line. Still first", "Second line", "Third line"]


def test_missing_input_folder_is_a_run_error(tmp_path):
    with pytest.raises(RunError, match="input folder not found"):
        run(tmp_path / "nope", load_config())


def test_seed_pages_000_and_001_share_the_nato_statement_quotations(seeds_dir, tmp_path):
    config = config_for(tmp_path, None)
    result = run(seeds_dir, config)
    pairs = {
        (a["english_a"], a["english_b"])
        for a in read_csv(result.run_dir / "alignments.csv")
        if a["article_a"].startswith("000") and a["article_b"].startswith("001")
    }

    def found(anchor_a: str, anchor_b: str) -> bool:
        return any(anchor_a in a and anchor_b in b for a, b in pairs)

    assert found("not to provide any kind of assistance", "not to provide any kind of assistance")
    assert found("strongly condemn the decisions", "strongly condemn the decisions")
    assert found("deepening military cooperation", "deepening military cooperation")


def accumulating_config(tmp_path: Path) -> object:
    return load_config(
        overrides={
            "paths": {"output_dir": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")},
            "corpus": {"accumulate": True},
            "translate": {"tm_files": [str(SAMPLE / "tm.tsv")]},
        }
    )


def test_incremental_run_processes_only_new_articles_and_covers_every_article_seen(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    english = sorted((SAMPLE / "articles").rglob("*.txt"))
    first_file, second_file = english[0], english[1]
    shutil.copy(first_file, inbox / "first.txt")
    shutil.copy(second_file, inbox / "second.txt")
    config = accumulating_config(tmp_path)
    first = run(inbox, config)
    assert first.counts["articles_new"] == 2 and first.counts["articles_segmented"] == 2

    # The inbox is drained of one article and gets a new one.
    (inbox / "first.txt").unlink()
    shutil.copy(english[2], inbox / "third.txt")
    second = run(inbox, config)
    assert second.counts["articles"] == 3
    assert second.counts["articles_new"] == 1 and second.counts["articles_unchanged"] == 1
    assert second.counts["articles_segmented"] == 1
    articles = {row["article"] for row in read_csv(second.run_dir / "sentences.csv")}
    assert articles == {"first.txt", "second.txt", "third.txt"}

    # A changed article replaces its earlier version.
    (inbox / "second.txt").write_text("A wholly new text about the barge.\n", encoding="utf-8")
    third = run(inbox, config)
    assert third.counts["articles_changed"] == 1 and third.counts["articles_segmented"] == 1
    rows = [r for r in read_csv(third.run_dir / "sentences.csv") if r["article"] == "second.txt"]
    assert [r["original"] for r in rows] == ["A wholly new text about the barge."]


def test_keep_runs_removes_older_run_folders_and_nothing_else(tmp_path):
    """A scheduled run every 30 minutes writes 48 run folders a day, each with every table."""
    from pipeline.config import load_config
    from pipeline.export import prune_runs

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    english = sorted((SAMPLE / "articles").rglob("*.txt"))
    paths = {"output_dir": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")}
    config = load_config(
        overrides={"paths": {**paths, "keep_runs": 2}, "corpus": {"accumulate": True}}
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    (out / "archive").mkdir()
    (out / "20000101T000000Z-aaaaaa").mkdir()  # an old run, by its name
    results = []
    for number in range(3):
        shutil.copy(english[number], inbox / f"{number}.txt")
        results.append(run(inbox, config))
    left = sorted(path.name for path in out.iterdir() if path.name != "latest")
    runs = sorted(result.run_id for result in results[1:])
    assert [name for name in left if name[0].isdigit()] == runs
    assert {"notes.txt", "archive", "corpus.sqlite3"} <= set(left)
    assert (out / "latest").resolve().name == results[-1].run_id
    assert results[-1].counts["articles"] == 3  # the registry survived the pruning
    # The run `latest` points to stays, however old (the older of the two: names of runs in
    # one second do not sort by time).
    (out / "latest").unlink()
    (out / "latest").symlink_to(results[1].run_id)
    assert prune_runs(out, 1) == []
    assert sorted(name for name in (p.name for p in out.iterdir()) if name[0].isdigit()) == runs


def test_an_article_with_a_title_longer_than_a_csv_field_is_run_and_reported(tmp_path):
    """The report reads the run's tables back; a 140,000-character title once failed the run."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    title = "Headline " * 15_600  # 140,400 characters
    text = (SAMPLE / "articles" / "marenburg-herald" / "barge-spill.txt").read_text("utf-8")
    (inbox / "long.md").write_text(f"---\ntitle: {title.strip()}\n---\n{text}", "utf-8")
    result = run(inbox, accumulating_config(tmp_path))
    (article,) = read_csv(result.run_dir / "articles.csv")
    assert article["title"] == title.strip()
    assert (result.run_dir / "report.html").is_file()


def test_keep_runs_orders_runs_of_one_second_by_when_they_were_written(tmp_path):
    from pipeline.export import prune_runs

    # The random part of the names sorts the other way round from the runs.
    for name, written in (("20261201T120000Z-ffffff", 1), ("20261201T120000Z-000000", 2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text("{}", encoding="utf-8")
        os.utime(tmp_path / name / "run.json", ns=(written * 10**9, written * 10**9))
    (tmp_path / "latest").symlink_to("20261201T120000Z-000000")
    (tmp_path / "archive").mkdir()
    (tmp_path / "20261201T110000Z-aaaaaa").symlink_to(tmp_path / "archive")  # a link: left
    assert prune_runs(tmp_path, 1) == ["20261201T120000Z-ffffff"]


def test_one_article_that_breaks_segmentation_is_rejected_and_the_rest_processed(
    corpus, tmp_path, monkeypatch
):
    break_segmentation(monkeypatch, "Lindhof", RuntimeError("rule blew up"))
    result = run(corpus, accumulating_config(tmp_path))
    rejects = read_csv(result.run_dir / "rejects.csv")
    assert rejects and all(
        "segmentation failed: RuntimeError('rule blew up')" in r["reason"] for r in rejects
    )
    processed = {r["article"] for r in read_csv(result.run_dir / "sentences.csv")}
    assert processed and not processed & {r["input"] for r in rejects}
    assert result.counts["articles"] == len(processed) + len(rejects)


def test_two_overlapping_runs_on_one_output_folder_never_interleave(corpus, tmp_path):
    import threading
    from datetime import datetime

    config = config_for(tmp_path, None, tm_files=[str(SAMPLE / "tm.tsv")])
    results, errors = [], []

    def one_run():
        try:
            results.append(run(corpus, config))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors and len(results) == 2
    spans = []
    for result in results:
        info = json.loads((result.run_dir / "run.json").read_text())
        spans.append(
            (datetime.fromisoformat(info["started"]), datetime.fromisoformat(info["finished"]))
        )
        assert len(read_csv(result.run_dir / "sentences.csv")) == result.counts["sentences"]
    first, second = sorted(spans)
    assert first[1] <= second[0], "the second run started writing before the first finished"
    assert (tmp_path / "out" / "latest").resolve().name in {r.run_id for r in results}


def test_one_new_article_aligns_only_the_article_pairs_it_is_in(corpus, tmp_path, monkeypatch):
    import pipeline.align as align_module

    config = config_for(tmp_path, None, tm_files=[str(SAMPLE / "tm.tsv")])
    first = run(corpus, config)
    shutil.copy(
        SAMPLE / "articles" / "marenburg-herald" / "barge-spill.txt", corpus / "reprint.txt"
    )
    real_align_pair = align_module.align_pair
    aligned = []

    def counting(pair, *args):
        aligned.append({pair.a[0].article_id, pair.b[0].article_id})
        return real_align_pair(pair, *args)

    monkeypatch.setattr(align_module, "align_pair", counting)
    second = run(corpus, config)
    assert aligned and all("reprint.txt" in pair for pair in aligned)
    assert second.counts["alignments"] > first.counts["alignments"]
    # Same links as a run with nothing cached.
    fresh = run(corpus, config_for(tmp_path / "fresh", None, tm_files=[str(SAMPLE / "tm.tsv")]))
    assert read_csv(second.run_dir / "alignments.csv") == read_csv(fresh.run_dir / "alignments.csv")


def test_new_article_pairs_aligned_in_slices_give_the_links_of_one_pass(
    corpus, tmp_path, monkeypatch
):
    import pipeline.align as align_module

    tm = [str(SAMPLE / "tm.tsv")]
    whole = run(corpus, config_for(tmp_path / "whole", None, tm_files=tm))
    monkeypatch.setattr(align_module, "NEW_PAIRS_PER_SLICE", 2)
    sliced = run(corpus, config_for(tmp_path / "sliced", None, tm_files=tm))
    assert sliced.counts["alignments"] > 10
    assert read_csv(sliced.run_dir / "alignments.csv") == read_csv(whole.run_dir / "alignments.csv")


def test_unreadable_corpus_registry_is_refused_and_left_in_place(tmp_path):
    from pipeline.corpus import CorpusError

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_text("The river is calm today.\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    registry = tmp_path / "out" / "corpus.sqlite3"
    registry.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(CorpusError, match="is unreadable"):
        run(inbox, accumulating_config(tmp_path))
    assert registry.read_bytes() == b"\x00garbage" * 512


def test_an_input_that_killed_an_accumulating_run_is_not_read_again_once_removed(
    tmp_path, monkeypatch
):
    """A killed run (here: an exception no stage catches) commits nothing to the registry."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.txt").write_text("The river is calm today.\n", encoding="utf-8")
    config = dataclasses.replace(
        config_for(tmp_path, None), corpus=dataclasses.replace(Config().corpus, accumulate=True)
    )
    assert run(inbox, config).counts["articles"] == 1
    (inbox / "stalls.txt").write_text("Marker of the input that stalls.\n", encoding="utf-8")
    break_segmentation(monkeypatch, "Marker of the input", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run(inbox, config)
    (inbox / "stalls.txt").unlink()  # the user takes it out of the inbox
    after = run(inbox, config)  # segmentation still breaks on it, were it read again
    assert after.counts["articles"] == 1
    assert {row["article"] for row in read_csv(after.run_dir / "sentences.csv")} == {"good.txt"}
