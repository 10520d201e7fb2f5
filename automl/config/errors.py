"""Turn pydantic's errors into the project's one-line ``FILE: key.path: what must hold, got VALUE``."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from automl._text import did_you_mean, show
from automl.errors import ConfigError

_TAGS = {"int", "float", "categorical", "fixed"}
_KEY_PREFIX = re.compile(r"^\[([A-Za-z_][\w.]*)\]\s*")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, dict, list):
        out: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            out += _models_in(arg)
        return out
    return []


def _keys_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` accepts (for did-you-mean), best effort."""
    models: list[type[BaseModel]] = [root]
    for part in loc:
        nxt: list[type[BaseModel]] = []
        for m in models:
            if part in m.model_fields:
                nxt += _models_in(m.model_fields[part].annotation)
            else:  # a dict key (a param name): stay on the dict's value models
                nxt.append(m)
        models = nxt
    keys: set[str] = set()
    for m in models:
        keys |= set(m.model_fields)
    return sorted(keys)


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for i, part in enumerate(loc):
        prev = loc[i - 1] if i >= 1 else None
        prev2 = loc[i - 2] if i >= 2 else None
        if part in _TAGS and (prev == "block" or prev2 == "params"):
            continue  # pydantic puts the union's tag in the location; users never wrote it
        out.append(part)
    return tuple(out)


def _message(err: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    loc: tuple[Any, ...] = ()
    got = f", got {show(value)}"
    if kind == "missing":
        return "required key is missing", loc
    if kind == "greater_than":
        if ctx.get("gt") == 0 and isinstance(value, int | str) and not isinstance(value, bool):
            return f"expected a positive integer{got}" if isinstance(value, int) else f"expected a number > 0{got}", loc
        return f"expected a value > {ctx.get('gt')}{got}", loc
    if kind == "greater_than_equal":
        return f"expected a value >= {ctx.get('ge')}{got}", loc
    if kind == "less_than":
        return f"expected a value < {ctx.get('lt')}{got}", loc
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected an integer{got}", loc
    if kind in ("float_type", "float_parsing"):
        return f"expected a number{got}", loc
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false{got}", loc
    if kind == "string_type":
        return f"expected a string{got}", loc
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping{got}", loc
    if kind == "list_type":
        return f"expected a list{got}", loc
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}{got}", loc
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = value.get("type") if isinstance(value, dict) else value
        return f"expected `type` to be one of int, float, categorical, got {show(tag)}", loc
    if kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        m = _KEY_PREFIX.match(msg)
        if m:
            loc = tuple(m.group(1).split("."))
            msg = msg[m.end():]
        return msg, loc
    return f"{err['msg'][0].lower()}{err['msg'][1:]}{got}", loc


def config_error(exc: ValidationError, model: type[BaseModel], *, file: str, prefix: str = "") -> ConfigError:
    """One :class:`ConfigError` whose message has one line per problem, each naming file and key."""
    lines: list[str] = []
    first_path = None
    for err in exc.errors():
        loc = _clean_loc(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            keys = _keys_at(model, loc[:-1])
            msg = f"unknown key{did_you_mean(key, keys)} (keys: {', '.join(keys)})"
        else:
            msg, extra = _message(dict(err))
            loc = loc + extra
        path = prefix + ".".join(str(p) for p in loc)
        first_path = first_path or path
        lines.append(f"{file}: {path}: {msg}" if path else f"{file}: {msg}")
    error = ConfigError("\n".join(lines))
    error.file, error.path = file, first_path
    return error
