"""The align-articles flow under a temporary Prefect server (prefect_test_harness)."""

import contextlib
import csv
import json
import logging
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import break_segmentation
from news_site import configure, serving
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.testing.utilities import prefect_test_harness
from prefect_server import free_port, log_problems

import flows.align_articles as flow_module
from flows.align_articles import align_articles
from flows.artifacts import _inline, skipped_warnings, summary_markdown, top_statements_table
from flows.cluster import DaskChunks, kept_environment, task_runner
from flows.serve import scheduled_deployment
from pipeline.background import background_sentences
from pipeline.chunks import ChunkError
from pipeline.config import load_config
from pipeline.embed import Embedder
from pipeline.records import Alignment, MissingModel, Reject, Sentence, text_hash
from pipeline.report import read_run
from pipeline.run import RunError, RunResult
from pipeline.store import Store

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@contextlib.contextmanager
def children_write_to(log: Path):
    """Processes started inside write their output to `log` (they inherit fds 1 and 2)."""
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


@pytest.fixture(scope="module", autouse=True)
def harness(tmp_path_factory):
    """A temporary Prefect server for the module; its log must end free of errors."""
    home = tmp_path_factory.mktemp("harness")
    with contextlib.ExitStack() as stack:
        with children_write_to(home / "server.log"):
            stack.enter_context(prefect_test_harness(server_startup_timeout=120))
        yield
    problems = log_problems(home)
    assert not problems, "the test server's log holds errors:\n" + "\n".join(problems)


def artifacts_of(flow_run_id) -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def write_config(tmp_path: Path, packages_dir: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"paths:\n  cache_dir: {tmp_path / 'cache'}\n"
        f"translate:\n  packages_dir: {packages_dir}\n  max_decoding_length: 16\n  beam_size: 1\n",
        encoding="utf-8",
    )
    return path


def test_flow_runs_every_stage_as_a_task_and_publishes_artifacts(tmp_path, installed_packages_dir):
    state = align_articles(
        input_dir=str(SAMPLE / "articles"),
        output_dir=str(tmp_path / "out"),
        config_path=str(write_config(tmp_path, installed_packages_dir)),
        return_state=True,
    )
    assert state.is_completed()
    summary = state.result()
    assert summary["articles"] == 9 and summary["alignments"] > 0
    assert Path(summary["run_dir"]).parent == tmp_path / "out"

    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs()
    names = {
        run.name.rsplit("-", 1)[0]
        for run in task_runs
        if run.flow_run_id == state.state_details.flow_run_id
    }
    assert {"ingest", "segment", "langid", "translate", "embed", "align", "export"} <= names

    artifacts = artifacts_of(state.state_details.flow_run_id)
    by_key = {a.key: a for a in artifacts if a.key}
    assert "Articles per language" in by_key["run-summary"].data
    assert str(summary["run_dir"]) in by_key["run-summary"].data
    assert by_key["top-statements"].type == "table"
    assert "## Stories" in by_key["run-summary"].data
    report = Path(summary["run_dir"]) / "report.html"
    assert report.as_uri() in by_key["report"].data and report.is_file()
    progress = [a for a in artifacts if a.type == "progress"]
    assert progress and all(a.data == 100.0 for a in progress)
    assert {a.description.split(":")[0] for a in progress} >= {
        "translate ru",
        "translate uk",
        "embed",
    }


def test_one_bad_article_fails_only_its_own_work(tmp_path, installed_packages_dir, monkeypatch):
    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE / "articles", corpus)
    (corpus / "broken.txt").write_text("Marker that breaks the rules.\n", encoding="utf-8")
    break_segmentation(monkeypatch, "Marker that breaks", ValueError("bad article"))
    state = align_articles(
        input_dir=str(corpus), output_dir=str(tmp_path / "out"),
        config_path=str(write_config(tmp_path, installed_packages_dir)), return_state=True,
    )  # fmt: skip
    assert state.is_completed()
    run_dir = Path(state.result()["run_dir"])
    with (run_dir / "rejects.csv").open(encoding="utf-8") as handle:
        rejects = list(csv.DictReader(handle))
    assert [r["input"] for r in rejects] == ["broken.txt"]
    with (run_dir / "sentences.csv").open(encoding="utf-8") as handle:
        assert len({row["article"] for row in csv.DictReader(handle)}) == 9


