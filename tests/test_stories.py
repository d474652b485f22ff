"""Stories (pipeline/stories.py): unrelated events kept apart, ids stable across runs, and the
seed pages as one story among other news, as a user runs it."""

from __future__ import annotations

import csv
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import html5lib
import lxml.html
import numpy as np
import pytest
from helpers import CHROMEDRIVER, CHROMIUM, SCREENSHOTS, headless_chromium
from hypothesis import example, given, settings
from hypothesis import strategies as st

from benchmarks import alignment as alignment_bench
from pipeline.config import StoriesConfig, load_config
from pipeline.export import previous_stories
from pipeline.records import Article, Sentence
from pipeline.run import run, story_fingerprints
from pipeline.stories import (
    ArticleFeatures,
    article_features,
    group_stories,
    parse_published,
    regroup_stories,
    story_id,
    story_links,
)

ROOT = Path(__file__).resolve().parents[1]
PARALLAX = Path(sys.executable).parent / "parallax"
CONFIG = StoriesConfig()


def direction(seed: int, dim: int = 16) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dim)
    return vector / np.linalg.norm(vector)


def corpus(spec: list[tuple[str, str, int, str, str]]) -> tuple[list, list, np.ndarray]:
    """Articles of one sentence each: (id, source, event, names, published). Articles of one
    event get nearby vectors, of another event far ones."""
    articles, sentences, rows = [], [], []
    for n, (article, source, event, names, published) in enumerate(spec):
        articles.append(Article(article, "text", source, published=published))
        sentences.append(Sentence(article, source, 0, "x", "en", f"Reports say {names} met."))
        noisy = direction(event) + 0.15 * direction(1000 + n)
        rows.append(noisy / np.linalg.norm(noisy))
    return articles, sentences, np.array(rows, dtype="float32")


def grouped(articles, sentences, vectors, config, languages, previous=None):
    """The stories stage as a run makes it: features, links, components."""
    languages = {a.id: "en" for a in articles} | languages
    features = article_features(sentences, vectors, languages)
    published = {a.id: parse_published(a.published) for a in articles}
    links = story_links(features, published, config)
    return group_stories(articles, features, links, previous)


def stories_of(spec, previous=None, config=CONFIG):
    articles, sentences, vectors = corpus(spec)
    languages = {a.id: "en" for a in articles}
    return grouped(articles, sentences, vectors, config, languages, previous)


def test_articles_of_two_events_are_two_stories_earliest_first():
    stories, changes = stories_of([
        ("a1", "A", 1, "Marenburg and Veltava", "2026-10-03T08:00:00Z"),
        ("b1", "B", 2, "Ostria and Lena Marsh", "2026-10-02"),
        ("a2", "B", 1, "Veltava, Marenburg", "Sat, 03 Oct 2026 10:00:00 GMT"),
        ("b2", "A", 2, "Lena Marsh", "2026-10-02T12:00:00+02:00"),
    ])  # fmt: skip
    assert [story.articles for story in stories] == [("b1", "b2"), ("a1", "a2")]
    assert stories[0].id == story_id("b1")  # named after its first article
    assert stories[0].first_published == "2026-10-02"
    assert stories[0].last_published == "2026-10-02T12:00:00+02:00"
    assert stories[1].sources == ("A", "B") and stories[1].languages == ("en",)
    assert changes == []


def test_close_vectors_naming_other_places_are_other_events():
    """Two fires: close in the embedding space, but at other places."""
    stories, _ = stories_of([
        ("f1", "A", 1, "Mirela", "2026-10-01"),
        ("f2", "B", 1, "Serra Alta", "2026-10-01"),
    ])  # fmt: skip
    assert len(stories) == 2


