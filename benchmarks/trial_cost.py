"""The loop's own fixed cost per trial, without Keras: the same study with automl's fake runner.

Everything a trial costs besides training is real here (Optuna ask / tell and the trial's user attributes on
SQLite, the MLflow child run with its parameters, per-epoch metrics and end tags, the study folder, the
console), only the training is a script (:class:`automl.testing.runner.FakeRunner`). Three studies, of ``--trials``
trials with 1 epoch, twice as many trials with 1 epoch, and ``--trials`` with ``--epochs`` epochs, give the cost of a
study session (parent run, final stage), of a trial and of an epoch:
``wall(T, E) = per_session + T * (per_trial + E * per_epoch)``. A third figure is the once-per-trial scoring of the
macro scores and AUC on a validation split (the part of a real trial's fixed cost that is automl's own), by Keras's
tensor path and by the numpy path that scoring takes.

    .venv/bin/python benchmarks/trial_cost.py                       # 20 trials, 1 and 15 epochs, 3 rounds
    .venv/bin/python benchmarks/trial_cost.py --quick
    .venv/bin/python benchmarks/trial_cost.py --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import environment, publish, table


def _study(folder: Path, trials: int, epochs: int, seed: int) -> float:
    """Seconds for one fake study of ``trials`` x ``epochs`` in ``folder`` (its stores made by an earlier one)."""
    import random

    from automl.config import load_pipeline
    from automl.study.tune import tune
    from automl.testing import write_pipeline
    from automl.testing.runner import FakeRunner, Play

    rng = random.Random(seed)
    plays = [Play(epochs=[rng.random() for _ in range(epochs)]) for _ in range(trials)]
    name = f"cost{epochs}x{seed}"
    pipeline = load_pipeline(write_pipeline(folder, name=name, study={"trials": trials, "sampler": "tpe"},
                                            train={"epochs": epochs}))
    start = time.perf_counter()
    tune(pipeline, runners=FakeRunner(plays).factory)
    return time.perf_counter() - start


def _scoring(rounds: int) -> tuple[float, float]:
    """Median seconds to score macro P / R / F1 and AUC once on a 600-row, 10-class validation split: by Keras's
    tensor path and by the numpy path automl's once-per-trial scoring takes."""
    import keras
    import numpy as np

    import automl.runtime  # noqa: F401 - Keras's backend and quiet logs
    from automl.builders.metrics import score_predictions

    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 600)
    p = rng.dirichlet(np.ones(10), size=600).astype("float32")
    as_tensors: list[float] = []
    as_arrays: list[float] = []
    for _ in range(rounds + 1):  # the first round warms both paths up
        start = time.perf_counter()
        score_predictions(keras.ops.convert_to_tensor(y), keras.ops.convert_to_tensor(p), "classification", 10)
        as_tensors.append(time.perf_counter() - start)
        start = time.perf_counter()
        score_predictions(y, p, "classification", 10)
        as_arrays.append(time.perf_counter() - start)
    return statistics.median(as_tensors[1:]), statistics.median(as_arrays[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5 trials, 1 and 5 epochs, 1 round")
    parser.add_argument("--write", type=Path, help="write the section into this markdown file")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.epochs, args.rounds = 5, 5, 1
    write = args.write.resolve() if args.write else None  # the studies run in a temporary folder
    load = os.getloadavg()
    rows: list[list[Any]] = []
    t, e = args.trials, args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        _study(folder, 2, 1, seed=99)  # unmeasured: imports, stores made
        walls: dict[tuple[int, int], list[float]] = {(t, 1): [], (2 * t, 1): [], (t, e): []}
        for seed in range(args.rounds):  # interleaved, so a change of load touches every shape alike
            for trials, epochs in walls:
                walls[(trials, epochs)].append(_study(folder, trials, epochs, seed))
    wall = {k: statistics.median(v) for k, v in walls.items()}
    per_trial = (wall[(2 * t, 1)] - wall[(t, 1)]) / t  # a trial of one epoch
    per_epoch = (wall[(t, e)] - wall[(t, 1)]) / (t * (e - 1))
    per_session = wall[(t, 1)] - t * per_trial
    tensors, arrays = _scoring(max(3, args.rounds))
    for (trials, epochs), seconds in wall.items():
        rows.append([f"{trials} x {epochs}", f"{seconds:.2f}", f"{seconds / trials * 1000:.0f}"])
    session = (f"**{per_session:.2f} s per session**" if per_session > 0.05 else
               f"a session's own cost within the noise ({per_session:+.2f} s)")
    split = (f"Split: {session} (parent run, stores, final stage), **{per_trial * 1000:.0f} "
             f"ms per trial** of one epoch (ask, child run, tell, attributes), **{per_epoch * 1000:.1f} ms per "
             "further epoch** (the epoch's metrics to MLflow, the report to the pruner).")
    body = "\n\n".join([
        f"`python benchmarks/trial_cost.py --trials {args.trials} --epochs {args.epochs} --rounds {args.rounds}`: "
        "the loop's own cost with the fake runner (real Optuna on SQLite, real MLflow child runs and per-epoch "
        "metrics, real study folder; no Keras), median of the rounds.",
        environment(load),
        table(["study (trials x epochs)", "wall s", "wall / trials, ms"], rows),
        split,
        f"Scoring macro precision / recall / F1 and AUC once on a 600-row 10-class validation split: "
        f"{tensors * 1000:.0f} ms by Keras's tensor path, {arrays * 1000:.0f} ms by the numpy path automl takes.",
    ])
    print(body)
    publish(body, write, "Loop cost per trial (fake runner)")


if __name__ == "__main__":
    main()