def test_transient_io_failure_in_ingest_is_retried(tmp_path, installed_packages_dir, monkeypatch):
    monkeypatch.setattr(flow_module, "RETRY_DELAY_SECONDS", 0)
    import pipeline.run as run_module

    real_read = run_module.read_corpus
    calls = []

    def flaky_read(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("network share went away")
        return real_read(*args, **kwargs)

    monkeypatch.setattr(run_module, "read_corpus", flaky_read)
    state = align_articles(
        input_dir=str(SAMPLE / "articles"), output_dir=str(tmp_path / "out"),
        config_path=str(write_config(tmp_path, installed_packages_dir)), return_state=True,
    )  # fmt: skip
    assert state.is_completed()
    assert len(calls) == 2


def test_scheduled_deployment_takes_cron_and_parameters_from_config():
    deployment = scheduled_deployment()
    config = load_config(Path(flow_module.__file__).parents[1] / "config" / "scheduled.yaml")
    assert deployment.name == "scheduled"
    assert deployment.flow_name == "align-articles"
    assert deployment.concurrency_limit == 1
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == config.schedule.cron
    assert set(deployment.parameters) == {"input_dir", "output_dir", "config_path"}
    assert deployment.parameters["input_dir"] == str(config.schedule.input_dir)
    assert config.corpus.accumulate is True


def test_summary_markdown_and_top_table_from_a_result(tmp_path):
    a = Sentence(
        "a.txt", "a", 0, "Вода безопасна.", lang="ru", english="Water is safe.", english_origin="tm"
    )
    b = Sentence(
        "b.txt",
        "b",
        1,
        "The water is safe.",
        lang="en",
        english="The water is safe.",
        english_origin="original",
    )
    weak = Sentence(
        "b.txt", "b", 2, "It rained.", lang="en", english="It rained.", english_origin="original"
    )
    result = RunResult(
        run_id="r1",
        run_dir=tmp_path / "r1",
        counts={
            "articles": 2, "articles_by_lang": {"en": 1, "ru": 1}, "sentences": 3,
            "sentences_by_origin": {"original": 2, "tm": 1, "skipped": 4}, "alignments": 2,
            "rejects": 1, "translated_new": 0, "translated_cached": 0, "embedded_new": 3,
            "statements": 1, "unique_sentences": 1,
        },
        missing=[MissingModel("uk", 4, "parallax models install uk")],
        seconds={"ingest": 0.1, "export": 0.2},
        alignments=[
            Alignment(a, weak, 0.5, 1.1, "mutual", "Water is safe", "rained"),
            Alignment(a, b, 0.9, 1.8),
        ],
        rejects=[Reject("x|y.pdf", "unsupported file type '.pdf'")],
    )  # fmt: skip
    text = summary_markdown(result, "in")
    assert text.splitlines()[2].startswith("> **Warning: 4 uk sentences have no English side**")
    assert "`unique.csv` cannot claim uniqueness against them" in text.splitlines()[2]
    assert "| ru | 1 |" in text and "| tm | 1 |" in text
    assert "`parallax models install uk`" in text and text.count("Warning") == 1
    assert "x\\|y.pdf" in text  # a pipe in a file name does not break the table
    assert "| export | 0.2 |" in text


def test_the_summary_names_a_package_that_fails_rather_than_calling_it_missing():
    failing = MissingModel("ru", 2, "parallax models install ru", failed_package="/p/ru_en")
    (warning,) = skipped_warnings([failing])
    assert "(the ru→en package in `/p/ru_en` fails)" in warning
    assert "installed" not in warning
    (plain,) = skipped_warnings([MissingModel("uk", 4, "parallax models install uk")])
    assert "(no uk→en model is installed)" in plain


def test_the_summary_lists_stories_with_each_sources_wording_and_the_largest_coverage(
    sample_run,
):
    view = read_run(sample_run)
    result = RunResult("r", sample_run, view.counts, [], {"export": 0.1}, [], [])
    text = summary_markdown(result, "in", view=view)
    (story,) = view.stories
    assert f"### {story.title}" in text
    top = story.statements[0]
    assert f"- **{top.representative}**" in text.replace("\\", "")
    for wording in top.wordings:  # each source's wording, under its statement
        assert f"    - {wording.source}, {wording.lang}, {wording.when}: " in text
    coverage = text[text.index("## Coverage of the largest story") :]
    shown = story.coverage[:12]
    assert f"| source | {' | '.join(map(str, range(1, len(shown) + 1)))} |" in coverage
    for column, source in enumerate(story.coverage_sources):
        marks = " | ".join("✓" if line[column] else "·" for _, line in shown)
        assert f"| {source} | {marks} |" in coverage
    assert coverage.count("✓") == sum(sum(line) for _, line in shown)
    assert text.index("## Stories") < text.index("## Articles per language")
    table = top_statements_table(view)
    assert table[0] == {
        "statement": top.representative[:55] + "…", "sources": len(top.sources),
        "languages": "en, ru, uk", "first carrier": top.wordings[0].source,
    }  # fmt: skip
    assert [row["sources"] for row in table] == sorted((r["sources"] for r in table), reverse=True)


def test_cells_and_titles_stay_text_in_the_summary():
    assert _inline("**bold** [x](javascript:y) <img src=x onerror=z>") == (
        "\\*\\*bold\\*\\* \\[x\\](javascript:y) \\<img src=x onerror=z\\>"
    )


def test_a_run_is_named_after_its_folder_and_start_and_tagged(tmp_path, installed_packages_dir):
    config = write_config(tmp_path, installed_packages_dir)
    state = align_articles(
        input_dir=str(SAMPLE / "articles"), output_dir=str(tmp_path / "out"),
        config_path=str(config), return_state=True,
    )  # fmt: skip
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.name.startswith("sample/articles 20") and flow_run.name.endswith(" UTC")
    assert {"parallax", "config"} <= set(flow_run.tags)


def test_a_stuck_stage_fails_the_run_with_a_message(tmp_path, installed_packages_dir, monkeypatch):
    config = write_config(tmp_path, installed_packages_dir)
    config.write_text(
        config.read_text() + "flow:\n  stage_timeout_seconds:\n    langid: 2\n", encoding="utf-8"
    )
    import pipeline.run as run_module

    def stuck(*args):
        while True:
            time.sleep(0.05)

    monkeypatch.setattr(run_module, "label_sentences", stuck)
    started = time.monotonic()
    state = align_articles(
        input_dir=str(SAMPLE / "articles"), output_dir=str(tmp_path / "out"),
        config_path=str(config), return_state=True,
    )  # fmt: skip
    assert state.is_failed()
    assert time.monotonic() - started < 60
    assert "stage langid was still running after 2 s" in state.message
    assert "flow.stage_timeout_seconds.langid" in state.message
    assert not (tmp_path / "out" / "latest").exists()


def test_an_empty_inbox_completes_without_writing_a_run(tmp_path, installed_packages_dir, caplog):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "notes.pdf").write_bytes(b"%PDF-1.4")
    state = align_articles(
        input_dir=str(tmp_path / "inbox"), output_dir=str(tmp_path / "out"),
        config_path=str(write_config(tmp_path, installed_packages_dir)), return_state=True,
    )  # fmt: skip
    assert state.is_completed()
    assert state.result() == {"run_dir": None, "articles": 0, "rejects": 1}
    assert not (tmp_path / "out").exists()
    (summary,) = [a for a in artifacts_of(state.state_details.flow_run_id) if a.key]
    assert "Nothing was read from" in summary.data and "notes.pdf" in summary.data
    # Most scheduled runs find an empty inbox: that is logged, but not as a warning.
    said = [r for r in caplog.records if "no article was read" in r.getMessage()]
    assert said and all(r.levelno == logging.INFO for r in said)


