"""Files that are not a sane YAML mapping give one line `FILE: ...` and exit code 2, with bounded work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from automl.cli import app
from automl.config.loader import load_pipeline, parse_overrides, read_yaml
from automl.errors import ConfigError
from automl.testing import write_pipeline

runner = CliRunner()

# 9 levels of 9 aliases: 9**9 (~3.9e8) strings once expanded, from a file of a few hundred bytes
LAUGHS = "name: lol\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))

BAD_FILES: dict[str, tuple[bytes, str]] = {
    # file name -> (content, the error line after "FILE: ")
    "latin1.yaml": (b"name: caf\xe9\n", "not UTF-8 text (byte 0xe9 at offset 9, line 1)"),
    "binary.yaml": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8 text (byte 0x89 at offset 0, line 1)"),
    "nul.yaml": (b"name: a\x00b\n", "invalid YAML: unacceptable character #x0000: special characters are not allowed"),
    "empty.yaml": (b"", "expected a mapping, got an empty file"),
    "comments.yaml": (b"# nothing here\n", "expected a mapping, got an empty file"),
    "list.yaml": (b"- a\n- b\n", "expected a mapping at the top level, got ['a', 'b']"),
    "scalar.yaml": (b"hello\n", "expected a mapping at the top level, got 'hello'"),
    "tabs.yaml": (b"name: t\n\tdata: 1\n", "invalid YAML: line 2, column 1: found character '\\t' that cannot "
                                          "start any token"),
    "duplicate.yaml": (b"name: a\nseed: 1\nname: b\n", "name: duplicate key 'name' (lines 1 and 3)"),
    "nested_duplicate.yaml": (b"name: a\nstudy:\n  trials: 3\n  sampler: tpe\n  trials: 5\n",
                              "study.trials: duplicate key 'trials' (lines 3 and 5)"),
    "flow_duplicate.yaml": (b"study: {trials: 3, trials: 5}\n",
                            "study.trials: duplicate key 'trials' (line 1, columns 9 and 20)"),
    "list_key.yaml": (b"name: t\n[a]: b\n", "line 2: expected a plain key (a string), got a list"),
    "mapping_key.yaml": (b"name: t\n? {a: 1}\n: b\n", "line 2: expected a plain key (a string), got a mapping"),
    "laughs.yaml": (LAUGHS.encode(), "e: line 6: more than 50000 values once aliases are expanded "
                                       "(a config needs far fewer)"),
    "recursive.yaml": (b"name: t\na: &a [1, *a]\n", "a.1: line 2: an alias refers to a value that contains it"),
    "deep.yaml": (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "line 1: nested deeper than 64 levels"),
    "huge_int.yaml": (b"name: t\nseed: " + b"9" * 5000 + b"\n",
                      "seed: line 2: expected an integer of at most 100 digits, got 5000 digits"),
    "python_tag.yaml": (b"x: !!python/object/apply:os.system [ls]\n",
                        "invalid YAML: line 1, column 4: could not determine a constructor for the tag "
                        "'tag:yaml.org,2002:python/object/apply:os.system'"),
    "two_documents.yaml": (b"a: 1\n---\nb: 2\n", "invalid YAML: line 2, column 1: but found another document"),
}


def _write(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name][0])
    return str(path)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_one_config_error(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name)
    result = runner.invoke(app, ["validate", path])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"{path}: {BAD_FILES[name][1]}"


def test_billion_laughs_is_refused_before_it_expands(tmp_path: Path) -> None:
    # the file expands to ~3.9e8 strings: only a refusal that never expands it can return at all
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    with pytest.raises(ConfigError, match=r"laughs\.yaml: e: line 6: more than 50000 values"):
        read_yaml(path)


def test_a_few_anchors_and_aliases_still_load(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text("base: &base {epochs: 2, batch_size: 32}\n"
                    "train: {<<: *base, epochs: 3}\n"
                    "choices: &c [sgd, adam]\n"
                    "again: *c\n")
    assert read_yaml(path) == {"base": {"epochs": 2, "batch_size": 32}, "train": {"epochs": 3, "batch_size": 32},
                               "choices": ["sgd", "adam"], "again": ["sgd", "adam"]}


def test_a_directory_is_not_a_yaml_file(tmp_path: Path) -> None:
    folder = tmp_path / "pipe.yaml"
    folder.mkdir()
    code = runner.invoke(app, ["validate", str(folder)])
    assert code.exit_code == 2
    assert code.output.strip() == f"{folder}: expected a YAML file, got a directory"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_refused_without_reading_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it to read would block forever
    with pytest.raises(ConfigError, match=r"pipe\.yaml: expected a YAML file, got a special file"):
        read_yaml(fifo)


def test_a_file_too_large_to_be_a_config(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (5 * 2**20) + b"\n")
    with pytest.raises(ConfigError, match=r"big\.yaml: expected at most 4 MiB, got 5.0 MiB"):
        read_yaml(path)


def test_a_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file: File name too long"):
        read_yaml(tmp_path / ("a" * 5000 + ".yaml"))


def test_a_space_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_bytes(b"block: mlp\nparams: {units: \xff}\n")
    path = write_pipeline(tmp_path, space="space.yaml")
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    assert str(info.value) == "space.yaml: not UTF-8 text (byte 0xff at offset 27, line 2)"


def test_overrides_refuse_duplicate_keys() -> None:
    with pytest.raises(ConfigError) as info:
        parse_overrides(["study={trials: 3, trials: 5}"])
    assert str(info.value) == "--set study.trials: duplicate key 'trials' (line 1, columns 2 and 13)"


def test_overrides_refuse_alias_bombs() -> None:
    bomb = "[&a [x, x, x, x, x, x, x, x], " + ", ".join(
        f"&{b} [{', '.join([f'*{a}'] * 8)}]" for a, b in zip("abcdefg", "bcdefgh", strict=True)) + "]"
    with pytest.raises(ConfigError, match=r"^--set data\.5: line 1: more than 50000 values once aliases"):
        parse_overrides([f"data={bomb}"])


def test_overrides_show_a_bounded_value() -> None:
    with pytest.raises(ConfigError) as info:
        parse_overrides(["x" * 1_000_000])
    assert len(str(info.value)) < 400, str(info.value)[:500]


def test_no_traceback_from_the_real_command(tmp_path: Path) -> None:
    # every bad file at once: one line each on stderr, exit code 2, no traceback
    paths = [_write(tmp_path, name) for name in sorted(BAD_FILES)]
    proc = subprocess.run([sys.executable, "-m", "automl.cli", "validate", *paths], capture_output=True, text=True,
                          timeout=300)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == len(paths), proc.stderr[-3000:]
    for path, line, name in zip(paths, lines, sorted(BAD_FILES), strict=True):
        assert line == f"{path}: {BAD_FILES[name][1]}"


def test_yaml_error_text_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "tag.yaml"
    path.write_text(f"x: !{'t' * 1_000_000} 1\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert len(str(info.value)) < 400 + len(str(path)), str(info.value)[:500]


def test_safe_dump_round_trip_still_loads(tmp_path: Path) -> None:
    doc = {"a": [1, 2.5, "x", None, True], "b": {"c": {"d": [{"e": 1}]}}}
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert read_yaml(path) == doc
