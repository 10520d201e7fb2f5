"""Settled once: each of the pipeline's three parameters that every stage needs (``study.objectives``,
``export.max_drop``, ``train.epochs``) is read from the config in one module, and the decisions made on them
(multi-objective?, over max_drop?, the defaults derived from the epochs), the Keras model loader and the
exception formatter are written once. docs/STYLE.md ("Settled once") says where; this test keeps them there.

Each rule finds its pattern in automl/'s syntax trees and lists the modules where it is allowed (with why); a
new module that reads or decides for itself fails, naming the file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "automl"


def _chain(node: ast.AST, parent: str, attr: str) -> bool:
    """``<anything>.parent.attr``: a read of the pipeline's ``parent.attr`` (``cfg.train.epochs``)."""
    return (isinstance(node, ast.Attribute) and node.attr == attr and isinstance(node.value, ast.Attribute)
            and node.value.attr == parent)


def _read_of_max_drop(node: ast.AST) -> bool:
    """``export.max_drop`` read from the export config (``cfg.max_drop``, ``....export.max_drop``)."""
    return isinstance(node, ast.Attribute) and node.attr == "max_drop" and (
        (isinstance(node.value, ast.Name) and node.value.id == "cfg") or _chain(node, "export", "max_drop"))


def _names_max_drop(node: ast.AST) -> bool:
    return any((isinstance(n, ast.Attribute) and n.attr == "max_drop") or (isinstance(n, ast.Name)
               and n.id == "max_drop") for n in ast.walk(node))


def _compares_max_drop(node: ast.AST) -> bool:
    """A drop tested against max_drop (``drop > max_drop + 1e-6``)."""
    return isinstance(node, ast.Compare) and _names_max_drop(node)


def _counts_objectives(node: ast.AST) -> bool:
    """``len(x.objectives)`` / ``len(x.directions)``: "multi-objective?" decided on the spot."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"
            and len(node.args) == 1 and any(isinstance(n, ast.Attribute) and n.attr in ("objectives", "directions")
                                            for n in ast.walk(node.args[0])))


def _derives_from_epochs(node: ast.AST) -> bool:
    """``epochs // 4`` or ``max(3, epochs)``: a default derived from train.epochs (a trial's own epochs capped by
    another count, ``min(frozen, req.epochs)``, is no default)."""
    def epochs(n: ast.AST) -> bool:
        return (isinstance(n, ast.Attribute) and n.attr == "epochs") or (isinstance(n, ast.Name) and n.id == "epochs")

    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv):
        return epochs(node.left)
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("max", "min")
            and any(epochs(a) for a in node.args) and any(isinstance(a, ast.Constant) for a in node.args))


def _keras_loader(node: ast.AST) -> bool:
    """``keras.models.load_model``: a Keras model loaded outside the one loader."""
    return _chain(node, "models", "load_model")


def _first_line_by_hand(node: ast.AST) -> bool:
    """``<text>.splitlines()[0]``: an exception's first line formatted on the spot."""
    return (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "splitlines"
            and isinstance(node.slice, ast.Constant) and node.slice.value == 0)


#: rule -> (the pattern, {module: why it may hold it there}); a module is a path under automl/
RULES: dict[str, tuple[Callable[[ast.AST], bool], dict[str, str]]] = {
    "train.epochs read from the config": (
        lambda n: _chain(n, "train", "epochs"), {"plan.py": "Plan.epochs"}),
    "study.objectives read from the config": (
        lambda n: _chain(n, "study", "objectives"), {"plan.py": "settle_objectives, make_plan: Plan.objectives"}),
    "export.max_drop read from the config": (
        _read_of_max_drop, {"export/exporter.py": "_Export.max_drop, read once per export"}),
    "a drop compared with max_drop": (
        _compares_max_drop, {"stats.py": "over_max_drop, the one test (DROP_TOLERANCE)"}),
    "multi-objective? decided by counting": (  # the answer: Objectives.multi (automl/_types.py)
        _counts_objectives, {
            "config/models.py": "the YAML's own checks, before a plan exists (StudyConfig.multi_objective)",
            "engines/optuna.py": "--from-study: another stored Optuna study's directions",
        }),
    "a default derived from train.epochs": (
        _derives_from_epochs, {"engines/base.py": "StudySettings.startup_trials / warmup_epochs / max_epochs"}),
    "keras.models.load_model": (
        _keras_loader, {"store/folder.py": "load_model, the one loader (ModelLoadError)"}),
    "a first line formatted by hand": (
        _first_line_by_hand, {
            "_text.py": "first_line, the one formatter",
            "data/sources.py": "TensorFlow's op-decorated errors (_first_line strips the decoration first)",
            "config/docs.py": "the first line of a docstring, not of an exception",
        }),
}


def _hits(rule: Callable[[ast.AST], bool]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        lines = sorted({n.lineno for n in ast.walk(tree) if rule(n) and hasattr(n, "lineno")})
        if lines:
            found[path.relative_to(PACKAGE).as_posix()] = lines
    return found


@pytest.mark.parametrize("name", list(RULES))
def test_settled_in_one_place(name: str) -> None:
    rule, allowed = RULES[name]
    hits = _hits(rule)
    strays = {module: lines for module, lines in hits.items() if module not in allowed}
    assert not strays, (f"{name} outside its place ({', '.join(allowed)}; docs/STYLE.md 'Settled once'): "
                        + ", ".join(f"automl/{m}:{','.join(map(str, lines))}" for m, lines in strays.items()))
    assert set(hits) == set(allowed), f"{name}: an allowed module no longer holds it: {set(allowed) - set(hits)}"


def test_the_export_reads_max_drop_once() -> None:
    (lines,) = _hits(_read_of_max_drop).values()
    assert len(lines) == 1, lines


def test_the_rules_see_what_they_forbid() -> None:
    """Each pattern matches the code it is meant to keep out (so an empty result means something)."""
    samples = {
        "train.epochs read from the config": "cfg.train.epochs",
        "study.objectives read from the config": "pipeline.config.study.objectives",
        "export.max_drop read from the config": "cfg.max_drop",
        "a drop compared with max_drop": "drop > self.max_drop + 1e-12",
        "multi-objective? decided by counting": "len(plan.objectives) > 1",
        "a default derived from train.epochs": "max(1, s.epochs // 4)",
        "keras.models.load_model": "keras.models.load_model(path)",
        "a first line formatted by hand": "str(exc).splitlines()[0]",
    }
    assert set(samples) == set(RULES)
    for name, code in samples.items():
        assert any(RULES[name][0](n) for n in ast.walk(ast.parse(code))), name
