"""Helpers for tests: tiny pipelines written to a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TINY_TABULAR_SPACE: dict[str, Any] = {
    "block": "mlp",
    "params": {
        "layers": 1,
        "units": {"type": "int", "low": 4, "high": 16},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
        "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
    },
}


def write_pipeline(folder: Path, *, name: str = "tiny", space: dict[str, Any] | str | None = None,
                   data: dict[str, Any] | None = None, study: dict[str, Any] | None = None,
                   train: dict[str, Any] | None = None, **extra: Any) -> Path:
    """Write a small, fast pipeline YAML (synthetic tabular data, ~200 samples) and return its path."""
    doc: dict[str, Any] = {
        "name": name,
        "seed": 0,
        "data": data or {"source": "synthetic", "samples": 200, "features": 8, "classes": 3},
        "space": space if space is not None else TINY_TABULAR_SPACE,
        "study": {"sampler": "random", "pruner": "none", "trials": 3, **(study or {})},
        # inline: most tests train in their own process (a trial process costs a Keras import); the tests of the
        # process path ask for it
        "train": {"epochs": 2, "batch_size": 32, "isolation": "inline", **(train or {})},
        **extra,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def default_sigint() -> None:
    """For ``Popen(preexec_fn=...)``: a shell without job control (CI, ``cmd &`` in a script) starts children
    with SIGINT ignored, and Python then installs no KeyboardInterrupt handler; a terminal's Ctrl-C has one."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
