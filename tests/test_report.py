"""report.html (pipeline/report.py): written with every run, valid HTML, inert whatever the
articles hold, and what an analyst looks for visible in a real headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import html5lib
import lxml.html
import openpyxl
import pytest
from helpers import SCREENSHOTS, headless_chromium, needs_chromium

from pipeline import report as report_module
from pipeline import workbook as workbook_module
from pipeline.cli import main as cli_main
from pipeline.config import load_config
from pipeline.export import ROW_INDEX
from pipeline.report import REPORT_FILE, ReportError, read_run, write_report
from pipeline.run import run
from pipeline.workbook import SHEETS, WORKBOOK_FILE

ROOT = Path(__file__).resolve().parents[1]
PARALLAX = Path(sys.executable).parent / "parallax"
SAMPLE = ROOT / "data" / "sample"
HOSTILE_TITLE = '"><img src=x onerror=alert(1)>'
EVIL_SOURCE = "@<b onmouseover=alert(4)>Evil</b>"  # markup, and a formula to a spreadsheet
FORMULA = '=HYPERLINK("http://evil.example","open") '
HOSTILE_TEXT = "Officials said <script>alert(2)</script> the bridge at Ostria will stay closed."


def parallax(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(PARALLAX), *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def sample_page(sample_run):
    return parse(sample_run / REPORT_FILE)


def parse(path: Path):
    """The page as an lxml element tree, once html5lib in strict mode has parsed it without an
    error (into a DOM: its ElementTree builder is quadratic in a long script's text)."""
    page = path.read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True, tree=html5lib.getTreeBuilder("dom")).parse(page)
    return lxml.html.document_fromstring(page)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_run_writes_a_valid_report_with_each_statement_worded_by_each_source(
    sample_run, sample_page
):
    stdout = (sample_run.parent.parent / "run-stdout.txt").read_text(encoding="utf-8")
    assert f"report: {sample_run / REPORT_FILE}" in stdout  # as `make demo` prints it
    tree = sample_page
    statements = rows(sample_run / "statements.csv")
    shown = tree.findall(".//div[@class='statement']")
    assert len(shown) == len({row["group"] for row in statements})
    for block in shown:
        group = block.get("id").removeprefix("statement-")
        members = [row for row in statements if row["group"] == group]
        wordings = block.findall(".//tr[@class='wording']")
        assert sorted(w.get("data-source") for w in wordings) == sorted(
            row["source"] for row in members
        )
        cells = ["".join(w.itertext()) for w in wordings]
        for row in members:  # original and English side by side, in one row
            assert any(row["original"] in cell and row["english"] in cell for cell in cells)
    widest = max(shown, key=lambda b: len(b.findall(".//tr[@class='wording']")))
    languages = {w.get("data-lang") for w in widest.findall(".//tr[@class='wording']")}
    assert languages == {"en", "ru", "uk"}


def test_the_heatmap_holds_the_coverage_table_and_sources_are_named_by_outlet(
    sample_run, sample_page
):
    (data,) = sample_page.findall(".//script[@class='heatmap-data']")
    heatmap = json.loads(data.text)["data"][0]
    assert "Continental Wire" in heatmap["x"] and not any("/" in x for x in heatmap["x"])
    coverage = {row["group"]: row for row in rows(sample_run / "coverage.csv")}
    shown = sample_page.findall(".//div[@class='statement']")
    in_order = [coverage[block.get("id").removeprefix("statement-")] for block in shown]
    for row, carried in zip(in_order, heatmap["z"], strict=True):
        assert carried == [int(row[source] not in ("", "0")) for source in heatmap["x"]]


def test_what_only_one_source_said_and_the_articles_are_listed(sample_run, sample_page):
    tree = sample_page
    text = "".join(tree.itertext())
    for row in rows(sample_run / "unique.csv"):
        assert row["original"] in text
    links = {a.get("href") for a in tree.iter("a")}
    for row in rows(sample_run / "articles.csv"):
        assert (row["title"] or row["article"]) in text
        assert not row["url"] or row["url"] in links


