"""Your own model in a space: ``block: my_models.py:build`` (a file) or ``block: package.module:build``.

The contract (docs/spaces.md, "Your own model"): ``build(hp, data)`` gets ``hp``, the trial's values (the space's
params, sampled or fixed, and the training hyperparameters), and ``data`` (:class:`BuilderData`: ``input_shape``
without the batch axis, ``num_classes``, None for a regression, and ``task``); it returns a ``keras.Model`` that
takes the raw inputs and ends in the task's output (softmax over ``num_classes``, or one unit). automl wraps it
(:func:`automl.builders.model.build_model`) and compiles it as it compiles its own blocks.

A file reference is resolved against the space file's folder (or the pipeline's, for an inline space) when the
space is resolved, and travels as an absolute ``/path/to/my_models.py:build``, so a trial process or a worker
imports the same file. Keras is imported only when a model is built.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl._text import clip, did_you_mean, first_line, show
from automl.errors import ConfigError

#: what separates the module from the function in a reference
SEP = ":"
#: the file next to a study's models that names the builder they were built by (see StudyFolder.builder_info)
RECORD = "builder.json"


def is_reference(block: Any) -> bool:
    """Whether a space's block names a builder (``file.py:fn``, ``package.module:fn``) rather than a block."""
    return isinstance(block, str) and SEP in block


def _is_file(module: str) -> bool:
    return module.endswith(".py") or "/" in module or os.sep in module


def is_file_reference(block: Any) -> bool:
    """Whether ``block`` names a builder in a Python file (``my_models.py:build``), not in a module."""
    return is_reference(block) and _is_file(str(block).rpartition(SEP)[0])


@dataclass(frozen=True)
class Builder:
    """A resolved builder: the reference as the space writes it, where it lives, and the file's SHA-256."""

    ref: str  # as written in the space (what the study records as its block)
    module: str  # an absolute file path, or a dotted module name
    function: str
    path: str | None  # the module's file (None: a module without one)
    sha256: str | None

    @property
    def target(self) -> str:
        """The reference any process can import: the absolute file path (or module name) and the function."""
        return f"{self.module}{SEP}{self.function}"

    def record(self) -> dict[str, Any]:
        """What the study folder and MLflow keep of it."""
        return {"block": self.ref, "target": self.target, "path": self.path, "function": self.function,
                "sha256": self.sha256}


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_modules: dict[tuple[str, int, int], Any] = {}  # (file, mtime, size) -> the module imported from it


def import_file(path: str) -> Any:
    """The module of the Python file ``path`` (absolute), imported once per content version in this process.

    The file's folder is on ``sys.path`` while it is imported, so it may import its neighbours.
    """
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key in _modules:
        return _modules[key]
    name = f"automl_builder_{Path(path).stem}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path} as a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(Path(path).parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module  # a dataclass or a registered Keras class looks its module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    _modules[key] = module
    return module


def _import(module: str) -> Any:
    # a builder imports Keras itself: import it first, quietly (TensorFlow's C++ start-up lines on stderr would
    # otherwise reach the terminal of `automl validate`)
    from automl.runtime import import_keras

    import_keras()
    return import_file(module) if _is_file(module) else importlib.import_module(module)


def load(target: str) -> Any:
    """The builder function of ``target`` (``/abs/file.py:fn`` or ``package.module:fn``)."""
    module, _, function = target.rpartition(SEP)
    fn = getattr(_import(module), function, None)
    if not callable(fn):
        raise TypeError(f"{target} is not a function")
    return fn


def import_targets(targets: Any) -> None:
    """Import the builders' modules (which registers their custom Keras objects) before a model is loaded; a
    module that no longer imports is left to the load's own error."""
    for target in targets or ():
        module = str(target).rpartition(SEP)[0]
        try:
            _import(module)
        except Exception:  # the load names the class it cannot find
            pass


def import_recorded(model_path: str | Path) -> None:
    """Import the builders that :data:`RECORD` beside ``model_path`` names (a study's models load with them)."""
    import json

    import automl.builders.custom  # noqa: F401  (automl's own layers: the logits of a builder's model)

    record = Path(model_path).parent / RECORD
    try:
        info = json.loads(record.read_text())
    except (OSError, ValueError):
        return
    if isinstance(info, dict):
        import_targets([b.get("target") for b in info.get("builders", []) if isinstance(b, dict)])