def test_one_kind_of_event_at_one_place_with_other_figures_is_another_story():
    """Two fires in Mirela that week: the place and one number (31) in common, the other
    counts differ. Where two reports of one fire give mostly the same counts, one story."""
    stories, _ = stories_of([
        ("f1", "A", 1, "Mirela, 31 firefighters, 12 hurt and 400 homes", "2026-10-01"),
        ("f2", "B", 1, "Mirela, 31 trucks, 3 dead and 90 homes", "2026-10-04"),
        ("f3", "C", 1, "Mirela, 12 hurt, 400 homes and 5 engines", "2026-10-02"),
    ])  # fmt: skip
    assert sorted(story.articles for story in stories) == [("f1", "f3"), ("f2",)]
    merged, _ = stories_of(
        [("f1", "A", 1, "Mirela, 31 firefighters, 12 hurt and 400 homes", "2026-10-01"),
         ("f2", "B", 1, "Mirela, 31 trucks, 3 dead and 90 homes", "2026-10-04")],
        config=StoriesConfig(min_shared_figures=0.0),
    )  # fmt: skip
    assert len(merged) == 1  # the figures alone kept them apart


def one_event(first, second, cosine, when, config):
    """The rule of pipeline/stories.py's docstring for one pair, written out plainly."""
    figures = [{x for x in first if x.startswith("#")}, {x for x in second if x.startswith("#")}]
    fewer_figures = min(map(len, figures))
    if (
        fewer_figures >= 2
        and len(figures[0] & figures[1]) / fewer_figures < config.min_shared_figures
    ):
        return False
    if (
        when[0]
        and when[1]
        and abs((when[0] - when[1]).total_seconds()) > config.window_days * 86400
    ):
        return False
    if not first or not second:
        return cosine >= config.min_cosine
    share = len(first & second) / min(len(first), len(second))
    if min(len(first), len(second)) >= 2 and share >= 0.5:
        return cosine >= min(config.min_cosine, config.min_cosine_named)
    return cosine >= config.min_cosine and share >= config.min_shared_names


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 40), st.sampled_from([0.0, 0.2, 0.5]))
def test_story_links_are_the_rule_applied_to_every_pair_and_to_any_subset(seed, size, share):
    rng = np.random.default_rng(seed)
    vocabulary = ["mirela", "ostria", "veltava", "#3", "#12", "#31", "#400", "#90"]
    config = StoriesConfig(min_shared_names=share)
    features, published = {}, {}
    for n in range(size):
        vector = direction(int(rng.integers(3))) + 0.6 * rng.normal(size=16)
        named = frozenset(rng.choice(vocabulary, size=int(rng.integers(0, 5)), replace=False))
        features[f"a{n:02d}"] = ArticleFeatures("en", (vector / np.linalg.norm(vector)).astype(
            "float32"), named, "")  # fmt: skip
        day = int(rng.integers(0, 20))
        published[f"a{n:02d}"] = None if day > 15 else parse_published(f"2026-10-{day + 1:02d}")
    found = story_links(features, published, config)
    for first, second, cosine in found:
        exact = float(features[first].vector @ features[second].vector)
        assert abs(cosine - exact) < 1e-4
    expected = [
        (a, b) for a, b in itertools.combinations(sorted(features), 2)
        if one_event(features[a].named, features[b].named,
                     round(float(features[a].vector @ features[b].vector), 5),
                     (published[a], published[b]), config)
    ]  # fmt: skip
    assert [(a, b) for a, b, _ in found] == expected
    some = set(sorted(features)[: size // 3])
    assert story_links(features, published, config, among=some) == [
        link for link in found if link[0] in some or link[1] in some
    ]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 30), st.integers(1, 4), st.integers(0, 3))