def test_times_are_shown_as_precise_as_the_articles_state_them(sample_run, monkeypatch):
    """A day without a time is no midnight: a lag from it is in days ("same day"); a time is
    shown to the minute in UTC. What only one source said counts all of it where it is cut."""
    (story,) = read_run(sample_run).stories
    articles = {row["article"]: row for row in rows(sample_run / "articles.csv")}
    assert articles["continental-wire/veltava-spill.md"]["published"] == "2026-10-03"
    assert story.first_published == "2026-10-03"
    assert story.last_published == "2026-10-03 07:10 UTC"  # 09:10 at +02:00
    whens = [w for s in story.statements for w in s.wordings if w.source == "riverside-post"]
    assert whens and {w.when for w in whens} <= {"same day", "first"}
    assert {a.published for a in story.articles} >= {"2026-10-03", "2026-10-03 07:10 UTC"}
    unique = rows(sample_run / "unique.csv")
    assert story.unique_totals == {
        source: sum(row["source"] == source for row in unique) for source in story.unique_totals
    }
    monkeypatch.setattr(report_module, "SHOWN_UNIQUE", 1)
    (story,) = read_run(sample_run).stories
    cut = [source for source, total in story.unique_totals.items() if total > 1]
    assert cut and all(len(story.unique[source]) == 1 for source in cut)


def test_report_xlsx_holds_the_shown_stories_tables_in_unicode_with_numbers_as_numbers(
    sample_run,
):
    workbook = openpyxl.load_workbook(sample_run / WORKBOOK_FILE)
    assert workbook.sheetnames == list(SHEETS)
    for name in SHEETS:
        table = rows(sample_run / f"{name}.csv")
        sheet = list(workbook[name].iter_rows(values_only=True))
        assert list(sheet[0]) == (list(table[0]) if table else list(sheet[0]))
        assert len(sheet) - 1 == len(table)  # one story: every row of every table
    statements = list(workbook["statements"].iter_rows(values_only=True))
    original = statements[0].index("original")
    cyrillic = [r[original] for r in statements[1:] if re.search("[а-яіїє]", r[original] or "")]
    assert cyrillic and set(cyrillic) <= {
        r["original"] for r in rows(sample_run / "statements.csv")
    }
    position = statements[0].index("position")
    assert all(isinstance(r[position], int | float) for r in statements[1:])
    lag = statements[0].index("lag_hours")
    assert {type(r[lag]) for r in statements[1:]} <= {int, float, type(None)}  # blank: None
    coverage = list(workbook["coverage"].iter_rows(values_only=True))
    assert all(isinstance(cell, int | float) for row in coverage[1:] for cell in row[3:] if cell)


@pytest.mark.parametrize("row_index", [True, False], ids=["by-byte-range", "no-row-index"])
def test_report_xlsx_cuts_the_raw_sheets_and_says_so(sample_run, tmp_path, monkeypatch, row_index):
    """sentences and alignments (thousands of rows in a large story) stop at MAX_RAW_ROWS,
    and the sheet names the CSV that has every row; the other sheets are whole. A run folder
    without a row index (from before it) gives the same rows."""
    monkeypatch.setattr(workbook_module, "MAX_RAW_ROWS", 10)
    run_dir = tmp_path / "run"
    shutil.copytree(sample_run, run_dir)
    if not row_index:
        (run_dir / ROW_INDEX).unlink()
    write_report(run_dir)
    workbook = openpyxl.load_workbook(run_dir / WORKBOOK_FILE)
    for name, text in (("sentences", "original"), ("alignments", "text_a")):
        table = rows(sample_run / f"{name}.csv")  # one story: its rows are the report's
        sheet = list(workbook[name].iter_rows(values_only=True))
        columns = list(table[0])
        assert list(sheet[0][: len(columns)]) == columns
        assert len(table) > 10
        assert [row[columns.index(text)] for row in sheet[1:]] == [r[text] for r in table[:10]]
        note = sheet[0][len(columns) + 1]
        assert note == f"The first 10 rows of the report's stories ({name}.csv: all)"
    cosine = list(workbook["alignments"].iter_rows(values_only=True))[1][columns.index("cosine")]
    assert isinstance(cosine, float)
    assert workbook["statements"].max_row - 1 == len(rows(sample_run / "statements.csv"))


