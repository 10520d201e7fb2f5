"""Read pipeline and space YAML, apply ``--set`` overrides, validate, and report file:key errors."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from automl._text import show
from automl.config.errors import config_error
from automl.config.models import PipelineConfig
from automl.errors import ConfigError
from automl.space.space import SpaceFile

# Keys whose string values are file paths: relative to the YAML file that wrote them, or to the working
# directory when given on the command line.
PATH_KEYS = ("data.path", "space", "distill.student")


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
        """The resolved pipeline (overrides applied, space inlined) as YAML."""
        raw = copy.deepcopy(self.raw)
        raw["space"] = self.space.model_dump(mode="json", exclude_defaults=True)
        return yaml.safe_dump(raw, sort_keys=False)


def read_yaml(path: str | Path) -> Any:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"file not found: {p}", file=str(path))
    try:
        return yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML: {where}{problem}", file=str(path)) from None


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["study.trials=5", "data.source=csv"]`` -> ``{"study.trials": 5, ...}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected dotted.key=value, got {item!r}", path="--set")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"value is not valid YAML, got {value!r}", path=f"--set {key}") from None
    return out


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
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"cannot set {dotted}: {where} is {show(nxt)}, not a mapping", file=file, path=dotted)
        node = nxt
    node[parts[-1]] = value


def _absolute(value: Any, base: Path) -> Any:
    if isinstance(value, str) and value and not os.path.isabs(value):
        return str((base / value).resolve())
    return value


def _shown(path: str) -> str:
    """A path as errors show it: relative to the working directory when it is below it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def load_pipeline(
    path: str | Path, overrides: Mapping[str, Any] | Iterable[str] | None = None
) -> Pipeline:
    """Load, override and validate a pipeline file and its space.

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
    for key, value in (overrides or {}).items():
        _set(raw, key, _absolute(value, Path.cwd()) if key in PATH_KEYS else value, file)
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error(exc, PipelineConfig, file=file) from None
    if isinstance(config.space, str):
        space_file, prefix = _shown(config.space), ""
        space_raw = read_yaml(space_file)
    else:
        space_file, prefix, space_raw = file, "space.", config.space
    space = load_space(space_raw, file=space_file, prefix=prefix)
    if config.data.path is not None and not Path(config.data.path).exists():
        raise ConfigError(f"file not found: {_shown(str(config.data.path))}", file=file, path="data.path")
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
