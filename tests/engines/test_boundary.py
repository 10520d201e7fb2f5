"""Inside automl, the tuning libraries are imported only under automl/engines/."""

from __future__ import annotations

import ast
from pathlib import Path

TUNING_LIBRARIES = {"optuna", "optuna_integration", "keras_tuner"}


def test_tuning_libraries_are_imported_only_by_the_engines(repo: Path) -> None:
    package = repo / "automl"
    offenders = []
    for path in package.rglob("*.py"):
        if path.is_relative_to(package / "engines"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.relative_to(repo)}: {n}" for n in names if n.split(".")[0] in TUNING_LIBRARIES]
    assert offenders == []
