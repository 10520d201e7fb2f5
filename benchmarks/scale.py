"""Workers sharing one study on PostgreSQL: trials per hour for 1, 2 and 4 `automl worker` processes, and the
storage's own cost per trial, PostgreSQL vs SQLite.

Both run against real servers started in a temporary folder (automl.testing.servers: PostgreSQL 15 through
initdb/pg_ctl, an `mlflow server` on a loopback port), as tests/scale does.

- *Storage per trial*: one process, no Keras: ask (or, with a budget, reserve: the study's lock, the count,
  then ask) + tell of a random-sampler trial on an MLP space, N trials; milliseconds per trial.
- *Workers*: N `automl worker` processes, each in its own folder, sharing only the PostgreSQL study and the
  MLflow server, on a fixed budget of small MLP trials (generated tabular data, inline training); wall time
  from the start of the first process to the exit of the last (TensorFlow imports included), trials per hour.

    .venv/bin/python benchmarks/scale.py --write docs/benchmarks.md
    .venv/bin/python benchmarks/scale.py --quick
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _common import environment, publish, table

QUICK_ARGS = ["--quick"]


def storage_ms(url: str, trials: int, budget: bool) -> float:
    """Milliseconds per trial of ask (or reserve) + tell on ``url``, one process."""
    from automl.engines.base import StudySettings
    from automl.engines.optuna import OptunaEngine
    from automl.space import SpaceFile, resolve_space

    space = resolve_space(SpaceFile.model_validate({"block": "mlp"}), 2)
    engine = OptunaEngine(StudySettings(name=f"bench-{budget}", space=space, sampler="random", pruner="none",
                                        direction="maximize", seed=0, storage=url, epochs=2, heartbeat_interval=60,
                                        budget=trials + 5 if budget else None))
    engine.open()
    for _ in range(3):  # warm: connections, caches
        trial = engine.reserve(trials + 5) if budget else engine.ask()
        assert trial is not None
        space.sample(trial)
        engine.tell(trial, "COMPLETE", 0.5, {})
    start = time.perf_counter()
    for i in range(trials):
        trial = engine.reserve(trials + 5) if budget else engine.ask()
        assert trial is not None
        space.sample(trial)
        engine.tell(trial, "COMPLETE", float(i), {})
    return (time.perf_counter() - start) * 1000 / trials


def _pipeline(folder: Path, budget: int, epochs: int) -> Path:
    doc: dict[str, Any] = {
        "name": "scale", "seed": 0,
        "data": {"source": "synthetic", "samples": 2000, "features": 20, "classes": 4},
        "space": {"block": "mlp", "params": {
            "layers": {"type": "int", "low": 1, "high": 2}, "units": {"type": "int", "low": 16, "high": 64},
            "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}}},
        "study": {"sampler": "random", "pruner": "none", "budget": budget},
        "train": {"epochs": epochs, "batch_size": 32, "isolation": "inline", "refit": False},
    }
    path = folder / "scale.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def workers_run(storage: str, tracking: str, workers: int, budget: int, epochs: int) -> float:
    """Seconds for ``workers`` processes to meet ``budget`` trials, each in its own folder."""
    root = Path(tempfile.mkdtemp(prefix="automl-scale-"))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "AUTOML_STORAGE")}
    env |= {"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    paths = []
    for i in range(workers):
        (root / f"host-{i}").mkdir()
        paths.append(_pipeline(root / f"host-{i}", budget, epochs))
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "automl.cli", "worker", str(p), "--index", str(i), "--storage",
                               storage, "--tracking-uri", tracking, "--quiet"], cwd=p.parent, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i, p in enumerate(paths)]
    outputs = [p.communicate()[0] for p in procs]
    seconds = time.perf_counter() - start
    bad = [o for p, o in zip(procs, outputs, strict=True) if p.returncode != 0]
    if bad:
        raise RuntimeError(bad[0][-3000:])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smaller budgets.")
    parser.add_argument("--write", type=Path, help="Put the section into this Markdown file.")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from automl.testing.servers import mlflow_server, postgres

    load = os.getloadavg()
    n_storage, budget, epochs = (40, 8, 3) if args.quick else (100, 16, 5)
    counts = (1, 2, 4)
    with postgres() as pg, mlflow_server() as mlflow, tempfile.TemporaryDirectory() as tmp:
        store_rows = []
        for name, url in (("SQLite", f"sqlite:///{tmp}/optuna.db"), ("PostgreSQL", pg.create_database("bench"))):
            plain, reserved = storage_ms(url, n_storage, False), storage_ms(url, n_storage, True)
            store_rows.append([name, f"{plain:.1f}", f"{reserved:.1f}"])
        work_rows = []
        for n in counts:
            seconds = workers_run(pg.create_database(f"workers{n}"), mlflow.url, n, budget, epochs)
            work_rows.append([n, budget, f"{seconds:.0f}", f"{budget / seconds * 3600:.0f}"])
    body = "\n\n".join([
        f"`python benchmarks/scale.py{' --quick' if args.quick else ''} --write docs/benchmarks.md`: a real "
        "PostgreSQL 15 and `mlflow server` started in a temporary folder (automl.testing.servers).",
        environment(load),
        f"Storage per trial (one process, no Keras, random sampler, {n_storage} trials; ms per trial):",
        table(["storage", "ask + tell", "reserve (budget) + tell"], store_rows),
        f"Workers on one PostgreSQL study and one MLflow server, each `automl worker` in its own folder: a budget "
        f"of {budget} MLP trials ({epochs} epochs, 2000 generated samples, inline), wall time from the first "
        "start to the last exit (each process imports TensorFlow, ~5-8 s):",
        table(["workers", "budget", "wall s", "trials / hour"], work_rows),
    ])
    publish(body, args.write, "Workers on PostgreSQL")


if __name__ == "__main__":
    main()
