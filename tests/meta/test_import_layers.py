"""The house's floors: automl's folders form layers, and no module imports a layer above its own, not even inside
a function; and no import circle anywhere in the repository (automl/, tests/, benchmarks/).

The layers, lowest first, are :data:`LAYERS`; docs/STYLE.md says what each holds and where new code goes. A
module may import its own layer and the layers below. An upward import that cannot be removed yet is listed in
:data:`EXCEPTIONS` with its reason; an exception that no longer happens fails the test, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "automl"

#: automl's layers, lowest first: (name, the modules and packages it holds). A module belongs to the layer of
#: the longest entry that names it or a package above it; ``automl`` itself (the package's ``__init__``, which
#: re-exports the API) names that module only.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # no automl imports but each other: exceptions, message formatting, fault points, process liveness, signal
    # handling, statistics, the progress observer, trial states
    ("foundation", ("automl.errors", "automl._text", "automl._types", "automl.faults", "automl.liveness",
                    "automl.signals", "automl.stats", "automl.progress", "automl.states")),
    ("parameters", ("automl.space.params",)),  # the tunable parameters and conditions every builder declares
    # rows of .npy files read lazily, and the batches that feed them to Keras: what every model-facing layer reads
    ("arrays", ("automl.data.rows", "automl.data.batches")),
    # the registries (blocks, optimizers, ...) and the one Keras runtime module, which registers builders/custom.py
    ("builders", ("automl.builders", "automl.runtime")),
    ("space", ("automl.space",)),  # a search space: parameters resolved against the builders' registries
    ("tflite", ("automl.tflite",)),  # a Keras model as a TFLite file: convert, prepare, validate, measure
    ("store", ("automl.store",)),  # the study folder, atomic writes, model loading, store locks
    ("tracking", ("automl.tracking",)),  # MLflow: runs, the model registry, the UI server
    ("engines", ("automl.engines",)),  # the only place optuna / keras_tuner are imported; Pareto dominance
    ("config", ("automl.config",)),  # pipeline YAML -> pydantic models, checked against the registries below
    ("data", ("automl.data",)),  # sources -> splits
    ("plan", ("automl.plan",)),  # everything a study needs, settled once
    ("trial", ("automl.trial",)),  # one trial: build, compile, fit, score, measure; in a child process or inline
    ("study", ("automl.study",)),  # the loop, sessions, workers, the tuning study
    # what a study yields
    ("products", ("automl.distill", "automl.export", "automl.predict", "automl._predict_io", "automl.report")),
    ("api", ("automl.api", "automl")),
    ("frontends", ("automl.cli", "automl.console", "automl.testing")),
)

#: (importer, imported) -> why this upward import is still there. Each must be a real upward import.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _module(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_under(root: Path, folders: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Module name -> file, for the packages ``folders`` under ``root`` (None: the scripts in ``root`` itself)."""
    if folders is None:
        return {p.stem: p for p in sorted(root.glob("*.py"))}
    return {_module(p, root): p for folder in folders for p in sorted((root / folder).rglob("*.py"))}


def import_graph(modules: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """module -> the modules of ``modules`` it imports (at any depth of its code, ``TYPE_CHECKING`` blocks aside).

    By default the modules of automl/."""
    if modules is None:
        modules = modules_under(REPO, ("automl",))
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        checking = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                    and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in checking:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS) -> int | None:
    """The index of ``module``'s layer in ``layers`` (the longest entry naming it or a package above it)."""
    best: tuple[int, int] | None = None  # (length of the entry, layer)
    for i, (_, entries) in enumerate(layers):
        for entry in entries:
            covers = module == entry or ("." in entry and module.startswith(entry + "."))
            if covers and (best is None or len(entry) > best[0]):
                best = (len(entry), i)
    return None if best is None else best[1]


def upward(graph: dict[str, set[str]], layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS
           ) -> list[tuple[str, str]]:
    """Every import (importer, imported) from a layer to a higher one."""
    found = []
    for module, targets in sorted(graph.items()):
        mine = layer_of(module, layers)
        for target in sorted(targets):
            theirs = layer_of(target, layers)
            if mine is not None and theirs is not None and theirs > mine:
                found.append((module, target))
    return found


def _shown(arrow: tuple[str, str]) -> str:
    (module, target), names = arrow, [name for name, _ in LAYERS]
    return f"{module} ({names[layer_of(module) or 0]}) -> {target} ({names[layer_of(target) or 0]})"


# -- the layers ------------------------------------------------------------------------------------------------
def test_every_module_of_the_package_has_a_layer() -> None:
    assert [m for m in import_graph() if layer_of(m) is None] == []


def test_no_module_imports_a_layer_above_its_own() -> None:
    found = [arrow for arrow in upward(import_graph()) if arrow not in EXCEPTIONS]
    assert found == [], "upward imports (move the code down, or pass it in from above):\n" + "\n".join(
        _shown(a) for a in found)


def test_every_exception_is_still_an_upward_import() -> None:
    arrows = set(upward(import_graph()))
    assert [e for e in EXCEPTIONS if e not in arrows] == [], "remove these from EXCEPTIONS: they are gone"


def test_the_check_finds_an_upward_import_even_inside_a_function(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "low.py").write_text("def f():\n    from pkg.high import g\n")
    (tmp_path / "pkg" / "high.py").write_text("from pkg import low\n\ndef g(): ...\n")
    layers = (("low", ("pkg.low", "pkg")), ("high", ("pkg.high",)))
    assert upward(import_graph(modules_under(tmp_path, ("pkg",))), layers) == [("pkg.low", "pkg.high")]


def test_the_longest_entry_decides_the_layer() -> None:
    assert LAYERS[layer_of("automl.space.params") or 0][0] == "parameters"
    assert LAYERS[layer_of("automl.space.space") or 0][0] == "space"
    assert LAYERS[layer_of("automl") or 0][0] == "api"
    assert layer_of("automl.unknown") is None


# -- no circles --------------------------------------------------------------------------------------------------
def test_the_package_has_no_import_circles() -> None:
    found = cycles(import_graph())
    assert found == [], "\n".join(" <-> ".join(c) for c in found)


def test_the_repository_has_no_import_circles() -> None:
    """automl/ with tests/ (as ``tests.*``), and benchmarks/ (scripts that import each other by bare name)."""
    found = cycles(import_graph(modules_under(REPO, ("automl", "tests"))))
    found += cycles(import_graph(modules_under(REPO / "benchmarks")))
    assert found == [], "\n".join(" <-> ".join(c) for c in found)


def test_the_check_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
