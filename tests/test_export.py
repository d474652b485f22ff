import csv
import dataclasses
import json
from collections import Counter

from pipeline.export import (
    ALIGNMENT_COLUMNS,
    SENTENCE_COLUMNS,
    STORY_COLUMNS,
    KeptRows,
    RunTables,
    alignment_lines,
    article_languages,
    coverage_rows,
    coverage_table,
    neutralise_row,
    write_grouped,
    write_run,
)
from pipeline.records import Alignment, Article, Reject, Sentence
from pipeline.statements import Statement, UniqueSentence
from pipeline.stories import Story


def tables(sentences=(), alignments=(), statements=(), unique=(), rejects=(), articles=(),
           stories=()):  # fmt: skip
    """A run's tables, every row written anew."""
    return RunTables(
        articles, article_languages(list(sentences)), Counter(s.article_id for s in sentences),
        stories, list(sentences), list(alignments), list(statements), list(unique),
        list(rejects), frozenset(a.id for a in articles), frozenset(s.id for s in stories),
    )  # fmt: skip


def neutralise(cell):
    return neutralise_row([cell])[0]


def read_csv(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_cells_a_spreadsheet_would_execute_are_neutralised():
    for dangerous in ("=1+2", "+7", "-cmd", "@SUM(A1)", "\t=x", "\r=x"):
        assert neutralise(dangerous) == "'" + dangerous
    assert neutralise("NATO said") == "NATO said"
    assert neutralise(3) == 3


def test_run_folder_has_every_file_and_latest_points_at_it(tmp_path):
    a = Sentence("=evil.txt", "=src", 0, "-Текст", lang="ru", english="Text", english_origin="tm")
    b = Sentence("b.txt", "b", 2, "Text", lang="en", english="Text", english_origin="original")
    c = Sentence(
        "c.txt", "=c", 0, "@only here", lang="en", english="@only here", english_origin="original"
    )
    statement = Statement("S0001", (a, b), "Text", story="T1")
    story = Story("T1", ("=evil.txt", "b.txt", "c.txt"), "Text", "2026-10-02", "2026-10-03",
                  ("=c", "=src", "b"), ("en", "ru"))  # fmt: skip
    written = tables(
        [a, b, c],
        [Alignment(a, b, 0.91234, 1.5)],
        [statement],
        [UniqueSentence(c)],
        [Reject("x.pdf", "unsupported")],
        articles=[
            Article("=evil.txt", "-Текст", "=src", published="2026-10-02T08:00:00Z"),
            Article("b.txt", "Text", "b", published="Fri, 02 Oct 2026 11:30:00 GMT"),
            Article("c.txt", "@only here", "=c"),
        ],
        stories=[story],
    )
    run_dir = write_run(tmp_path, "run-1", written, {"run_id": "run-1"})
    assert run_dir == tmp_path / "run-1"
    assert (tmp_path / "latest").resolve() == run_dir.resolve()
    sentences = read_csv(run_dir / "sentences.csv")
    assert tuple(sentences[0]) == SENTENCE_COLUMNS
    assert sentences[1] == ["'=evil.txt", "'=src", "0", "ru", "'-Текст", "Text", "tm", "false"]
    alignments = read_csv(run_dir / "alignments.csv")
    assert tuple(alignments[0]) == ALIGNMENT_COLUMNS
    assert alignments[1][10:] == ["0.9123", "1.5000", "", "", "mutual", "same", "T1"]
    assert read_csv(run_dir / "statements.csv")[1:] == [
        ["S0001", "'=evil.txt", "'=src", "ru", "0", "'-Текст", "Text", "Text", "T1", "'=src",
         "2026-10-02T08:00:00Z", "0.0"],
        ["S0001", "b.txt", "b", "en", "2", "Text", "Text", "Text", "T1", "'=src",
         "2026-10-02T08:00:00Z", "3.5"],
    ]  # fmt: skip
    assert read_csv(run_dir / "coverage.csv") == [
        ["story", "group", "statement", "'=src", "b"],
        ["T1", "S0001", "Text", "1", "1"],
    ]
    assert read_csv(run_dir / "stories.csv") == [
        list(STORY_COLUMNS),
        [
            "T1",
            "Text",
            "2026-10-02",
            "2026-10-03",
            "3",
            "'=c; =src; b",
            "en; ru",
            "'=src",
            "b +3.5 h; =c (undated)",
        ],
    ]
    assert read_csv(run_dir / "unique.csv")[1] == [
        "'=c",
        "c.txt",
        "0",
        "en",
        "'@only here",
        "'@only here",
        "0",
        "T1",
    ]
    assert read_csv(run_dir / "rejects.csv") == [["input", "reason"], ["x.pdf", "unsupported"]]
    assert json.loads((run_dir / "run.json").read_text())["run_id"] == "run-1"
    assert not list(tmp_path.glob(".*.partial")) and not list(run_dir.glob(".*.tmp"))


def test_coverage_leaves_a_source_empty_where_it_did_not_cover_the_story():
    a = Sentence("a.txt", "a", 0, "One.", english="One.")
    b = Sentence("b.txt", "b", 0, "One.", english="One.")
    c = Sentence("c.txt", "c", 0, "Two.", english="Two.")
    d = Sentence("d.txt", "d", 0, "Two.", english="Two.")
    statements = [Statement("S1", (a, b), "One.", story="T1"),
                  Statement("S2", (c, d), "Two.", story="T2")]  # fmt: skip
    # Source c covered story T1 too, and left S1 out: 0. Source d never covered T1: empty.
    coverage = {story: coverage_rows([s for s in statements if s.story == story])
                for story in ("T1", "T2")}  # fmt: skip
    columns, rows = coverage_table(
        coverage, ["T1", "T2"], {"T1": ("a", "b", "c"), "T2": ("c", "d")}
    )
    assert columns == ("story", "group", "statement", "a", "b", "c", "d")
    assert rows == [["T1", "S1", "One.", 1, 1, 0, ""], ["T2", "S2", "Two.", "", "", 1, 1]]


def test_a_newer_run_moves_latest_and_keeps_the_older_run(tmp_path):
    write_run(tmp_path, "run-1", tables(), {})
    write_run(tmp_path, "run-2", tables(), {})
    assert (tmp_path / "latest").resolve().name == "run-2"
    assert (tmp_path / "run-1" / "sentences.csv").is_file()


def test_disk_full_while_writing_keeps_the_previous_latest_and_says_so(tmp_path, monkeypatch):
    import errno

    import pytest

    from pipeline import export

    write_run(tmp_path, "run-1", tables(), {"run_id": "run-1"})
    real_write = export.write_csv
    written = []

    def fill_disk(path, columns, rows):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(path)
        real_write(path, columns, rows)

    monkeypatch.setattr(export, "write_csv", fill_disk)
    with pytest.raises(export.ExportError, match="No space left on device.*previous `latest`"):
        write_run(tmp_path, "run-2", tables(), {"run_id": "run-2"})
    assert (tmp_path / "latest").resolve().name == "run-1"
    assert not (tmp_path / "run-2").exists() and not list(tmp_path.glob(".run-2*"))


def test_neutralised_cells_read_back_exactly_by_stripping_one_apostrophe():
    import re

    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.text(alphabet="'=+-@\t\rab ", max_size=8))
    def check(cell):
        written = neutralise(cell)
        assert not written.startswith(("=", "+", "-", "@", "\t", "\r"))
        restored = written[1:] if re.match(r"'+[=+\-@\t\r]", written) else written
        assert restored == cell

    check()


