"""Write the reference of every pipeline key (docs/pipelines.md) from the pydantic models.

``python -m automl.config.docs > docs/pipelines.md`` regenerates it; a test checks it is current.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from automl.config.models import PipelineConfig

HEADER = """# Pipeline keys

Generated from the pydantic models in `automl/config/models.py` by
`python -m automl.config.docs > docs/pipelines.md`; `automl schema` prints the same as JSON Schema.
Every key can be overridden on the command line with `--set dotted.key=value`.
"""


def _type(annotation: Any) -> str:
    """A short, readable type: ``int``, ``float | null``, ``one of a, b``, ``parameter``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(dict.fromkeys(_type(a) for a in args))
    if origin in (list, tuple):
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "parameter" if annotation.__module__.startswith("automl.space") else "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _sub_model(annotation: Any) -> type[BaseModel] | None:
    """The section model a field holds (only the config's own models; space parameters are leaves)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation if annotation.__module__ == PipelineConfig.__module__ else None
    for arg in typing.get_args(annotation):
        found = _sub_model(arg)
        if found is not None:
            return found
    return None


def _rows(model: type[BaseModel], prefix: str, out: list[tuple[str, str, str, str]],
          sections: list[tuple[str, type[BaseModel]]]) -> None:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _sub_model(field.annotation)
        if sub is not None and sub is not model:
            sections.append((key, sub))
            continue
        if field.default_factory is not None:
            value = field.default_factory()  # type: ignore[call-arg]
            shown = value.model_dump(mode="json", exclude_defaults=True) if isinstance(value, BaseModel) else value
            default = f"`{shown}`"
        elif field.default is PydanticUndefined:
            default = "required"
        else:
            default = "`null`" if field.default is None else f"`{field.default}`"
        out.append((key, _type(field.annotation), default, field.description or ""))


def _cell(text: str) -> str:
    return text.replace("|", "&#124;")


def render() -> str:
    lines = [HEADER]
    sections: list[tuple[str, type[BaseModel]]] = [("", PipelineConfig)]
    while sections:
        prefix, model = sections.pop(0)
        rows: list[tuple[str, str, str, str]] = []
        _rows(model, f"{prefix}." if prefix else "", rows, sections)
        lines.append(f"## `{prefix or 'top level'}`\n")
        if model.__doc__:
            lines.append(model.__doc__.strip().splitlines()[0] + "\n")
        lines.append("| key | type | default | meaning |")
        lines.append("| --- | --- | --- | --- |")
        lines += [f"| `{k}` | {_cell(t)} | {_cell(d)} | {_cell(m)} |" for k, t, d, m in rows]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
