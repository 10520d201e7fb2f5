"""Write the reference of every pipeline key (docs/pipelines.md) from the pydantic models.

``python -m automl.config.docs > docs/pipelines.md`` regenerates it; a test checks it is current.
"""

from __future__ import annotations

import re
import textwrap
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from automl.config import loader, models
from automl.config.models import PipelineConfig
from automl.space import params
from automl.store.folder import DERIVED_SUFFIXES, STORE_ENTRIES

HEADER = """# Pipeline keys

Generated from the pydantic models in `automl/config/models.py` by
`python -m automl.config.docs > docs/pipelines.md`; `automl schema` prints the same as JSON Schema.
Every key can be overridden on the command line with `--set dotted.key=value`.
"""


def _number(value: Any) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _range(base: str, metadata: list[Any]) -> str:
    """``int 1..65536``, ``float in (0, 1)``, ``float > 0, finite``: a number type and its bounds."""
    bound = {a: getattr(m, a) for m in metadata for a in ("gt", "ge", "lt", "le") if getattr(m, a, None) is not None}
    finite = any(getattr(m, "allow_inf_nan", True) is False for m in metadata)
    if base == "int" and bound:
        low = bound["ge"] if "ge" in bound else bound["gt"] + 1 if "gt" in bound else None
        high = bound["le"] if "le" in bound else bound["lt"] - 1 if "lt" in bound else None
        if low is not None and high is not None:
            return f"int {low}..{high}"
        return f"int >= {low}" if low is not None else f"int <= {high}"
    if base == "float" and bound:
        lower = next(((op, bound[k]) for k, op in (("gt", "("), ("ge", "[")) if k in bound), None)
        upper = next(((op, bound[k]) for k, op in (("lt", ")"), ("le", "]")) if k in bound), None)
        if lower and upper:
            text = f"float in {lower[0]}{_number(lower[1])}, {_number(upper[1])}{upper[0]}"
        elif lower:
            text = f"float {'>' if lower[0] == '(' else '>='} {_number(lower[1])}"
        else:
            assert upper is not None
            text = f"float {'<' if upper[0] == ')' else '<='} {_number(upper[1])}"
        return f"{text}, finite" if finite else text
    return f"{base}, finite" if finite else base


def _items(metadata: list[Any]) -> str:
    """`` (2 items)``, `` (1 to 3 items)``: the length bounds of a list, or an empty string."""
    least = next((m.min_length for m in metadata if getattr(m, "min_length", None) is not None), None)
    most = next((m.max_length for m in metadata if getattr(m, "max_length", None) is not None), None)
    if least is not None and least == most:
        return f" ({least} item{'' if least == 1 else 's'})"
    if least is not None and most is not None:
        return f" ({least} to {most} items)"
    if most is not None:
        return f" (at most {most} items)"
    return f" (at least {least} items)" if least is not None else ""


def _type(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A short, readable type with its bounds: ``int 1..65536``, ``float > 0 | null``, ``one of a, b``."""
    metadata = list(metadata or [])
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        for item in args[1:]:  # a Field(...) in Annotated keeps its constraints in .metadata
            metadata += list(getattr(item, "metadata", [item]))
        return _type(args[0], metadata)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(dict.fromkeys(_type(a) for a in args))
    if origin in (list, tuple):
        return f"list of {_type(args[0])}{_items(metadata)}" if args else "list"
    if origin is dict:
        return "mapping"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "parameter" if annotation.__module__.startswith("automl.space") else "mapping"
    return _range(getattr(annotation, "__name__", str(annotation)), metadata)


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
            if isinstance(shown, dict) and set(shown) == {"value"}:  # a fixed parameter reads as its value
                shown = shown["value"]
            default = f"`{shown}`"
        elif field.default is PydanticUndefined:
            default = "required"
        else:
            default = "`null`" if field.default is None else f"`{field.default}`"
        out.append((key, _type(field.annotation, list(field.metadata)), default, field.description or ""))


def _cell(text: str) -> str:
    return text.replace("|", "&#124;")


def _codes(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _bounds() -> str:
    """What the types above cannot say: the rules of names, data, files and space parameters."""
    databases = [e for e in STORE_ENTRIES if e.endswith(".db")]
    side_files = [f"{db}{side}" for db in databases for side in ("-journal", "-wal", "-shm")]
    student, tflite = DERIVED_SUFFIXES
    items = [
        f"**`name`**: at most {models.MAX_NAME} characters of letters, digits, `_`, `.` and `-`, starting with a "
        "letter or a digit (it names a folder, an MLflow experiment and a registered model). Reserved, in any case, "
        f"because the stores live beside the study folders in `mlruns/`: {_codes(STORE_ENTRIES)}; the files SQLite "
        f"keeps beside a database ({_codes(side_files)}); a `study.storage` or `MLFLOW_TRACKING_URI` SQLite "
        "database in `mlruns/` and its files; any name ending in `.lock`; and names ending in "
        f"`{student}` or `{tflite}` (the student study of study `x` is "
        f"`x{student}`, its registered TFLite model `x{tflite}`).",
        f"**`data`**: `validation_split + test_split < 0.9`; synthetic data holds at most {models.MAX_VALUES} values "
        "(`samples` x `features`, or `samples` x the product of `shape`).",
        f"**Files**: a pipeline or space file is at most {loader.MAX_BYTES // 2**20} MiB of UTF-8 YAML, nested at "
        f"most {loader.MAX_DEPTH} levels deep, with at most {loader.MAX_VALUES} values once aliases are expanded, no "
        f"key given twice, and integers of at most {loader.MAX_INT_DIGITS} digits.",
        "**Space parameters** (a space file, an inline `space`, and `distill.size`, `alpha`, `temperature`, `lr`): "
        f"every integer (a bound, a step, a choice, a fixed value) within ±{params.MAX_INT}; every float finite "
        f"and within ±{params.MAX_FLOAT:g}; `step > 0`, and "
        f"`step <= high - low` when `low < high`; a float's `(high - low) / step <= {params.MAX_GRID}`; at most "
        f"{params.MAX_CHOICES} choices in a categorical and {params.MAX_CHOICES} values per parameter in a `when`. "
        f"Grid search lists every value: at most {params.MAX_GRID} per parameter and {params.MAX_GRID} points in "
        "all.",
    ]
    intro = ("Every number above has the bounds its type shows, far above any sane value: a typo (`epochs: 1e20`) "
             "is an error that names its key, not a study that runs out of memory. Besides:")
    bullets = [_wrap(item, initial_indent="- ", subsequent_indent="  ") for item in items]
    return "\n".join(["## Bounds", "", _wrap(intro), "", *bullets, ""])


def _wrap(text: str, initial_indent: str = "", subsequent_indent: str = "") -> str:
    """``text`` in lines of at most 110 characters, never broken inside a `code span`."""
    glued = re.sub(r"`[^`]*`", lambda m: m.group().replace(" ", "\0"), text)
    return textwrap.fill(glued, 110, initial_indent=initial_indent, subsequent_indent=subsequent_indent,
                         break_on_hyphens=False).replace("\0", " ")


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
    lines.append(_bounds())
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