def test_parallax_report_refuses_what_is_no_run_in_one_line(sample_run, tmp_path):
    def report(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(PARALLAX), "report", *args], capture_output=True, text=True, timeout=300
        )

    broken = tmp_path / "broken"
    shutil.copytree(sample_run, broken)
    statements = broken / "statements.csv"
    cases = {
        ("--run", str(tmp_path / "missing")): (2, "does not exist"),
        ("--run", str(tmp_path)): (2, "is not a run folder"),
        ("--run", str(sample_run), "--out", str(tmp_path / "r.xlsx")): (2, "name an .html file"),
        ("--run", str(sample_run), "--out", str(tmp_path / "no" / "r.html")): (2, "does not exist"),
        ("--run", str(sample_run), "--stories", "0"): (2, "at least 1"),
    }
    for args, (code, says) in cases.items():
        done = report(*args)
        assert done.returncode == code and says in done.stderr, (args, done.stderr)
    written = statements.read_bytes()
    header = written.split(b"\n", 1)[0] + b"\n"
    fifth = len(b"".join(written.splitlines(keepends=True)[:5]))
    for damage, says in (
        # Cut short inside a row: read whole (it changed since written), a row is incomplete.
        (written[: written.index(b",", fifth) + 1], "has not as many cells as the header"),
        (b"foo,bar\n1,2\n", "has no column"),  # not ours
        (header + b"\xff\xfe" * 5000, "not UTF-8"),
    ):
        statements.write_bytes(damage)
        done = report("--run", str(broken), "--out", str(tmp_path / "r.html"))
        assert done.returncode == 1 and says in done.stderr and "statements.csv" in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_parallax_report_names_what_is_wrong_and_leaves_the_page_as_it_was(
    sample_run, tmp_path, capsys, caplog
):
    """A run.json that is not a run's, a table gone, a workbook path that is a folder: one
    line each, exit 1, and the page not written. A table cut at a row's end is read as it is,
    with a warning; one saved with a byte order mark is read. (The command's own function, in
    this process: the cases above run it as a process.)"""

    def report(run_dir: Path, out: Path) -> subprocess.CompletedProcess:
        code = cli_main(["report", "--run", str(run_dir), "--out", str(out)])
        return subprocess.CompletedProcess([], code, "", capsys.readouterr().err)

    def broken(name: str) -> Path:
        run_dir = tmp_path / name
        shutil.copytree(sample_run, run_dir)
        return run_dir

    out = tmp_path / "out" / "r.html"
    out.parent.mkdir()
    failing = []
    for damage in ("[1, 2]", '{"counts": 5}', '{"finished": 123}', '{"missing_models": [3]}'):
        run_dir = broken(f"info-{len(failing)}")
        (run_dir / "run.json").write_text(damage, encoding="utf-8")
        failing.append((run_dir, out, 1, "run.json is not a Parallax run.json"))
    run_dir = broken("no-rejects")
    (run_dir / "rejects.csv").unlink()
    failing.append((run_dir, out, 1, "rejects.csv is missing"))
    for name in ("r.xlsx", "r.html"):  # a folder where the workbook or the page goes
        (tmp_path / name / name).mkdir(parents=True)
        failing.append((sample_run, tmp_path / name / "r.html", 2, f"{name} is a folder"))
    for run_dir, page, code, says in failing:
        done = report(run_dir, page)
        assert done.returncode == code and says in done.stderr, (run_dir, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert not page.is_file() and not page.with_suffix(".xlsx").is_file()
        assert not list(page.parent.glob(".*.tmp"))

    run_dir = broken("cut")
    for name in ("statements.csv", "sentences.csv"):  # sentences: read per article when whole
        lines = (run_dir / name).read_bytes().splitlines(keepends=True)
        (run_dir / name).write_bytes(b"".join(lines[:10]))
    assert report(run_dir, out).returncode == 0
    assert "statements.csv: changed since the run wrote it" in caplog.text
    assert caplog.text.count("sentences.csv: changed since the run wrote it") == 1
    run_dir = broken("bom")
    for name in ("stories.csv", "rejects.csv"):
        table = run_dir / name
        table.write_bytes(b"\xef\xbb\xbf" + table.read_bytes())
    assert report(run_dir, out).returncode == 0
    assert openpyxl.load_workbook(out.with_suffix(".xlsx"))["rejects"]["A1"].value == "input"
    run_dir = broken("stories-cut")
    stories = run_dir / "stories.csv"
    stories.write_bytes(stories.read_bytes().splitlines(keepends=True)[0])
    assert report(run_dir, out).returncode == 0
    assert "holds 0 stories, its run.json counts 1" in caplog.text


def test_parallax_report_writes_it_anew_from_the_tables(sample_run, tmp_path):
    parallax("report", "--run", str(sample_run.parent), "--out", str(tmp_path / "r.html"))
    made = (tmp_path / "r.html").read_text(encoding="utf-8")
    written = (sample_run / REPORT_FILE).read_text(encoding="utf-8")
    strip = [line for line in made.splitlines() if not line.startswith('<p class="meta">Made')]
    assert strip == [line for line in written.splitlines() if 'meta">Made' not in line]


def test_a_folder_that_is_no_run_is_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="cannot read the run"):
        read_run(tmp_path)


