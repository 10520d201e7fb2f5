"""Read pipeline and space YAML, apply ``--set`` overrides, validate, and report file:key errors."""

from __future__ import annotations

import copy
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from automl._text import clip, first_line, show
from automl.config.errors import config_error
from automl.config.models import PipelineConfig
from automl.errors import ConfigError
from automl.space.space import SpaceFile
from automl.store.access import redact

# Keys whose string values are file paths: relative to the YAML file that wrote them, or to the working
# directory when given on the command line.
PATH_KEYS = ("data.path", "data.validation_path", "data.test_path", "space", "distill.student")


@dataclass
class Pipeline:
    """A validated pipeline with its space file, ready for :func:`automl.tune`."""

    config: PipelineConfig
    file: str
    space: SpaceFile
    space_file: str
    space_prefix: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    def to_yaml(self) -> str:
        """The resolved pipeline (overrides applied, space inlined) as YAML, as automl logs it: the password of
        ``study.storage`` is masked (``***``)."""
        raw = copy.deepcopy(self.raw)
        raw["space"] = self.space.model_dump(mode="json", exclude_defaults=True)
        study = raw.get("study")
        if isinstance(study, dict) and isinstance(study.get("storage"), str):
            study["storage"] = redact(study["storage"])
        return yaml.safe_dump(raw, sort_keys=False)


# Bounds on what one config file may cost to read. A pipeline is a few hundred values; pure-Python YAML
# composes ~20k values a second, and aliases let a 400-byte file stand for 10**9 values ("billion laughs")
# that validation or an error message would then walk.
MAX_BYTES = 4 * 2**20
MAX_VALUES = 50_000
MAX_DEPTH = 64
MAX_INT_DIGITS = 100
# errors quote keys and file names up to these lengths
_KEY_CHARS = 80
_FILE_CHARS = 300
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(yaml.YAMLError):
    """A document :class:`_SafeLoader` will not build: ``message`` at ``path`` (keys from the document's root)."""

    def __init__(self, message: str, path: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = ".".join(clip(str(p), _KEY_CHARS) for p in path)


def _line(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}" if mark is not None else "line ?"


class _SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with bounded work and no silent overwrite.

    Refuses nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_VALUES` values once aliases are
    expanded (each use of an alias counts its whole value), an alias inside its own value, integers of more
    than :data:`MAX_INT_DIGITS` digits, keys that are lists or mappings, and a key given twice in one mapping.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._composed += 1
        if self._depth >= MAX_DEPTH or self._composed > MAX_VALUES:
            where = _line(self.peek_event().start_mark)
            if self._depth >= MAX_DEPTH:
                raise _Refused(f"{where}: nested deeper than {MAX_DEPTH} levels")
            raise _Refused(f"{where}: more than {MAX_VALUES} values")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: yaml.Node) -> Any:
        self._check(node, (), {}, set())
        return super().construct_document(node)

    def _check(self, node: yaml.Node, path: tuple[Any, ...], sizes: dict[int, int], open_: set[int]) -> int:
        """The number of values ``node`` stands for, aliases expanded; raises :class:`_Refused`.

        ``sizes`` remembers every node already counted, so the walk costs the size of the file, not of the
        expansion.
        """
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_:
            raise _Refused(f"{_line(node.start_mark)}: an alias refers to a value that contains it", path)
        open_.add(id(node))
        size = 1
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG and len(node.value) > MAX_INT_DIGITS:
                raise _Refused(f"{_line(node.start_mark)}: expected an integer of at most {MAX_INT_DIGITS} digits, "
                               f"got {len(node.value)} digits", path)
        elif isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                size += self._check(child, (*path, i), sizes, open_)
        elif isinstance(node, yaml.MappingNode):
            size += self._check_mapping(node, path, sizes, open_)
        if size > MAX_VALUES:
            raise _Refused(f"{_line(node.start_mark)}: more than {MAX_VALUES} values once aliases are expanded "
                           "(a config needs far fewer)", path)
        open_.discard(id(node))
        sizes[id(node)] = size
        return size

    def _check_mapping(self, node: yaml.MappingNode, path: tuple[Any, ...], sizes: dict[int, int],
                       open_: set[int]) -> int:
        size = 0
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *base`: merged keys may be overridden, they are no duplicates
                size += self._check(value_node, path, sizes, open_)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                raise _Refused(f"{_line(key_node.start_mark)}: expected a plain key (a string), got a {kind}", path)
            key = self.construct_object(key_node)
            first = seen.setdefault(key, key_node)
            if first is not key_node:
                a, b = first.start_mark, key_node.start_mark
                where = (f"line {a.line + 1}, columns {a.column + 1} and {b.column + 1}" if a.line == b.line
                         else f"lines {a.line + 1} and {b.line + 1}")
                raise _Refused(f"duplicate key {show(key)} ({where})", (*path, key))
            size += 1 + self._check(value_node, (*path, key), sizes, open_)
        return size


def _parse(text: str) -> Any:
    """The one YAML document in ``text``, read with :class:`_SafeLoader`."""
    loader = _SafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _problem(exc: yaml.YAMLError) -> str:
    """``line 3, column 5: found ...`` for a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or first_line(exc)
    return clip(f"{where}{problem}")


def _read_text(path: Path, file: str) -> str:
    """The UTF-8 text of a regular file of at most :data:`MAX_BYTES`."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError, ValueError):
        raise ConfigError(f"file not found: {clip(str(path), _FILE_CHARS)}", file=file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", file=file) from None
    if stat.S_ISDIR(mode):
        raise ConfigError("expected a YAML file, got a directory", file=file)
    if not stat.S_ISREG(mode):  # a pipe or a device: reading it may block or never end
        raise ConfigError("expected a YAML file, got a special file (a pipe, socket or device)", file=file)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", file=file) from None
    if len(data) > MAX_BYTES:
        size = max(path.stat().st_size, len(data))
        raise ConfigError(f"expected at most {MAX_BYTES // 2**20} MiB, got {size / 2**20:.1f} MiB", file=file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}, line {line})",
                          file=file) from None


