"""The one typed configuration object, loaded from YAML, validated with messages naming the key."""

from __future__ import annotations

import dataclasses
import os
import re
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "default.yaml"
SCHEDULED_CONFIG = PROJECT_ROOT / "config" / "scheduled.yaml"  # `make serve`'s deployment


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range; the message names the key."""


@dataclass(frozen=True)
class PathsConfig:
    output_dir: Path = Path("outputs")
    cache_dir: Path = Path("data/cache")
    keep_runs: int | None = None  # run folders kept in output_dir, newest first; None: all


@dataclass(frozen=True)
class CorpusConfig:
    accumulate: bool = False


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = "*/30 * * * *"
    timezone: str = "UTC"
    interval_seconds: int | None = None  # set: every N seconds instead of the cron
    input_dir: Path = Path("data/inbox")


@dataclass(frozen=True)
class StageTimeouts:
    """Seconds each stage may run as a task of the Prefect flow before the run fails."""

    collect: int = 3600  # only when collect.enabled
    ingest: int = 1800
    segment: int = 1800
    langid: int = 1800
    translate: int = 21600
    embed: int = 21600
    stories: int = 1800
    align: int = 7200
    export: int = 1800


@dataclass(frozen=True)
class FlowConfig:
    stage_timeout_seconds: StageTimeouts = field(default_factory=StageTimeouts)
    # Served runs (make serve) may read and write under these folders only.
    allowed_roots: tuple[Path, ...] = (Path("config"), Path("data"), Path("outputs"))


@dataclass(frozen=True)
class DaskConfig:
    """Where `executor: dask` runs translate's and embed's chunks (flows/cluster.py)."""

    address: str | None = None  # a running scheduler, "tcp://host:8786"; None: a LocalCluster
    workers: int = 2  # the LocalCluster's worker processes (one thread each), started per run


@dataclass(frozen=True)
class IngestConfig:
    max_file_bytes: int = 100 * 1024 * 1024


@dataclass(frozen=True)
class SegmentConfig:
    mode: Literal["auto", "lines"] = "auto"


@dataclass(frozen=True)
class LangidConfig:
    languages: tuple[str, ...] = ("en", "ru", "uk")


@dataclass(frozen=True)
class TranslateConfig:
    target: Literal["en"] = "en"
    packages_dir: Path | None = None
    on_missing_model: Literal["skip", "fail"] = "skip"
    tm_files: tuple[Path, ...] = ()
    beam_size: int = 4
    batch_size: int = 32
    batch_type: Literal["examples", "tokens"] = "examples"
    max_decoding_length: int = 256
    compute_type: str = "auto"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    inter_threads: int = 2
    intra_threads: int = 1


@dataclass(frozen=True)
class EmbedConfig:
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = 64
    device: str = "cpu"
    # torch, or the model exported by sentence-transformers to OpenVINO or ONNX; auto: the
    # fastest on this machine whose vectors match torch's (pipeline/embed_backend.py)
    backend: Literal["torch", "openvino", "onnx", "auto"] = "torch"
    server_socket: Path | None = None  # pipeline/embed_server.py keeps the model loaded there


@dataclass(frozen=True)
class StoriesConfig:
    """When two articles are about one event (pipeline/stories.py)."""

    min_cosine: float = 0.55  # their article vectors at least this close ...
    min_shared_names: float = 0.2  # ... this share of the shorter list of names, figures in both
    # ... and, where each gives two or more figures, this share of the shorter list of figures
    min_shared_figures: float = 0.4
    # ... or, where each names two or more and half of the shorter list are in both, this close
    min_cosine_named: float = 0.4
    window_days: float = 7.0  # ... and published at most this many days apart


@dataclass(frozen=True)
class AlignConfig:
    k: int = 4
    candidates: int = 10
    merge_min_gain: float = 0.0
    group_min_cosine: float = 0.55
    near_translation_cosine: float = 0.7
    near_translation_coverage: float = 0.6
    near_translation_order: float = 0.8
    index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    ann_min_vectors: int = 200_000
    margin_threshold: float = 1.2
    min_cosine: float = 0.55
    min_cosine_shared_figure: float = 0.5


@dataclass(frozen=True)
class CollectConfig:
    """`parallax collect` and the scheduled flow's collect task: where sources are listed,
    where records go, and how politely pages are fetched."""

    enabled: bool = False  # the scheduled flow collects before each run
    sources: Path = Path("config/sources.yaml")
    inbox: Path = Path("data/inbox")
    user_agent: str = "Parallax/0.1 (news alignment; offline research tool)"
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 30.0
    max_page_bytes: int = 5_000_000
    max_redirects: int = 5
    per_host_delay_seconds: float = 1.0
    max_concurrent_requests: int = 8  # across hosts; one host gets one request at a time
    retries: int = 2
    backoff_seconds: float = 1.0


@dataclass(frozen=True)
class BoilerplateConfig:
    """What a source must repeat for a sentence to be its boilerplate (pipeline/boilerplate.py)."""

    min_articles: int = 2  # in at least this many of the source's articles ...
    min_share: float = 0.5  # ... and this share of them
    tail_words: int = 4  # a sign-off: these last words, naming someone, end such sentences


@dataclass(frozen=True)
class Config:
    paths: PathsConfig = field(default_factory=PathsConfig)
    collect: CollectConfig = field(default_factory=CollectConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    # local: translate and embed in the run's process; dask: their chunks as Dask tasks on a
    # cluster, through prefect-dask (the flow only: flows/cluster.py)
    executor: Literal["local", "dask"] = "local"
    dask: DaskConfig = field(default_factory=DaskConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    boilerplate: BoilerplateConfig = field(default_factory=BoilerplateConfig)
    langid: LangidConfig = field(default_factory=LangidConfig)
    translate: TranslateConfig = field(default_factory=TranslateConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    stories: StoriesConfig = field(default_factory=StoriesConfig)
    align: AlignConfig = field(default_factory=AlignConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for run.json."""
        return _plain(dataclasses.asdict(self))