def test_a_served_run_outside_the_allowed_folders_is_refused(
    tmp_path, installed_packages_dir, monkeypatch
):
    """`make serve` gives its runner the allowed folders (flows.server.prefect_env); a run
    asking to read or write elsewhere fails with one line naming the parameter."""
    from flows import ALLOWED_ROOTS_VARIABLE

    monkeypatch.setenv(ALLOWED_ROOTS_VARIABLE, str(tmp_path))
    config = str(write_config(tmp_path, installed_packages_dir))
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    for parameters, refused in (
        ({"input_dir": str(SAMPLE / "articles")}, "input_dir"),
        ({"input_dir": str(tmp_path), "output_dir": str(elsewhere)}, "output_dir"),
    ):
        state = align_articles(config_path=config, **parameters, return_state=True)
        assert state.is_failed()
        assert f"{refused} " in state.message and "is outside the folders" in state.message
    assert not elsewhere.exists()


def test_the_scheduled_deployment_keeps_to_its_own_allowed_folders(monkeypatch):
    """What `make serve` serves must pass its own check: parameters and config paths."""
    from flows import ALLOWED_ROOTS_VARIABLE
    from flows.align_articles import check_allowed
    from flows.server import allowed_roots

    config = load_config(Path(flow_module.__file__).parents[1] / "config" / "scheduled.yaml")
    monkeypatch.setenv(ALLOWED_ROOTS_VARIABLE, os.pathsep.join(map(str, allowed_roots(config))))
    monkeypatch.chdir(Path(flow_module.__file__).parents[1])  # where the runner runs
    parameters = scheduled_deployment().parameters
    check_allowed({name: Path(value) for name, value in parameters.items()})
    check_allowed({"cache_dir": config.paths.cache_dir, "tm_files": Path("data/sample/tm.tsv")})
    with pytest.raises(RunError, match="input_dir /etc is outside the folders"):
        check_allowed({"input_dir": Path("/etc")})


