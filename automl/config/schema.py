"""JSON Schemas of pipeline and space files, for editors (``automl schema [--space]``).

Pydantic's schemas describe the validated models; the YAML files also allow shorthand that validators
expand before that (``block: cnn`` or ``units: 64`` for a fixed value). The schemas here accept it too, so
that every file ``automl validate`` accepts also passes an editor's schema check.
"""

from __future__ import annotations

from typing import Any

_PARAM_REFS = {f"#/$defs/{name}" for name in ("IntParam", "FloatParam", "CategoricalParam", "FixedParam")}
_SHORTHAND = {"type": ["string", "number", "integer", "boolean", "null", "array"],
              "description": "A fixed value (shorthand for {value: ...})."}
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _is_param_union(node: dict[str, Any]) -> bool:
    options = node.get("oneOf") or node.get("anyOf") or []
    refs = {o.get("$ref") for o in options if isinstance(o, dict)}
    return bool(options) and refs == _PARAM_REFS


def _accept_shorthand(node: Any) -> Any:
    if isinstance(node, list):
        return [_accept_shorthand(n) for n in node]
    if not isinstance(node, dict):
        return node
    if _is_param_union(node):
        keep = {k: node[k] for k in ("title", "description", "default") if k in node}
        union = {k: v for k, v in node.items() if k not in keep}
        return {**keep, "anyOf": [union, dict(_SHORTHAND)]}
    out = {k: _accept_shorthand(v) for k, v in node.items()}
    when = out.get("properties", {}).get("when")
    if isinstance(when, dict) and when.get("additionalProperties", {}).get("type") == "array":
        # `when: {optimizer: sgd}` is short for `when: {optimizer: [sgd]}`
        values = when["additionalProperties"]
        when["additionalProperties"] = {"anyOf": [values, {"type": ["string", "number", "integer", "boolean"]}]}
    return out


def json_schema(model: Any) -> dict[str, Any]:
    """The JSON Schema of a pydantic model of a YAML file, with the YAML shorthand allowed."""
    schema: dict[str, Any] = _accept_shorthand(model.model_json_schema())
    return {"$schema": DIALECT, **schema}


def pipeline_schema() -> dict[str, Any]:
    from automl.config.models import PipelineConfig

    return json_schema(PipelineConfig)


def space_schema() -> dict[str, Any]:
    from automl.space.space import SpaceFile

    return json_schema(SpaceFile)


__all__ = ["json_schema", "pipeline_schema", "space_schema"]