def test_alignments_csv_reads_back_exactly_and_matches_csv_writer_byte_for_byte():
    import io

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from pipeline.records import SPAN_SEPARATOR

    text = st.text(alphabet=st.sampled_from(list(" ,\"\r\n\t'=+-@|aé€Ж") + ["\u2028"]), max_size=12)
    # A sentence is named by its article and position, as everywhere in the pipeline.
    sentences = st.lists(
        st.builds(Sentence, text, text, st.integers(0, 300), text, lang=text, english=text),
        min_size=1, max_size=5, unique_by=lambda s: (s.article_id, s.position),
    )  # fmt: skip

    def links_among(pool):
        side = st.sampled_from(pool)
        spans = st.lists(text, max_size=3).map(SPAN_SEPARATOR.join)
        method = st.sampled_from(["mutual", "merge"])
        relation = st.sampled_from(["same", "disagrees"])
        link = st.builds(
            Alignment, side, side, st.floats(-1, 1), st.floats(0, 9), method, spans, spans,
            relation,
        )  # fmt: skip
        return st.lists(link, max_size=6)

    @settings(max_examples=300, deadline=None)
    @given(sentences.flatmap(links_among))
    def check(links):
        # A story id a spreadsheet would run: neutralised like every text cell.
        story_of = {x.a.article_id: f"=T{n}" for n, x in enumerate(links)}
        rows = [neutralise_row(ALIGNMENT_COLUMNS)]
        for x in links:
            a, b = x.a, x.b
            rows.append(neutralise_row((
                a.article_id, a.position, a.lang, a.text, a.english,
                b.article_id, b.position, b.lang, b.text, b.english,
                f"{x.cosine:.4f}", f"{x.margin:.4f}", x.only_in_a, x.only_in_b, x.method,
                x.relation, story_of[a.article_id],
            )))  # fmt: skip
        write_grouped(path, ALIGNMENT_COLUMNS, ["all"], {"all": links},
                      alignment_lines(story_of), None)  # fmt: skip
        assert read_csv(path) == [[str(cell) for cell in row] for row in rows]
        if not any("\r" in str(cell) for row in rows for cell in row):
            # csv.writer leaves a lone carriage return unquoted, and csv.reader then ends the
            # row there; alignment_lines quotes it. Everywhere else the bytes are the same.
            expected = io.StringIO()
            csv.writer(expected, lineterminator="\n").writerows(rows)
            assert path.read_bytes() == expected.getvalue().encode("utf-8")

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alignments.csv"
        check()


