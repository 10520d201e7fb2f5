"""Turn pydantic's errors into the project's one-line ``FILE: key.path: what must hold, got VALUE``."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from automl._text import clip, did_you_mean, show
from automl.errors import ConfigError

_TAGS = {"int", "float", "categorical", "fixed"}
_KEY_PREFIX = re.compile(r"^\[([A-Za-z_][\w.]*)\]\s*")
# A key is quoted in full up to this length; a message (values are already cut by `show`) up to the other,
# for validators that quote a value whole.
_KEY_CHARS = 80
_MESSAGE_CHARS = 300


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


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """``Annotated[X | None, Field(le=3)]`` -> ``(X, [<le=3 constraints>])``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for item in extra:  # a Field(...) in Annotated keeps its constraints in .metadata
                metadata = metadata + list(getattr(item, "metadata", [item]))
        elif origin in (typing.Union, types.UnionType) and len(_members(annotation)) == 1:
            annotation = _members(annotation)[0]
        else:
            return annotation, metadata


def _members(annotation: Any) -> list[Any]:
    """The members of a union (None left out), or ``[annotation]``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _field_at(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, list[Any]] | None:
    """The type and constraints (``annotated_types.Le``, ...) of the value at ``loc``, or None (best effort)."""
    annotation: Any = root
    metadata: list[Any] = []
    for part in loc:
        annotation, metadata = _unwrap(annotation, metadata)
        models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)
                  and part in m.model_fields]
        if models:
            info = models[0].model_fields[part]
            annotation, metadata = info.annotation, list(info.metadata)
        elif typing.get_origin(annotation) is list and isinstance(part, int):
            annotation, metadata = typing.get_args(annotation)[0], []
        elif typing.get_origin(annotation) is dict:
            annotation, metadata = typing.get_args(annotation)[1], []
        else:
            return None
    return _unwrap(annotation, metadata)


def _upper_bound(root: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The ``le`` bound of the field at ``loc``, or None."""
    field = _field_at(root, loc)
    return None if field is None else next((m.le for m in field[1] if getattr(m, "le", None) is not None), None)


def _union_member(root: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    """Whether ``loc`` ends with pydantic's label of a union member (``space.str``, ``space.dict[str,any]``)."""
    if not loc or not isinstance(loc[-1], str):
        return False
    field = _field_at(root, loc[:-1])
    return field is not None and len(_members(field[0])) > 1 and _field_at(root, loc) is None


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for i, part in enumerate(loc):
        prev = loc[i - 1] if i >= 1 else None
        prev2 = loc[i - 2] if i >= 2 else None
        if part in _TAGS and (prev == "block" or prev2 == "params"):
            continue  # pydantic puts the union's tag in the location; users never wrote it
        out.append(part)
    return tuple(out)


def _message(err: dict[str, Any], field: tuple[Any, list[Any]] | None) -> tuple[str, tuple[Any, ...]]:
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    loc: tuple[Any, ...] = ()
    got = f", got {show(value)}"
    if kind == "missing":
        return "required key is missing", loc
    if kind == "greater_than":
        is_int = field[0] is int if field is not None else isinstance(value, int) and not isinstance(value, bool)
        if ctx.get("gt") == 0 and is_int:
            return f"expected a positive integer{got}", loc
        return f"expected a value > {show(ctx.get('gt'))}{got}", loc
    if kind == "greater_than_equal":
        return f"expected a value >= {show(ctx.get('ge'))}{got}", loc
    if kind == "less_than":
        return f"expected a value < {show(ctx.get('lt'))}{got}", loc
    if kind == "less_than_equal":
        return f"expected a value <= {show(ctx.get('le'))}{got}", loc
    if kind == "finite_number":
        return f"expected a finite number{got}", loc
    if kind in ("too_short", "too_long"):
        bound, n = ("least", ctx.get("min_length")) if kind == "too_short" else ("most", ctx.get("max_length"))
        return f"expected at {bound} {n} item{'' if n == 1 else 's'}{got}", loc
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
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


def _merge_union(lines: list[tuple[tuple[Any, ...], str]], value: Any) -> tuple[tuple[Any, ...], str]:
    """One line for the members of a union that all refused ``value``: ``expected a string or a mapping, got 5``."""
    got = f", got {show(value)}"
    wants = [msg.removesuffix(got) for _, msg in lines]
    if all(w.startswith("expected ") and not w.endswith(got) for w in wants):
        parts = list(dict.fromkeys(w.removeprefix("expected ") for w in wants))
        if "a number" in parts and "an integer" in parts:
            parts.remove("an integer")
        wanted = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} or {parts[-1]}"
        return lines[0][0][:-1], f"expected {wanted}{got}"
    return lines[0]


def _problems(exc: ValidationError, model: type[BaseModel]) -> list[tuple[tuple[Any, ...], str]]:
    """(key path, message) per problem; a union's members that all refused a value make one problem."""
    out: list[tuple[tuple[Any, ...], str]] = []
    union: list[tuple[tuple[Any, ...], str]] = []
    union_value: Any = None
    for err in exc.errors():
        loc = _clean_loc(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            keys = _keys_at(model, loc[:-1])
            msg = f"unknown key{did_you_mean(key, keys)} (keys: {', '.join(keys)})"
        elif err["type"] == "int_parsing_size" and _upper_bound(model, loc) is not None:
            # pydantic gives up on 1e20 before it checks the bound: the bound is what the user must read
            msg = f"expected a value <= {show(_upper_bound(model, loc))}, got {show(err.get('input'))}"
        else:
            msg, extra = _message(dict(err), _field_at(model, loc))
            loc = loc + extra
        if union and (not _union_member(model, loc) or loc[:-1] != union[0][0][:-1]):
            out.append(_merge_union(union, union_value))
            union = []
        if _union_member(model, loc):
            union.append((loc, msg))
            union_value = err.get("input")
        else:
            out.append((loc, msg))
    if union:
        out.append(_merge_union(union, union_value))
    return out


def config_error(exc: ValidationError, model: type[BaseModel], *, file: str, prefix: str = "") -> ConfigError:
    """One :class:`ConfigError` whose message has one line per problem, each naming file and key."""
    lines: list[str] = []
    first_path = None
    for loc, msg in _problems(exc, model):
        path = prefix + ".".join(clip(str(p), _KEY_CHARS) for p in loc)
        msg = clip(msg, _MESSAGE_CHARS)
        first_path = first_path or path
        lines.append(f"{file}: {path}: {msg}" if path else f"{file}: {msg}")
    error = ConfigError("\n".join(lines))
    error.file, error.path = file, first_path
    return error