def test_markup_in_articles_stays_text(tmp_path):
    """Two outlets carry one statement; one's title, text, URL and name are hostile."""
    record = {
        "id": "x1", "title": FORMULA + HOSTILE_TITLE, "url": "javascript:alert(3)",
        "source": EVIL_SOURCE, "published": "2026-10-03",
        "text": f"{HOSTILE_TEXT}\nThe river authority counted 40 stranded barges on Friday.",
    }  # fmt: skip
    inbox = tmp_path / "in"
    (inbox / "evil").mkdir(parents=True)
    (inbox / "evil" / "feed.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    (inbox / "plain").mkdir()
    (inbox / "plain" / "bridge.txt").write_text(
        "Officials said the bridge at Ostria will stay closed.\n"
        "The river authority counted 40 stranded barges on Friday.\n",
        encoding="utf-8",
    )
    run(inbox, load_config(overrides={"paths": {
        "output_dir": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")}}))  # fmt: skip
    page = tmp_path / "out" / "latest" / REPORT_FILE
    sheet = openpyxl.load_workbook(page.with_name(WORKBOOK_FILE))["articles"]
    (title,) = [c for c in sheet["D"] if c.value and c.value.startswith("=")]
    assert title.value == FORMULA + HOSTILE_TITLE  # as the page gave it, and as text
    assert title.data_type == "s" and title.quotePrefix
    tree = parse(page)
    text = "".join(tree.itertext())
    assert HOSTILE_TITLE in text and "<script>alert(2)</script>" in text
    assert EVIL_SOURCE in text
    (data,) = tree.findall(".//script[@class='heatmap-data']")  # the outlet has its column
    assert sorted(json.loads(data.text)["data"][0]["x"]) == sorted([EVIL_SOURCE, "plain"])
    for element in tree.iter():
        assert not any(name.startswith("on") for name in element.attrib), element.attrib
        assert not element.get("href", "").lower().startswith("javascript")
    scripts = [s for s in tree.iter("script")]
    assert all("alert(" not in (s.text or "") for s in scripts if s.get("class") != "heatmap-data")
    for data in (s for s in scripts if s.get("class") == "heatmap-data"):
        json.loads(data.text)  # a figure, nothing more
    assert len(scripts) == 2 + len([s for s in scripts if s.get("class") == "heatmap-data"])


@needs_chromium
def test_report_in_headless_chromium_shows_wordings_and_the_heatmap(sample_run, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    with headless_chromium(tmp_path / "profile") as driver:
        driver.get((sample_run / REPORT_FILE).as_uri())
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".heatmap .main-svg"))
        first = driver.find_element(By.CSS_SELECTOR, ".statement")
        wordings = first.find_elements(By.CSS_SELECTOR, "tr.wording")
        assert len({w.get_attribute("data-source") for w in wordings if w.is_displayed()}) >= 3
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 1400
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / "report-top.png"))
        heatmap = driver.find_element(By.CSS_SELECTOR, ".heatmap")
        assert heatmap.size["height"] > 200
        # Its heading, legend and outlet names in view, below the sticky filters.
        heading = driver.find_element(By.CSS_SELECTOR, "h3[id^=coverage-]")
        driver.execute_script("arguments[0].scrollIntoView()", heading)
        top, covered = driver.execute_script(
            "return [arguments[0].getBoundingClientRect().top,"
            " document.getElementById('filters').getBoundingClientRect().bottom]",
            heading,
        )
        assert top >= covered
        sources = heatmap.find_elements(By.CSS_SELECTOR, ".xtick text")
        assert sources and all(text.is_displayed() for text in sources)
        driver.save_screenshot(str(SCREENSHOTS / "report-heatmap.png"))
        Select(driver.find_element(By.ID, "filter-lang")).select_by_visible_text("ru")
        shown = [w for w in driver.find_elements(By.CSS_SELECTOR, "tr.wording") if w.is_displayed()]
        assert shown and {w.get_attribute("data-lang") for w in shown} == {"ru"}
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    print(f"screenshots: {SCREENSHOTS}")