@example(seed=6, size=20, added=1, edited=1)  # an undated article moves to a story untouched
def test_regrouping_the_touched_stories_gives_what_grouping_every_link_gives(
    seed, size, added, edited
):
    """A run regroups only the stories its new and changed articles touch; the stories and
    their merges and splits are those of the whole corpus grouped anew. Undated articles (a
    quarter), unreadable dates, topics close in the embedding space and few names make the
    undated rule, merges and splits frequent."""
    rng = np.random.default_rng(seed)
    vocabulary = ["mirela", "ostria", "veltava", "#3", "#12", "#31"]

    def article(n: int, topic: int) -> tuple[Article, ArticleFeatures]:
        vector = direction(topic) + 0.5 * rng.normal(size=16)
        named = frozenset(rng.choice(vocabulary, size=int(rng.integers(0, 4)), replace=False))
        day = int(rng.integers(0, 24))
        when = "" if day >= 18 else "soon" if day == 17 else f"2026-10-{day + 1:02d}"
        features = ArticleFeatures(
            "en", (vector / np.linalg.norm(vector)).astype("float32"), named, f"s{n}"
        )
        return Article(f"a{n:02d}", "text", f"S{n % 3}", published=when), features

    def stories_over(articles, features, previous):
        published = {a.id: parse_published(a.published) for a in articles}
        links = story_links(features, published, CONFIG)
        return group_stories(articles, features, links, previous), links, published

    made = dict(article(n, int(rng.integers(3))) for n in range(size))
    by_id = {a.id: (a, f) for a, f in made.items()}
    (earlier, _), _, _ = stories_over(
        [a for a, _ in by_id.values()], {i: f for i, (_, f) in by_id.items()}, None
    )
    member = {a: story.id for story in earlier for a in story.articles}
    changed = {f"a{n:02d}" for n in rng.choice(size, size=min(edited, size), replace=False)}
    changed |= {f"a{size + n:02d}" for n in range(added)}
    for n in sorted(int(i[1:]) for i in changed):
        new, features = article(n, int(rng.integers(3)))
        by_id[new.id] = (new, features)
    articles = [a for a, _ in by_id.values()]
    features = {i: f for i, (_, f) in by_id.items()}
    (expected, changes), links, published = stories_over(articles, features, member)

    def links_of(ids):
        return sorted(link for link in links if link[0] in ids or link[1] in ids)

    new_links = story_links(features, published, CONFIG, among=changed)
    found = regroup_stories(articles, features, earlier, changed, new_links, links_of)
    assert found is not None and found[:2] == (expected, changes)
    assert regroup_stories(articles, features, [], changed, new_links, links_of) is None


def test_a_regrouped_article_does_not_take_the_id_an_untouched_story_keeps():
    """Story T(a1) kept its id when a1 left it (rejected in a later run, say); a1 back, alone,
    is named as in a whole regrouping: not T(a1), which the untouched story holds."""
    spec = [("a1", "A", 1, "Ostria", "2026-10-01"), ("a2", "B", 2, "Mirela", "2026-10-02")]
    articles, sentences, vectors = corpus(spec)
    features = article_features(sentences, vectors, {"a1": "en", "a2": "en"})
    published = {a.id: parse_published(a.published) for a in articles}
    links = story_links(features, published, CONFIG)
    assert links == []
    earlier, _ = group_stories(articles[1:], features, [], {"a2": story_id("a1")})
    assert [story.id for story in earlier] == [story_id("a1")]
    expected = group_stories(articles, features, [], {"a2": story_id("a1")})
    found = regroup_stories(articles, features, earlier, {"a1"}, [], lambda ids: [])
    assert found == (*expected, 1)
    assert [story.id for story in found[0]] == [story_id("a1#1"), story_id("a1")]


def test_an_undated_digest_does_not_pull_its_undated_story_into_another_by_names_alone():
    """Two undated reports of one event and an undated digest close to them that also names
    another event's places (a weaker link, made by the names rule): the digest stays with its
    group, and the dated report of the other event stays a story of its own (a fresh-user
    trial's case). Joined on a link of min_cosine, the group would follow."""
    first, second = direction(1), direction(2)
    second = second - (second @ first) * first
    second /= np.linalg.norm(second)
    digest = first + 0.6 * second
    vectors = {"g1": first, "g2": first, "d": digest / np.linalg.norm(digest), "v": second}
    names = {"g1": {"nato", "dprk"}, "g2": {"nato", "dprk"}, "d": {"nato", "dprk", "marenburg",
             "veltava"}, "v": {"marenburg", "veltava"}}  # fmt: skip
    features = {
        a: ArticleFeatures("en", v.astype("float32"), frozenset(names[a]), a)
        for a, v in vectors.items()
    }
    articles = [Article(a, "text", a.upper(), published="2026-10-03" if a == "v" else "")
                for a in vectors]  # fmt: skip
    published = {a.id: parse_published(a.published) for a in articles}
    links = story_links(features, published, CONFIG)
    weak = {(a, b): c for a, b, c in links}[("d", "v")]
    assert CONFIG.min_cosine_named <= weak < CONFIG.min_cosine
    stories, _ = group_stories(articles, features, links)
    assert sorted(story.articles for story in stories) == [("d", "g1", "g2"), ("v",)]
    joined, _ = group_stories(articles, features, links, min_cosine=weak)
    assert [story.articles for story in joined] == [("v", "d", "g1", "g2")]