def test_a_group_not_written_anew_is_copied_byte_for_byte_from_the_kept_run(tmp_path):
    def lines(rows):
        return (",".join(row) for row in rows)

    first = tmp_path / "one" / "t.csv"
    first.parent.mkdir()
    fresh = {"T1": [("a", '"x"')], "T2": [("b", "y\nz")], "T3": [("c", "w")]}
    ranges = write_grouped(first, ("k", "v"), ["T1", "T2", "T3"], fresh, lines, None)
    kept = KeptRows(first.parent, {"t.csv": ranges})
    second = tmp_path / "two" / "t.csv"
    second.parent.mkdir()
    # T2 is written anew, T1 and T3 copied; T1 now comes after T2, and T4 has no rows at all.
    again = write_grouped(
        second, ("k", "v"), ["T2", "T1", "T3", "T4"], {"T2": [("b", "new")]}, lines, kept
    )
    assert second.read_text() == 'k,v\nb,new\na,"x"\nc,w\n'
    assert sorted(again) == ["T1", "T2", "T3"]
    data = second.read_bytes()
    assert data[again["T1"][0] : again["T1"][1]] == b'a,"x"\n'


def test_rows_kept_from_the_latest_run_equal_rows_written_anew_when_a_source_joins(tmp_path):
    """Story T1 is kept, story T2 is written anew and brings a new source (a new coverage
    column): the tables equal those of a run that writes everything anew."""
    from pipeline.export import kept_rows

    def sentence(article, source, text):
        return Sentence(article, source, 0, text, "en", text, "original")

    a, b = sentence("a1", "a", "One."), sentence("b1", "b", "One.")
    c, d = sentence("c1", "c", "Two."), sentence("d1", "d", "Two.")
    e = sentence("e1", "e", "Two.")
    t1 = Story("T1", ("a1", "b1"), "One.", "", "", ("a", "b"), ("en",))

    def run_tables(sentences, statements, stories, articles, fresh_stories, kept=None):
        written = tables(sentences, [], statements, [], [], articles, stories)
        fresh_articles = {s.article_id for s in sentences if s.article_id in fresh_stories[1]}
        return dataclasses.replace(
            written, fresh_stories=frozenset(fresh_stories[0]), kept=kept, tables_key="k",
            fresh_articles=frozenset(fresh_articles) if kept else written.fresh_articles,
        )  # fmt: skip

    articles = [Article(s.article_id, s.text, s.source) for s in (a, b, c, d, e)]
    before = Story("T2", ("c1", "d1"), "Two.", "", "", ("c", "d"), ("en",))
    write_run(tmp_path / "out", "run-1", run_tables(
        [a, b, c, d], [Statement("S1", (a, b), "One.", story="T1"),
                       Statement("S2", (c, d), "Two.", story="T2")],
        [t1, before], articles[:4], ({"T1", "T2"}, {"a1", "b1", "c1", "d1"})), {})  # fmt: skip
    after = Story("T2", ("c1", "d1", "e1"), "Two.", "", "", ("c", "d", "e"), ("en",))
    statements = [Statement("S2", (c, d, e), "Two.", story="T2")]
    kept = kept_rows(tmp_path / "out", "k")
    assert kept is not None
    write_run(
        tmp_path / "out",
        "run-2",
        run_tables(
            [c, d, e], statements, [t1, after], articles, ({"T2"}, {"c1", "d1", "e1"}), kept
        ),
        {},
    )
    write_run(tmp_path / "full", "run-2", run_tables(
        [a, b, c, d, e], [Statement("S1", (a, b), "One.", story="T1"), *statements],
        [t1, after], articles, ({"T1", "T2"}, {"a1", "b1", "c1", "d1", "e1"})), {})  # fmt: skip
    for name in ("coverage.csv", "sentences.csv", "statements.csv", "articles.csv"):
        assert (tmp_path / "out" / "run-2" / name).read_text() == (
            tmp_path / "full" / "run-2" / name
        ).read_text(), name
    assert read_csv(tmp_path / "out" / "run-2" / "coverage.csv")[0][3:] == ["a", "b", "c", "d", "e"]