def read_yaml(path: str | Path) -> Any:
    """The YAML document of a pipeline or space file; any file that is not one raises :class:`ConfigError`.

    Reading is bounded (file size, nesting, values after aliases) and refuses duplicate keys.
    """
    file = clip(str(path), _FILE_CHARS)  # a bogus path may be a megabyte long
    text = _read_text(Path(path), file)
    try:
        data = _parse(text)
    except _Refused as exc:
        raise ConfigError(exc.message, file=file, path=exc.path or None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {_problem(exc)}", file=file) from None
    if data is None:
        raise ConfigError("expected a mapping, got an empty file", file=file)
    return data


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["study.trials=5", "data.source=csv"]`` -> ``{"study.trials": 5, ...}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected dotted.key=value, got {show(item)}", path="--set")
        key = key.strip()
        where = f"--set {clip(key, _KEY_CHARS)}"
        try:
            out[key] = _parse(value) if value.strip() else None
        except _Refused as exc:
            raise ConfigError(exc.message, path=f"{where}.{exc.path}" if exc.path else where) from None
        except yaml.YAMLError:
            raise ConfigError(f"value is not valid YAML, got {show(value)}", path=where) from None
    return out


# Keys that only steer a tuning session (how many trials, how they are drawn and run): a verb that trains
# nothing (export) refuses them rather than ignoring them.
SESSION_ONLY = ("study.trials", "study.workers", "study.timeout", "study.trial_timeout", "study.sampler",
                "study.pruner", "study.enqueue", "study.from_study", "distill.trials")


def refuse_session_keys(overrides: Mapping[str, Any] | Iterable[str] | None, verb: str) -> None:
    """Raise ConfigError (``--set study.trials: ...``) for an override of a :data:`SESSION_ONLY` key."""
    if overrides is None:
        return
    keys = overrides if isinstance(overrides, Mapping) else parse_overrides(overrides)
    for key in keys:
        if any(key == k or key.startswith(f"{k}.") for k in SESSION_ONLY):
            raise ConfigError(f"{verb} trains nothing, so {clip(key, _KEY_CHARS)} has no meaning here (it steers a "
                              "tuning session: `automl run`)", path=f"--set {clip(key, _KEY_CHARS)}")


#: overrides applied after the file and ``--set``, whitespace-separated ``key=value`` items (shell quoting):
#: the docs test runs every documented command at tiny budgets with ``study.trials=1 train.epochs=1 ...``
SET_ENV = "AUTOML_SET"
# sections that make `automl run` run a stage: AUTOML_SET tunes them where a pipeline has them, never adds them
_STAGES = ("distill", "export")


def env_overrides(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides of :data:`SET_ENV` that apply to ``raw`` (a key under a stage it lacks is left out)."""
    import shlex

    text = os.environ.get(SET_ENV, "")
    try:
        items = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"expected key=value items, got {show(text)} ({exc})", path=SET_ENV) from None
    try:
        parsed = parse_overrides(items)
    except ConfigError as exc:
        raise ConfigError(exc.detail, path=(exc.path or "").replace("--set", SET_ENV, 1)) from None
    return {k: v for k, v in parsed.items() if k.split(".")[0] not in _STAGES or k.split(".")[0] in raw}


def _get(raw: Mapping[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _set(raw: dict[str, Any], dotted: str, value: Any, file: str) -> None:
    parts = dotted.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            where, key = clip(".".join(parts[: i + 1]), _KEY_CHARS), clip(dotted, _KEY_CHARS)
            raise ConfigError(f"cannot set {key}: {where} is {show(nxt)}, not a mapping", file=file, path=key)
        node = nxt
    node[parts[-1]] = value


def _absolute(value: Any, base: Path) -> Any:
    if isinstance(value, str) and value and not os.path.isabs(value):
        return str((base / value).resolve())
    return value


def _absolute_builder(value: Any) -> Any:
    """``my_models.py:build`` with the file made absolute (relative to the working directory); anything else as is."""
    from automl.builders.user import SEP, is_file_reference

    if is_file_reference(value):
        module, _, function = str(value).rpartition(SEP)
        return f"{_absolute(module, Path.cwd())}{SEP}{function}"
    return value


def _shown(path: str) -> str:
    """A path as errors show it: relative to the working directory when it is below it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the file system names no file
        return False


def load_pipeline(
    path: str | Path, overrides: Mapping[str, Any] | Iterable[str] | None = None, *, check_data: bool = True
) -> Pipeline:
    """Load, override and validate a pipeline file and its space. ``check_data=False`` skips the check that
    the data files exist (``automl predict`` needs the pipeline's names, not its training data).

    >>> p = load_pipeline("pipelines/quickstart.yaml", {"study.trials": 5})  # doctest: +SKIP
    """
    file = str(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping at the top level, got {show(raw)}", file=file)
    base = Path(path).resolve().parent
    for key in PATH_KEYS:
        value = _get(raw, key)
        if isinstance(value, str):
            _set(raw, key, _absolute(value, base), file)
    if overrides is not None and not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    into_space: dict[str, Any] = {}  # overrides of keys inside a space file: applied to the space once it is read
    for key, value in {**(overrides or {}), **env_overrides(raw)}.items():
        if key in PATH_KEYS:
            value = _absolute(value, Path.cwd())
        elif key == "space.block":  # a builder file given on the command line is relative to the working directory
            value = _absolute_builder(value)
        if key.startswith("space.") and isinstance(raw.get("space"), str):
            into_space[key] = value
            continue
        _set(raw, key, value, file)
    for key in PATH_KEYS:
        value = _get(raw, key)
        if isinstance(value, str) and not value.strip():  # "" would name the working directory
            raise ConfigError(f"expected a file name, got {show(value)}", file=file, path=key)
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error(exc, PipelineConfig, file=file) from None
    if isinstance(config.space, str):
        space_file, prefix = _shown(config.space), ""
        space_raw = read_yaml(space_file)
        if into_space:  # `--set space.params.units=...` changes the loaded space (and what MLflow logs of it)
            if not isinstance(space_raw, dict):
                raise ConfigError(f"cannot set {next(iter(into_space))}: the space file holds {show(space_raw)}, "
                                  "not a mapping", file=space_file)
            space_raw = copy.deepcopy(space_raw)
            for key, value in into_space.items():
                _set(space_raw, key.removeprefix("space."), value, file)
    else:
        space_file, prefix, space_raw = file, "space.", config.space
    space = load_space(space_raw, file=space_file, prefix=prefix)
    for key in ("path", "validation_path", "test_path"):
        given = getattr(config.data, key)
        if check_data and given is not None and not _exists(given):
            raise ConfigError(f"file not found: {clip(_shown(str(given)), _FILE_CHARS)}", file=file,
                              path=f"data.{key}")
    student = config.distill.student if config.distill is not None else None
    if isinstance(student, str):  # read when the study ends: check it now, not after hours of trials
        shown = clip(_shown(student), _FILE_CHARS)
        if not _exists(Path(student)):
            raise ConfigError(f"file not found: {shown}", file=file, path="distill.student")
        if Path(student).is_dir():
            raise ConfigError(f"expected a YAML file, got a directory: {shown}", file=file, path="distill.student")
    return Pipeline(config=config, file=file, space=space, space_file=space_file, space_prefix=prefix, raw=raw)


def load_space(raw: Any, *, file: str, prefix: str = "") -> SpaceFile:
    """Validate a space mapping (from a file or inline); errors name ``file`` and ``prefix`` + key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping with `block` and `params`, got {show(raw)}", file=file,
                          path=prefix.rstrip(".") or None)
    try:
        return SpaceFile.model_validate(raw)
    except ValidationError as exc:
        raise config_error(exc, SpaceFile, file=file, prefix=prefix) from None


def load_space_file(path: str | Path) -> SpaceFile:
    return load_space(read_yaml(path), file=str(path))