def test_articles_published_further_apart_than_the_window_are_other_stories():
    spec = [("e1", "A", 1, "Ostria", "2026-01-05"), ("e2", "B", 1, "Ostria", "2026-03-05")]
    assert len(stories_of(spec)[0]) == 2
    assert len(stories_of(spec, config=StoriesConfig(window_days=90))[0]) == 1


def test_an_undated_article_does_not_bridge_two_stories_weeks_apart():
    spec = [("e1", "A", 1, "Ostria", "2026-01-05"), ("e2", "B", 1, "Ostria", "2026-03-05"),
            ("u1", "C", 1, "Ostria", "")]  # fmt: skip
    stories, _ = stories_of(spec)
    assert len(stories) == 2
    assert sorted(len(s.articles) for s in stories) == [1, 2]  # u1 joined one of them


def test_a_story_keeps_its_id_when_it_grows_and_the_older_id_when_two_merge():
    first = [("a1", "A", 1, "Veltava", "2026-10-02"), ("a2", "B", 1, "Veltava", "2026-10-03")]
    (story,), _ = stories_of(first)
    # A later article with an earlier date would give the story another first article: the
    # id it had stays.
    grown, _ = stories_of([*first, ("a0", "C", 1, "Veltava", "2026-10-01")],
                          previous={"a1": story.id, "a2": story.id})  # fmt: skip
    assert [(s.id, s.articles) for s in grown] == [(story.id, ("a0", "a1", "a2"))]

    previous = {"a1": "T-old", "a2": "T-new"}  # two stories the last run kept apart
    merged, changes = stories_of(first, previous=previous)
    assert [s.id for s in merged] == ["T-old"]
    assert [(c.kind, c.kept, c.others) for c in changes] == [("merge", "T-old", ("T-new",))]


def test_a_split_story_keeps_its_id_for_the_part_with_its_first_article():
    spec = [("a1", "A", 1, "Veltava", "2026-10-02"), ("b1", "B", 2, "Ostria", "2026-10-03")]
    stories, changes = stories_of(spec, previous={"a1": "T-old", "b1": "T-old"})
    assert [s.id for s in stories] == ["T-old", story_id("b1")]
    assert [(c.kind, c.kept, c.others) for c in changes] == [("split", "T-old", (story_id("b1"),))]


def test_an_article_with_no_english_side_is_a_story_of_its_own():
    articles, sentences, vectors = corpus([("a1", "A", 1, "Veltava", ""),
                                           ("a2", "B", 1, "Veltava", "")])  # fmt: skip
    articles.append(Article("de1", "Auf Deutsch.", "C"))
    languages = {"a1": "en", "a2": "en", "de1": "de"}
    stories, _ = grouped(articles, sentences, vectors, CONFIG, languages)
    assert [(s.articles, s.languages) for s in stories] == [(("a1", "a2"), ("en",)),
                                                            (("de1",), ("de",))]  # fmt: skip