CORES = os.cpu_count() or 1
TORCH_DEVICE = re.compile(r"cpu|cuda(:\d+)?|mps")


def _detectable(code: str) -> bool:
    """Whether lingua, the language detector, has a language with this ISO 639-1 code."""
    from lingua import IsoCode639_1

    try:
        IsoCode639_1.from_str(code)
    except ValueError:
        return False
    return code == code.lower()  # sentences are labelled with lower-case codes


# Bounds checked after types: (section, key) -> (test, what the key expects).
_RANGES: dict[tuple[str, str], tuple[typing.Callable[[Any], bool], str]] = {
    ("dask", "workers"): (lambda v: v >= 1, "an integer >= 1"),
    ("dask", "address"): (
        lambda v: v is None or bool(v.strip()),
        "a scheduler address (tcp://host:8786) or null",
    ),
    ("ingest", "max_file_bytes"): (lambda v: v > 0, "a positive number of bytes"),
    ("collect", "connect_timeout_seconds"): (lambda v: v > 0, "a positive number of seconds"),
    ("collect", "read_timeout_seconds"): (lambda v: v > 0, "a positive number of seconds"),
    ("collect", "max_page_bytes"): (lambda v: v > 0, "a positive number of bytes"),
    ("collect", "max_redirects"): (lambda v: v >= 0, "an integer >= 0"),
    ("collect", "per_host_delay_seconds"): (lambda v: v >= 0, "a number of seconds >= 0"),
    ("collect", "max_concurrent_requests"): (lambda v: v >= 1, "an integer >= 1"),
    ("collect", "retries"): (lambda v: v >= 0, "an integer >= 0"),
    ("collect", "backoff_seconds"): (lambda v: v >= 0, "a number of seconds >= 0"),
    ("flow", "allowed_roots"): (lambda v: len(v) > 0, "a non-empty list of folders"),
    ("schedule", "interval_seconds"): (lambda v: v is None or v >= 1, "an integer >= 1 or null"),
    ("paths", "keep_runs"): (
        lambda v: v is None or v >= 1,
        "an integer >= 1 (run folders kept, newest first) or null (keep every run)",
    ),
    **{
        ("flow.stage_timeout_seconds", stage.name): (lambda v: v >= 1, "seconds, an integer >= 1")
        for stage in dataclasses.fields(StageTimeouts)
    },
    ("stories", "min_cosine"): (lambda v: -1 <= v <= 1, "a cosine between -1 and 1"),
    ("stories", "min_shared_names"): (lambda v: 0 <= v <= 1, "a share between 0 and 1"),
    ("stories", "min_shared_figures"): (lambda v: 0 <= v <= 1, "a share between 0 and 1"),
    ("stories", "min_cosine_named"): (lambda v: -1 <= v <= 1, "a cosine between -1 and 1"),
    ("stories", "window_days"): (lambda v: v > 0, "a positive number of days"),
    ("boilerplate", "min_articles"): (lambda v: v >= 2, "an integer >= 2"),
    ("boilerplate", "min_share"): (lambda v: 0 <= v <= 1, "a share between 0 and 1"),
    ("boilerplate", "tail_words"): (lambda v: v >= 2, "an integer >= 2"),
    ("translate", "beam_size"): (lambda v: v >= 1, "an integer >= 1"),
    ("translate", "batch_size"): (lambda v: v >= 1, "an integer >= 1"),
    ("translate", "max_decoding_length"): (lambda v: v >= 1, "an integer >= 1"),
    ("translate", "inter_threads"): (
        lambda v: 1 <= v <= CORES,
        f"an integer from 1 to {CORES} (the cores of this machine)",
    ),
    ("translate", "intra_threads"): (
        lambda v: 0 <= v <= CORES,
        f"an integer from 0 (all cores) to {CORES} (the cores of this machine)",
    ),
    ("embed", "device"): (
        lambda v: TORCH_DEVICE.fullmatch(v) is not None,
        "a torch device for sentence-transformers: cpu, cuda, cuda:N or mps",
    ),
    ("embed", "batch_size"): (lambda v: v >= 1, "an integer >= 1"),
    # With k = 1 a mutual best pair's cosine is its own neighbourhood: every margin is 1.0.
    ("align", "k"): (lambda v: v >= 2, "an integer >= 2 (with k = 1 every margin is 1.0)"),
    ("align", "candidates"): (lambda v: v >= 1, "an integer >= 1"),
    ("align", "ann_min_vectors"): (lambda v: v >= 1, "an integer >= 1"),
    ("align", "margin_threshold"): (lambda v: v >= 0, "a number >= 0 (ratio margin, ~1.0-1.5)"),
    ("align", "min_cosine"): (lambda v: -1 <= v <= 1, "a number between -1 and 1"),
    ("align", "min_cosine_shared_figure"): (lambda v: -1 <= v <= 1, "a number between -1 and 1"),
    ("align", "merge_min_gain"): (lambda v: 0 <= v <= 1, "a number between 0 and 1"),
    ("align", "group_min_cosine"): (lambda v: -1 <= v <= 1, "a number between -1 and 1"),
    ("align", "near_translation_cosine"): (lambda v: -1 <= v <= 1, "a number between -1 and 1"),
    ("align", "near_translation_coverage"): (lambda v: 0 <= v <= 1, "a share between 0 and 1"),
    ("align", "near_translation_order"): (lambda v: 0 <= v <= 1, "a share between 0 and 1"),
    ("langid", "languages"): (
        lambda v: len(v) > 0 and all(_detectable(code) for code in v),
        "a non-empty list of language codes the detector knows (ISO 639-1: en, ru, uk, ...)",
    ),
    ("translate", "tm_files"): (
        lambda v: all(p.is_file() for p in v),
        "existing TMX/TSV/CSV files",
    ),
}