def test_with_collect_enabled_the_flow_collects_into_its_input_folder_first(tmp_path):
    """A source's failed URLs are in the run summary; they do not fail the run."""
    inbox = tmp_path / "inbox"
    with serving() as site:
        config = configure(tmp_path, site, enabled=True)
        state = align_articles(input_dir=str(inbox), config_path=str(config), return_state=True)
    assert state.is_completed()
    assert state.result()["articles"] == 6
    assert (inbox / "herald.jsonl").is_file()
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs()
    names = [r.name.rsplit("-", 1)[0] for r in task_runs
             if r.flow_run_id == state.state_details.flow_run_id]  # fmt: skip
    assert names.count("collect") == 1
    artifacts = artifacts_of(state.state_details.flow_run_id)
    (summary,) = [a for a in artifacts if a.key == "run-summary"]
    assert "## Collected from the web" in summary.data
    assert "| herald | 6 | 0 | 1 | 6 |" in summary.data
    assert "HTTP 404" in summary.data and "disallowed by robots.txt" in summary.data


def test_executor_dask_runs_translate_and_embed_chunks_on_a_cluster_with_the_same_outputs(
    tmp_path, installed_packages_dir, monkeypatch
):
    """The same corpus through the flow twice, each with its own empty cache: `executor: local`,
    then `executor: dask` on a LocalCluster of 2 worker processes. Small chunks, so that both
    workers get several."""
    import pipeline.embed
    import pipeline.translate.argos

    monkeypatch.setattr(pipeline.embed, "CHUNK_SENTENCES", 16)
    monkeypatch.setattr(pipeline.translate.argos, "CHUNK_SENTENCES", 8)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(key, raising=False)
    runs = {}
    for executor in ("local", "dask"):
        folder = tmp_path / executor
        folder.mkdir()
        config = write_config(folder, installed_packages_dir)
        config.write_text(
            config.read_text() + f"executor: {executor}\ndask:\n  workers: 2\n", encoding="utf-8"
        )
        state = align_articles(
            input_dir=str(SAMPLE / "articles"), output_dir=str(folder / "out"),
            config_path=str(config), return_state=True,
        )  # fmt: skip
        assert state.is_completed(), state.message
        runs[executor] = (state, Path(state.result()["run_dir"]), folder / "cache")

    local_summary, dask_summary = (runs[e][0].result() for e in ("local", "dask"))
    # The LocalCluster's nannies set these to 1 here; the flow's process keeps its own threads.
    assert "OMP_NUM_THREADS" not in os.environ and "MKL_NUM_THREADS" not in os.environ
    assert "dask_chunks" not in local_summary
    # Every text translated or embedded went to the cluster, in chunks of the sizes set above:
    # the sentences, then (a cold cache) the margin's background sentences.
    sent = dask_summary["dask_chunks"]
    background = -(-len(background_sentences()) // 16)
    assert sent["embed"] - background == -(-local_summary["embedded_new"] // 16) >= 3
    assert sent["translate ru"] + sent["translate uk"] >= -(-local_summary["translated_new"] // 8)

    local_dir, dask_dir = runs["local"][1], runs["dask"][1]
    again = align_articles(
        input_dir=str(SAMPLE / "articles"), output_dir=str(tmp_path / "dask" / "out"),
        config_path=str(tmp_path / "dask" / "config.yaml"), return_state=True,
    )  # fmt: skip
    assert again.result()["dask_chunks"] == {}  # the flow's cache has it all: nothing is sent
    for table in ("sentences.csv", "alignments.csv", "statements.csv", "unique.csv",
                  "coverage.csv", "stories.csv", "articles.csv"):  # fmt: skip
        assert (dask_dir / table).read_bytes() == (local_dir / table).read_bytes(), table
    local_json = json.loads((local_dir / "run.json").read_text(encoding="utf-8"))
    dask_json = json.loads((dask_dir / "run.json").read_text(encoding="utf-8"))
    assert dask_json["counts"]["embedded_new"] == local_json["counts"]["embedded_new"] > 32
    assert dask_json["counts"]["translated_new"] == local_json["counts"]["translated_new"] > 8

    with (local_dir / "sentences.csv").open(encoding="utf-8") as handle:
        english = {row["english"] for row in csv.DictReader(handle) if row["english"]}
    hashes = [text_hash(text) for text in english]
    key = Embedder(load_config(None).embed).cache_key
    local = Store(runs["local"][2]).get_embeddings(key, hashes)
    remote = Store(runs["dask"][2]).get_embeddings(key, hashes)
    assert local.keys() == remote.keys() and len(local) > 32
    for text_key, vector in local.items():
        assert np.allclose(remote[text_key], vector, atol=1e-5)


def test_a_chunk_whose_worker_dies_fails_the_stage_and_names_the_chunk():
    import dask
    from distributed import Client, LocalCluster

    def work(spec, chunk):
        if chunk.startswith("dies"):
            os._exit(1)  # the worker process ends mid-chunk, as one killed for memory does
        return spec + chunk

    settings = {"distributed.scheduler.allowed-failures": 0}  # no retry on another worker
    with (
        dask.config.set(settings),
        kept_environment(),  # this process's threads, for the tests after this one
        LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0")
        as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        on_cluster = DaskChunks(SimpleNamespace(client=client))  # a runner holding `client`
        assert list(on_cluster("embed", work, "chunk ", ["one"])) == ["chunk one"]
        # Not sent with "one" in a call: a chunk waiting on the worker when it dies is lost
        # too, and which of two the worker runs first is Dask's choice (a clean clone's run
        # once lost "one").
        results = on_cluster("embed", work, "chunk ", ["dies", "dies too"])
        with pytest.raises(ChunkError, match=r"embed chunk 1 of 2 was lost .*KilledWorker"):
            next(results)
        # An error of the chunk's own function is raised as it would be without a cluster.
        with pytest.raises(TypeError):
            next(on_cluster("translate ru", work, None, ["text"]))
        assert on_cluster.sent == {"embed": 3, "translate ru": 1}


def test_a_cluster_that_cannot_be_reached_fails_the_stage_naming_its_address(
    tmp_path, installed_packages_dir
):
    """Not as a damaged package: that would skip the language and let the run complete."""
    import dask

    from pipeline.config import DaskConfig, TranslateConfig
    from pipeline.store import Store
    from pipeline.translate import load_translators, translate_sentences
    from pipeline.translate.memory import TranslationMemory

    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    config = TranslateConfig(packages_dir=installed_packages_dir, beam_size=1)
    sentences = [Sentence("a.txt", "s", 0, "Река закрыта.", lang="ru")]
    unreachable = f"the Dask cluster \\({address}: dask in the config"
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "2s"}),
        task_runner(DaskConfig(address=address)) as runner,
        pytest.raises(ChunkError, match=unreachable),
    ):
        translate_sentences(
            sentences, TranslationMemory({}), load_translators(config, {"ru"}), Store(tmp_path),
            map_chunks=DaskChunks(runner),
        )  # fmt: skip
