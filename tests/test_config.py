from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_config_file_matches_built_in_defaults():
    from pipeline.config import Config

    assert load_config() == Config()


def test_yaml_values_override_defaults_and_are_typed(tmp_path):
    config = load_config(
        write(tmp_path, "align:\n  k: 8\n  margin_threshold: 2\npaths:\n  output_dir: out\n")
    )
    assert config.align.k == 8
    assert config.align.margin_threshold == 2.0 and isinstance(config.align.margin_threshold, float)
    assert config.paths.output_dir == Path("out")
    assert config.translate.beam_size == 4  # untouched default


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("align:\n  kay: 3\n", "align.kay: unknown key"),
        ("colour: red\n", "colour: unknown key"),
        ("translate:\n  beam_size: wide\n", "translate.beam_size: expected an integer"),
        ("translate:\n  beam_size: true\n", "translate.beam_size: expected an integer"),
        ("align:\n  margin_threshold: -1\n", "align.margin_threshold: expected a number >= 0"),
        ("align:\n  k: 1\n", "align.k: expected an integer >= 2"),
        ("align:\n  min_cosine: 3\n", "align.min_cosine: expected a number between -1 and 1"),
        ("segment:\n  mode: words\n", "segment.mode: expected one of auto | lines"),
        ("translate:\n  tm_files: [missing.tsv]\n", "translate.tm_files: expected existing"),
        ("langid:\n  languages: []\n", "langid.languages: expected a non-empty list"),
        ("align: 3\n", "align: expected a mapping"),
        (
            "translate:\n  inter_threads: 100000\n",
            "translate.inter_threads: expected an integer from 1 to",
        ),
        (
            "translate:\n  intra_threads: 100000\n",
            "translate.intra_threads: expected an integer from 0",
        ),
        (
            "langid:\n  languages: [en, xx]\n",
            "langid.languages: expected a non-empty list of language codes the detector knows",
        ),
        ("langid:\n  languages: [EN]\n", "langid.languages: expected a non-empty list"),
        ("embed:\n  device: meta\n", "embed.device: expected a torch device"),
        (
            "schedule:\n  interval_seconds: 0\n",
            "schedule.interval_seconds: expected an integer >= 1",
        ),
        ("paths:\n  keep_runs: 0\n", "paths.keep_runs: expected an integer >= 1"),
        ("paths:\n  keep_runs: all\n", "paths.keep_runs: expected an integer"),
        (
            "flow:\n  stage_timeout_seconds:\n    translate: 0\n",
            "flow.stage_timeout_seconds.translate: expected seconds, an integer >= 1",
        ),
        ("flow:\n  stage_timeout_seconds:\n    dedupe: 9\n", "flow.stage_timeout_seconds.dedupe"),
        ("- a\n- b\n", "expected a mapping of sections"),
    ],
)
def test_bad_values_name_the_key_and_what_it_expects(tmp_path, yaml_text, message):
    with pytest.raises(ConfigError, match=message.replace("|", r"\|")):
        load_config(write(tmp_path, yaml_text))


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_win_over_the_file_and_are_validated(tmp_path):
    path = write(tmp_path, "segment:\n  mode: auto\n")
    assert load_config(path, {"segment": {"mode": "lines"}}).segment.mode == "lines"
    with pytest.raises(ConfigError, match="segment.mode"):
        load_config(path, {"segment": {"mode": "paragraphs"}})


def test_a_yaml_alias_bomb_is_named_by_its_key_not_printed(tmp_path):
    """352 bytes of nested aliases stand for 9**9 strings; the error must not print them."""
    layers = ["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        layers.append(f"&l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    bomb = "translate:\n  beam_size: [" + ", ".join(layers) + "]\n"
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, bomb))
    message = str(raised.value)
    assert message.startswith("translate.beam_size: expected an integer, got [")
    assert len(message) < 200