def test_a_story_changes_when_an_articles_date_does():
    articles = [Article("a1", "Text.", "A", published="2026-10-03")]
    (story,), _ = grouped(articles, [], np.zeros((0, 16), "float32"), CONFIG, {})
    moved = [Article("a1", "Text.", "A", published="2026-09-20")]
    assert story_fingerprints([story], articles) != story_fingerprints([story], moved)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-10-03", "2026-10-03T00:00:00+00:00"),
        ("2026-10-03T09:10:00+02:00", "2026-10-03T09:10:00+02:00"),
        ("Sat, 03 Oct 2026 10:00:00 GMT", "2026-10-03T10:00:00+00:00"),
        ("03.10.2026", "2026-10-03T00:00:00+00:00"),
        ("03.10.2026 14:30", "2026-10-03T14:30:00+00:00"),
        ("2026-13-45", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_publication_dates_are_read_as_pages_and_feeds_write_them(text, iso):
    moment = parse_published(text)
    assert (moment.isoformat() if moment else None) == iso


def test_the_seed_pages_are_one_story_among_other_news_and_nothing_joins_them(seeds_dir, tmp_path):
    """The five seed pages (one event, as scraped) mixed with the sample corpus (another
    event, three languages) and the paraphrase gold's articles (32 other events, some on the
    same topics), run as a user would: `parallax run`."""
    corpus_dir = tmp_path / "in"
    for page in seeds_dir.glob("*.txt"):  # a folder, so a source, each
        outlet = corpus_dir / f"seed-{page.name[:3]}"
        outlet.mkdir(parents=True)
        shutil.copyfile(page, outlet / page.name)
    shutil.copytree(ROOT / "data" / "sample" / "articles", corpus_dir, dirs_exist_ok=True)
    shutil.copytree(ROOT / "tests" / "gold" / "paraphrase", corpus_dir, dirs_exist_ok=True)
    memory = alignment_bench.seeds_memory(tmp_path / "seeds.tsv")
    done = subprocess.run(
        [str(PARALLAX), "run", "--input", str(corpus_dir), "--output", str(tmp_path / "out"),
         "--cache-dir", str(tmp_path / "cache"), "--tm", str(memory),
         "--tm", str(ROOT / "data" / "sample" / "tm.tsv")],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    latest = tmp_path / "out" / "latest"
    with (latest / "articles.csv").open(encoding="utf-8", newline="") as handle:
        story_of = {row["article"]: row["story"] for row in csv.DictReader(handle)}
    seeds = {story for article, story in story_of.items() if article.startswith("seed-")}
    assert len(seeds) == 1, seeds
    (seed_story,) = seeds
    assert sorted(a for a, s in story_of.items() if s == seed_story) == sorted(
        a for a in story_of if a.startswith("seed-")
    )
    sample = {story_of[f"{p.parent.name}/{p.name}"]
              for p in (ROOT / "data" / "sample" / "articles").glob("*/*.txt")}  # fmt: skip
    assert len(sample) == 1 and seed_story not in sample
    with (latest / "alignments.csv").open(encoding="utf-8", newline="") as handle:
        links = list(csv.DictReader(handle))
    assert links and all(
        story_of[link["article_a"]] == story_of[link["article_b"]] == link["story"]
        for link in links
    )
    with (latest / "stories.csv").open(encoding="utf-8", newline="") as handle:
        rows = {row["story"]: row for row in csv.DictReader(handle)}
    assert rows[seed_story]["articles"] == "5" and "ru" in rows[seed_story]["languages"]
    seed_report_in_a_browser(latest, seed_story, tmp_path)


def seed_report_in_a_browser(run_dir: Path, story: str, tmp_path: Path) -> None:
    """The report of the mixed run, all 34 stories shown (`parallax report --stories`), shows
    the seed story with its statements' wordings; where Chromium is installed, it is opened
    and screenshotted there."""
    report = tmp_path / "seeds-report.html"
    done = subprocess.run(
        [str(PARALLAX), "report", "--run", str(run_dir), "--stories", "100", "--out",
         str(report)], capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = report.read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True, tree=html5lib.getTreeBuilder("dom")).parse(page)
    section = lxml.html.document_fromstring(page).get_element_by_id(f"story-{story}")
    sources = [
        {row.get("data-source") for row in statement.findall(".//tr[@class='wording']")}
        for statement in section.find_class("statement")
    ]
    assert max(map(len, sources)) >= 3  # a statement worded by three seed outlets, in one view
    if not (CHROMIUM and CHROMEDRIVER):
        return
    from selenium.webdriver.common.by import By

    with headless_chromium(tmp_path / "profile") as driver:
        driver.get(report.as_uri())
        driver.find_element(By.ID, f"story-{story}").location_once_scrolled_into_view  # noqa: B018
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / "report-seeds.png"))
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_an_article_that_comes_back_as_another_story_gets_an_id_of_its_own():
    """a1 left, a2 kept the story named after a1; a1 returns about another event."""
    spec = [("a1", "A", 2, "Ostria", "2026-10-01"), ("a2", "B", 1, "Veltava", "2026-10-02")]
    stories, _ = stories_of(spec, previous={"a2": story_id("a1")})
    assert sorted(s.articles for s in stories) == [("a1",), ("a2",)]
    assert len({s.id for s in stories}) == 2
    assert {s.id: s.articles for s in stories}[story_id("a1")] == ("a2",)


