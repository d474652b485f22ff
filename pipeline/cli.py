"""The `parallax` command: argument parsing only; the work is in run.py, collect.py and
packages.py."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from pipeline import collect as collecting
from pipeline import evaluate as evaluation
from pipeline.config import ConfigError, load_config
from pipeline.corpus import CorpusError
from pipeline.embed import Embedder, EmbedError, embed_texts
from pipeline.records import MissingModel, Reject
from pipeline.report import REPORT_FILE, SHOWN_STORIES, ReportError, write_report
from pipeline.run import PathError, RunError, run
from pipeline.store import Store
from pipeline.translate import packages
from pipeline.translate.memory import TranslationMemoryError

EXIT_FAILED = 1
EXIT_USAGE = 2  # bad arguments or configuration, as argparse itself uses
SHOWN_REJECTS = 5
# `--run` of the commands that read a finished run (see _run_folder).
RUN_ARGUMENT = ("--run",)
RUN_OPTIONS = {
    "required": True,
    "type": Path,
    "help": "a run folder (OUTPUT/<run-id>), or an output folder for its latest run",
}

# Errors that mean "the input or set-up is wrong": one line, no traceback. Anything else is a bug
# and keeps its traceback.
USER_ERRORS = (
    RunError, packages.PackageError, EmbedError, evaluation.GoldError,
    CorpusError, ReportError, OSError,
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the usage of the command that was given them, not the top-level one
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipeline").setLevel(logging.INFO)
    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"parallax: config error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (PathError, TranslationMemoryError) as error:  # a bad argument: nothing was done
        print(f"parallax: {error}", file=sys.stderr)
        return EXIT_USAGE
    except USER_ERRORS as error:
        print(f"parallax: {error}", file=sys.stderr)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parallax", description="Find the same statement across news sources and languages."
    )
    parser.add_argument("--version", action="version", version=f"parallax {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="process every article under a folder")
    run.add_argument(
        "--input", required=True, type=Path, help="folder of articles (searched recursively)"
    )
    run.add_argument("--config", type=Path, help="YAML config (default: config/default.yaml)")
    run.add_argument("--output", type=Path, help="where runs are written (default: outputs/)")
    run.add_argument("--cache-dir", type=Path, help="translation and embedding cache folder")
    run.add_argument("--segmentation", choices=("auto", "lines"), help="sentence splitting mode")
    run.add_argument(
        "--tm", type=Path, action="append", help="translation memory (TMX/TSV/CSV); repeatable"
    )
    run.add_argument("--on-missing-model", choices=("skip", "fail"), help="no model for a language")
    run.set_defaults(handler=_run, command_parser=run)

    collect = commands.add_parser(
        "collect", help="fetch new articles from the sources' feeds, sitemaps and URL lists"
    )
    collect.add_argument(
        "--sources", type=Path, help="the sources (YAML; default: config/sources.yaml)"
    )
    collect.add_argument("--inbox", type=Path, help="where records go (default: data/inbox)")
    collect.add_argument("--config", type=Path, help="YAML config (default: config/default.yaml)")
    collect.add_argument("--cache-dir", type=Path, help="where fetch state and raw pages are kept")
    collect.set_defaults(handler=_collect, command_parser=collect)

    evaluate = commands.add_parser("evaluate", help="score a run against gold statement pairs")
    evaluate.add_argument(*RUN_ARGUMENT, **RUN_OPTIONS)
    evaluate.add_argument("--gold", required=True, type=Path, help="gold pairs (YAML)")
    evaluate.add_argument(
        "--baseline-cosine",
        type=_cosine,
        metavar="T",
        help="also score the baseline: mutual best by plain cosine >= T",
    )
    evaluate.add_argument("--config", type=Path, help="YAML config (embedding model, cache)")
    evaluate.set_defaults(handler=_evaluate, command_parser=evaluate)

    report = commands.add_parser("report", help="write a run's report.html anew")
    report.add_argument(*RUN_ARGUMENT, **RUN_OPTIONS)
    report.add_argument(
        "--out", type=Path, metavar="FILE.html",
        help="where to write it, report.xlsx beside it as FILE.xlsx (default: RUN/report.html)",
    )  # fmt: skip
    report.add_argument(
        "--stories", type=_positive, default=SHOWN_STORIES, metavar="N",
        help=f"show the N newest stories (default {SHOWN_STORIES})",
    )  # fmt: skip
    report.set_defaults(handler=_report, command_parser=report)

    models = commands.add_parser("models", help="manage Argos translation models")
    models.add_argument("--config", type=Path, help="YAML config (its translate.packages_dir)")
    actions = models.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="installed models")
    listing.set_defaults(handler=_models_list, command_parser=listing)
    install = actions.add_parser("install", help="download LANG→en models, or install a file")
    install.add_argument("langs", nargs="*", metavar="LANG")
    install.add_argument("--file", type=Path, help="a local .argosmodel file")
    install.set_defaults(handler=_models_install, command_parser=install)
    remove = actions.add_parser("remove", help="remove the LANG→en model")
    remove.add_argument("lang", metavar="LANG")
    remove.set_defaults(handler=_models_remove, command_parser=remove)
    return parser


def _run(args: argparse.Namespace) -> int:
    overrides: dict[str, dict] = {"paths": {}, "segment": {}, "translate": {}}
    if args.output:
        overrides["paths"]["output_dir"] = str(args.output)
    if args.cache_dir:
        overrides["paths"]["cache_dir"] = str(args.cache_dir)
    if args.segmentation:
        overrides["segment"]["mode"] = args.segmentation
    if args.tm:
        overrides["translate"]["tm_files"] = [str(path) for path in args.tm]
    if args.on_missing_model:
        overrides["translate"]["on_missing_model"] = args.on_missing_model
    config = load_config(args.config, overrides)
    if config.executor != "local":
        raise ConfigError(
            f"executor: {config.executor} runs in the align-articles flow (make serve, then a "
            "run of align-articles/scheduled with this config as config_path); parallax run "
            "translates and embeds here: set executor: local"
        )
    result = run(args.input, config, progress=_progress_bar)
    if result.run_dir is None:
        print(f"parallax: {_nothing_read(args.input, result.rejects)}", file=sys.stderr)
        return EXIT_FAILED
    counts = result.counts
    print(
        f"{counts['articles']} articles, {counts['sentences']} sentences "
        f"({_by(counts['sentences_by_origin'])}), {counts['alignments']} alignments, "
        f"{counts['statements']} shared statements, {counts['unique_sentences']} unique sentences, "
        f"{counts['rejects']} rejected inputs"
    )
    for line in _missing_lines(result.missing):
        print(line)
    if counts["unique_unchecked"]:
        print(
            f"unique.csv is partial: {counts['unique_unchecked']} of its "
            f"{counts['unique_sentences']} sentences were not compared with the "
            f"{counts['untranslated_sentences']} sentences that have no English side (column "
            "`unchecked`); one of those may carry them"
        )
    print(f"outputs: {result.run_dir}")
    print(f"report: {result.run_dir / REPORT_FILE}")
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, got {text}")
    return int(text)


def _cosine(text: str) -> float:
    value = float(text)
    if not -1 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a cosine is between -1 and 1, got {text}")
    return value


def _collect(args: argparse.Namespace) -> int:
    overrides: dict[str, dict] = {"collect": {}, "paths": {}}
    if args.sources:
        overrides["collect"]["sources"] = str(args.sources)
    if args.inbox:
        overrides["collect"]["inbox"] = str(args.inbox)
    if args.cache_dir:
        overrides["paths"]["cache_dir"] = str(args.cache_dir)
    config = load_config(args.config, overrides)
    reports = collecting.collect_sources(config.collect, config.paths.cache_dir)
    for line in collecting.iter_lines(reports):
        print(line)
    new = sum(r.new for r in reports)
    print(f"{new} new articles in {config.collect.inbox}")
    return 0


def _run_folder(path: Path) -> Path:
    """A run folder, or an output folder's latest run."""
    if not (path / "run.json").exists() and (path / "latest").is_dir():
        return (path / "latest").resolve()
    return path