def load_config(
    path: Path | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> Config:
    """Load `path` over the built-in defaults (the dataclasses above).

    Without `path`: config/default.yaml where the project checkout has it (so editing it takes
    effect), else the built-in defaults, which that file mirrors (a test holds them equal), so an
    installed wheel works without the file. `overrides` ({section: {key: value}}, e.g. from
    command-line flags) win over the file and are validated the same way.

    Raises ConfigError, with one line naming the file or key, for a missing, unreadable,
    non-UTF-8 or malformed file and for any bad value.
    """
    if path is None:
        data = _read_yaml(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else {}
    else:
        data = _read_yaml(path)
    for section, values in (overrides or {}).items():
        if not isinstance(data.get(section), dict):
            data[section] = {}
        data[section].update(values)
    return config_from_dict(data)


def _read_yaml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError(f"config {path} is a folder, not a file")
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at "
            f"offset {error.start})"
        ) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(error)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one line: what is wrong, and where."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(error).split())


def config_from_dict(data: dict[str, Any]) -> Config:
    config = _build(Config, data, prefix="")
    _check_backend(config.embed)
    return config


def _check_backend(embed: EmbedConfig) -> None:
    """embed.backend against embed.device and what is installed, before a run writes anything
    (pipeline/embed_backend.py says why onnx cannot be installed here)."""
    from pipeline.embed_backend import BackendError, require_backend

    if embed.backend != "auto":
        try:
            require_backend(embed.backend, embed.device)
        except BackendError as error:
            raise ConfigError(str(error)) from None


def typed_record(cls: type, data: Any, prefix: str) -> Any:
    """`data` (a mapping from YAML) as the dataclass `cls`, checked as the configuration is:
    ConfigError names the first unknown key or bad value, under `prefix` ("sources[2].")."""
    return _build(cls, data, prefix)


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "config"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key (known: {', '.join(sorted(fields))})")
    values = {}
    for name in fields & set(data):
        key = f"{prefix}{name}"
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, data[name], prefix=f"{key}.")
        else:
            values[name] = _coerce(key, hint, data[name])
            section = prefix.rstrip(".")
            check = _RANGES.get((section, name))
            if check and not check[0](values[name]):
                raise ConfigError(f"{key}: expected {check[1]}, got {_shown(data[name])}")
    return cls(**values)


def _coerce(key: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(key, inner, value)
    if origin is Literal:
        if value not in args:
            choices = " | ".join(str(a) for a in args)
            raise ConfigError(f"{key}: expected one of {choices}, got {_shown(value)}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {_shown(value)}")
        return tuple(_coerce(f"{key}[{i}]", args[0], item) for i, item in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {_shown(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {_shown(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {_shown(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {_shown(value)}")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a path, got {_shown(value)}")
        return Path(value)
    raise TypeError(f"config field {key} has an unsupported type {hint!r}")


# A value shown in an error is cut short: a YAML alias bomb of a few hundred bytes expands to
# gigabytes once printed whole.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 2, 4, 4
_SHORT.maxstring = _SHORT.maxother = 60


def _shown(value: Any) -> str:
    return _SHORT.repr(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