def test_a_story_with_no_english_side_takes_its_title_from_its_own_text():
    articles = [Article("ru1", "Прорыв дамбы.\nВторая строка.", "C")]
    empty = np.zeros((0, 16), dtype="float32")
    (story,), _ = grouped(articles, [], empty, CONFIG, {"ru1": "ru"})
    assert story.title == "Прорыв дамбы."


def test_previous_story_ids_that_cannot_be_read_are_none(tmp_path):
    (tmp_path / "run-1").mkdir()
    (tmp_path / "latest").symlink_to("run-1")
    (tmp_path / "run-1" / "articles.csv").write_bytes(b"article,story\n\xff\xfe bad,Tabc\n")
    assert previous_stories(tmp_path) == {}
    (tmp_path / "run-1" / "articles.csv").write_text("article,story\n'=a.txt,T1\n")
    assert previous_stories(tmp_path) == {"=a.txt": "T1"}


def test_statement_ids_hold_when_a_later_article_joins_them(tmp_path):
    """Run the sample without its latest article, then with it, then again: each statement
    the late article joined keeps its id, even where the others are undated (the late article
    is then the first dated carrier), and its lag after the first dated carrier is given;
    run.json says which story changed, and on the last run that none did."""
    sample = ROOT / "data" / "sample"
    corpus_dir = tmp_path / "in"
    shutil.copytree(sample / "articles", corpus_dir)
    late = corpus_dir / "riverside-post" / "chemical-leak.html"  # 2026-10-03T09:10+02:00
    kept = late.read_bytes()
    late.unlink()
    # In this process, as `parallax run --output --cache-dir --tm` would run (test_cli runs the
    # command itself): three runs in one process load the model's libraries once.
    config = load_config(None, {
        "paths": {"output_dir": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")},
        "translate": {"tm_files": [str(sample / "tm.tsv")]},
    })  # fmt: skip

    def statements() -> list[dict]:
        run(corpus_dir, config)
        path = tmp_path / "out" / "latest" / "statements.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))

    def changed() -> list[str]:
        info = json.loads((tmp_path / "out" / "latest" / "run.json").read_text("utf-8"))
        return info["stories_changed"]

    before = {row["group"] for row in statements()}
    assert len(changed()) == 1  # the first run: its one story is new
    late.write_bytes(kept)
    after = statements()
    assert changed() == [after[0]["story"]]  # the story the late article joined
    statements()
    assert changed() == []  # nothing new: no story changed
    joined = {row["group"] for row in after if row["source"] == "riverside-post"}
    assert joined, "the late article carried no statement"
    for group in joined:
        rows = [row for row in after if row["group"] == group]
        if len({row["source"] for row in rows}) > 2:  # a statement without it too
            assert group in before, rows
        (late_row,) = [row for row in rows if row["source"] == "riverside-post"]
        first_dated = [row for row in rows if row["lag_hours"]][0]
        assert {row["first_source"] for row in rows} == {first_dated["source"]}
        assert float(late_row["lag_hours"]) == (7.2 if first_dated is not late_row else 0.0)