def resolve(ref: str, *, base: Path, file: str | None, path: str) -> Builder:
    """Check that ``ref`` names a function that imports, before any trial; a ConfigError at ``file``: ``path``.

    A file is found relative to ``base`` (the space file's folder, or the pipeline's for an inline space).
    """
    def err(message: str) -> ConfigError:
        return ConfigError(message, file=file, path=path)

    module, _, function = ref.rpartition(SEP)
    dotted = _is_file(module) or all(part.isidentifier() for part in module.split("."))
    if not module or not function.isidentifier() or not dotted:
        raise err(f"expected FILE.py:FUNCTION or package.module:FUNCTION, got {show(ref)}")
    top = module.split(".")[0]
    if not _is_file(module) and (top in sys.stdlib_module_names or top in sys.builtin_module_names):
        # checked before anything is imported: `os:system` or `subprocess:getoutput` would run a command
        raise err(f"{show(ref)} names a module of Python's standard library, not a model builder: write "
                  "FILE.py:FUNCTION (a file of yours) or package.module:FUNCTION of your own package")
    if _is_file(module):
        where = Path(module).expanduser()
        where = where if where.is_absolute() else base / where
        if not where.is_file():
            raise err(f"builder file not found: {clip(str(where if Path(module).is_absolute() else module))} "
                      f"(relative to {base})")
        module = str(where.resolve())
    try:
        loaded = _import(module)
    except Exception as exc:  # an error inside the user's module: its type and first line
        raise err(f"cannot import {show(ref.rpartition(SEP)[0])}: {first_line(exc, 200, typed=True)}") from None
    fn = getattr(loaded, function, None)
    if fn is None:
        names = [n for n, v in vars(loaded).items() if callable(v) and not n.startswith("_")
                 and getattr(v, "__module__", None) == loaded.__name__]
        raise err(f"{show(ref.rpartition(SEP)[0])} has no function {show(function)}{did_you_mean(function, names)}")
    if not callable(fn):
        raise err(f"{show(function)} in {show(ref.rpartition(SEP)[0])} is not a function, got {show(fn)}")
    source = getattr(loaded, "__file__", None)
    return Builder(ref=ref, module=module, function=function, path=str(Path(source).resolve()) if source else None,
                   sha256=file_sha256(source) if source and Path(source).is_file() else None)


@dataclass(frozen=True)
class BuilderData:
    """What a builder knows of the data (the ``data`` argument of ``build(hp, data)``).

    ``input_shape`` has no batch axis; ``num_classes`` is None for a regression. The training split's
    statistics are there for a builder that wants automl's preprocessing: :meth:`normalization` is the
    ``Normalization`` layer automl's own blocks start with; ``y_mean`` / ``y_std`` describe a regression target.
    """

    input_shape: tuple[int, ...]
    num_classes: int | None
    task: str
    x_mean: tuple[float, ...] = ()
    x_var: tuple[float, ...] = ()
    y_mean: float = 0.0
    y_std: float = 1.0

    def __getitem__(self, key: str) -> Any:  # data["input_shape"] reads like data.input_shape
        return getattr(self, key)

    def normalization(self, name: str = "normalize") -> Any:
        """A ``keras.layers.Normalization`` with the training split's mean and variance (per feature / channel)."""
        import keras

        return keras.layers.Normalization(axis=-1, mean=list(self.x_mean), variance=list(self.x_var), name=name,
                                          dtype="float32")


def call(target: str, hp: dict[str, Any], data: BuilderData) -> Any:
    """``build(hp, data)`` of ``target``, checked: a ``keras.Model`` whose input is the data's shape.

    Anything else raises (TypeError / ValueError naming the builder): that trial fails with the reason.
    """
    import keras

    fn = load(target)
    name = Path(target.rpartition(SEP)[0]).name + SEP + target.rpartition(SEP)[2]
    try:
        with _bounded_stdout(name):
            model = fn(dict(hp), data)
    except Exception as exc:
        raise BuilderFailed(f"builder {name} raised {first_line(exc, 300, typed=True)}") from exc
    if not isinstance(model, keras.Model):
        raise TypeError(f"builder {name} returned {clip(type(model).__name__)}, not a keras.Model")
    shapes = [tuple(t.shape) for t in getattr(model, "inputs", None) or []]
    want = (None, *data.input_shape)
    if shapes and shapes != [want]:
        got = shapes[0] if len(shapes) == 1 else shapes
        raise ValueError(f"builder {name} returned a model taking inputs of shape {got}, but the data has shape "
                         f"{want}")
    return model


#: how many lines a builder may print per call before the rest is counted, not shown
SHOWN_LINES = 20


class _Head(io.TextIOBase):
    """A stdout that passes on the first :data:`SHOWN_LINES` lines and counts the rest."""

    def __init__(self, out: Any) -> None:
        self.out, self.lines = out, 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            if self.lines < SHOWN_LINES:
                self.out.write(piece)
            if piece.endswith("\n"):
                self.lines += 1
        return len(text)


@contextmanager
def _bounded_stdout(name: str) -> Iterator[None]:
    """A builder's prints (a model summary, debugging) reach the terminal up to :data:`SHOWN_LINES` lines a call;
    one line then says how many were left out, so a builder that prints in a loop cannot flood the output."""
    head = _Head(sys.stdout)
    with redirect_stdout(head):
        yield
    if head.lines > SHOWN_LINES:
        head.out.write(f"[builder {name} printed {head.lines - SHOWN_LINES} more lines, not shown]\n")
        head.out.flush()


class BuilderFailed(RuntimeError):
    """A user's builder raised: the message names the builder and its exception."""


__all__ = ["Builder", "BuilderData", "BuilderFailed", "RECORD", "call", "file_sha256", "import_file",
           "import_recorded", "import_targets", "is_file_reference", "is_reference", "load", "resolve"]