def _report(args: argparse.Namespace) -> int:
    run_dir = _run_folder(args.run)
    if not args.run.exists():
        raise PathError(f"{args.run} does not exist")
    if not (run_dir / "run.json").is_file():
        raise PathError(f"{args.run} is not a run folder (no run.json), nor an output folder")
    if args.out is not None and (args.out.suffix.lower() not in (".html", ".htm")):
        raise PathError(f"--out {args.out}: name an .html file (report.xlsx goes beside it)")
    if args.out is not None and not args.out.parent.is_dir():
        raise PathError(f"--out {args.out}: folder {args.out.parent} does not exist")
    for path in (args.out, args.out.with_suffix(".xlsx")) if args.out is not None else ():
        if path.is_dir():
            raise PathError(f"--out {args.out}: {path} is a folder")
    path = write_report(run_dir, args.out, max_stories=args.stories)
    print(f"report: {path}")
    print(f"workbook: {path.with_suffix('.xlsx')}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    args.run = _run_folder(args.run)
    result = evaluation.evaluate_run(args.run, args.gold)
    print(_score_line("parallax", result))
    print(f"misses and false alarms: {args.run / 'evaluation'}")
    if args.baseline_cosine is not None:
        config = load_config(args.config)
        sentences = [s for s in evaluation.read_sentences(args.run / "sentences.csv") if s.english]
        with contextlib.closing(Store(config.paths.cache_dir)) as store:
            vectors, _ = embed_texts(
                [s.english for s in sentences],
                Embedder(config.embed, config.paths.cache_dir),
                store,
            )
        articles, gold = evaluation.load_gold(args.gold)
        predicted = evaluation.cosine_baseline(sentences, vectors, args.baseline_cosine)
        print(
            _score_line(
                f"cosine>={args.baseline_cosine}", evaluation.score(predicted, articles, gold)
            )
        )
    return 0


def _nothing_read(input_dir: Path, rejects: list[Reject]) -> str:
    if not rejects:
        return f"nothing was read: {input_dir} holds no article file; no run written, latest kept"
    shown = "; ".join(f"{r.input}: {r.reason}" for r in rejects[:SHOWN_REJECTS])
    more = f"; and {len(rejects) - SHOWN_REJECTS} more" if len(rejects) > SHOWN_REJECTS else ""
    return (
        f"nothing was read from {input_dir}: all {len(rejects)} inputs rejected ({shown}{more}); "
        "no run written, latest kept"
    )


def _version() -> str:
    try:
        return metadata.version("parallax")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _score_line(name: str, result: evaluation.Score) -> str:
    return (
        f"{name}: P={result.precision:.3f} R={result.recall:.3f} F1={result.f1:.3f} "
        f"({result.correct}/{result.predicted} predicted pairs correct, "
        f"{result.found}/{result.strong} strong gold pairs found)"
    )


def _by(counts: dict[str, int]) -> str:
    return ", ".join(f"{value} {key}" for key, value in counts.items())


def _missing_lines(missing: list[MissingModel]) -> list[str]:
    lines = []
    for m in missing:
        if m.install_command:
            cause = (
                f"the {m.lang}→en package in {m.failed_package} fails (see the warning above)"
                if m.failed_package
                else f"no {m.lang}→en model installed"
            )
            lines.append(
                f"skipped {m.sentences} {m.lang} sentences: {cause}; "
                f"install it{' again' if m.failed_package else ''} with `{m.install_command}` "
                f"(offline: `{packages.install_file_command()}`), then run again"
            )
        else:
            lines.append(
                f"skipped {m.sentences} sentences in languages Parallax does not translate"
            )
    return lines


def _progress_bar(label: str, total: int) -> Callable[[int], None]:
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="sent", file=sys.stderr, leave=False)

    def advance(n: int) -> None:
        bar.update(n)
        if bar.n >= total:
            bar.close()

    return advance


def _packages_dir(args: argparse.Namespace) -> Path:
    config = load_config(args.config)
    return config.translate.packages_dir or packages.default_packages_dir()


def _models_list(args: argparse.Namespace) -> int:
    folder = _packages_dir(args)
    installed = packages.installed_packages(folder)
    if not installed:
        print(f"no models installed in {folder}")
    for p in installed:
        print(f"{p.from_code}→{p.to_code}  version {p.package_version}  {p.package_path}")
    return 0


def _models_install(args: argparse.Namespace) -> int:
    folder = _packages_dir(args)
    if bool(args.file) == bool(args.langs):
        print("parallax: models install takes LANG... or --file PATH, not both", file=sys.stderr)
        return EXIT_USAGE
    if args.file:
        installed = [packages.install_file(args.file, folder)]
    else:
        installed = [packages.install_online(lang, folder) for lang in args.langs]
    for p in installed:
        print(f"installed {p.from_code}→{p.to_code} version {p.package_version} in {folder}")
    return 0


def _models_remove(args: argparse.Namespace) -> int:
    removed = packages.remove(args.lang, _packages_dir(args))
    print(f"removed {removed.from_code}→{removed.to_code} version {removed.package_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
