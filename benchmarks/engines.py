"""Benchmark the tuning engines on the same space and budget: best test accuracy, wall time, overhead.

Every engine/sampler runs the same study (same space, trials, epochs, seed) on each data set, each in a
fresh Python process (TensorFlow's per-process memory growth and warm caches would favour later runs).
Overhead is the study's wall time minus the time spent inside ``model.fit``: sampling, engine storage,
MLflow logging, model building, the final test evaluation.

    .venv/bin/python benchmarks/engines.py                      # the full budget: 20 trials x 5 epochs
    .venv/bin/python benchmarks/engines.py --trials 6 --epochs 3 --seeds 0 --write docs/benchmarks.md

Results go to stdout as a Markdown table and, with ``--write``, into the "Engines" section of that file
(``benchmarks/run_all.py`` runs it with ``QUICK_ARGS`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MLP_SPACE, answer_child, cnn_space, environment, mean_sd, publish, run_child, table  # noqa: E402

QUICK_ARGS = ["--trials", "4", "--epochs", "2", "--seeds", "0",
              "--configs", "optuna:tpe,optuna:tpe:hyperband,keras_tuner:bayesian"]

CNN_SPACE = cnn_space(filters_low=16)
DATASETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "digits": ({"source": "digits"}, CNN_SPACE),
    # 10 classes, 40 features of which 10 informative, 10% flipped labels: far from solved in 5 epochs
    "hard": ({"source": "synthetic", "samples": 3000, "features": 40, "classes": 10, "noise": 0.1}, MLP_SPACE),
}
# engine:sampler[:pruner]; the pruner defaults to none, so samplers are compared on equal terms
DEFAULT_CONFIGS = ["optuna:tpe", "optuna:random", "optuna:tpe:hyperband", "keras_tuner:random",
                   "keras_tuner:bayesian", "keras_tuner:hyperband"]


def _child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one study in this process (called in a child process) and measure it."""
    import automl

    engine, sampler, *rest = job["config"].split(":")
    data, space = DATASETS[job["dataset"]]
    pipeline = {
        "name": "bench", "seed": job["seed"], "data": data, "space": space,
        "study": {"engine": engine, "sampler": sampler, "pruner": rest[0] if rest else "none",
                  "trials": job["trials"], "metric": "val_accuracy"},
        "train": {"epochs": job["epochs"], "batch_size": 32, "refit": False},
    }
    os.chdir(job["workdir"])
    Path("bench.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    # warm-up outside the clock: imports, TensorFlow's first graphs, the MLflow and Optuna schemas
    automl.tune("bench.yaml", {"name": "warmup", "study.trials": 1, "train.epochs": 1})
    start = time.perf_counter()
    result = automl.tune("bench.yaml", {"name": "measured"})
    wall = time.perf_counter() - start
    fit = sum(float(t.attrs.get("fit_seconds", 0.0)) for t in result.trials)
    return {**job, "test_accuracy": result.test_metrics.get("test_accuracy"), "best_val": result.best_value,
            "wall_s": wall, "fit_s": fit, "overhead_s": wall - fit, "trials_run": len(result.trials),
            "epochs_trained": sum(int(t.attrs.get("epochs_trained", 0)) for t in result.trials),
            "states": {s: sum(t.state == s for t in result.trials) for s in ("COMPLETE", "PRUNED", "FAIL")}}


def _run(job: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        return {**run_child(__file__, {**job, "workdir": workdir}), "load": os.getloadavg()[0]}


def _table(rows: list[dict[str, Any]]) -> str:
    def order(key: tuple[str, str]) -> tuple[str, int]:
        return key[0], DEFAULT_CONFIGS.index(key[1]) if key[1] in DEFAULT_CONFIGS else len(DEFAULT_CONFIGS)

    lines = []
    for dataset, config in sorted({(r["dataset"], r["config"]) for r in rows}, key=order):
        runs = [r for r in rows if (r["dataset"], r["config"]) == (dataset, config)]

        def mean(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.mean(float(r[key]) for r in runs)

        per_trial = statistics.mean(r["overhead_s"] / max(1, r["trials_run"]) for r in runs)
        pruned = sum(r["states"]["PRUNED"] for r in runs)
        failed = sum(r["states"]["FAIL"] for r in runs)
        lines.append([dataset, config, mean_sd([r["test_accuracy"] for r in runs]), f"{mean('wall_s'):.1f}",
                      f"{mean('fit_s'):.1f}", f"{mean('overhead_s'):.1f}", f"{per_trial:.2f}",
                      f"{mean('epochs_trained'):.0f}", f"{mean('trials_run'):.0f} ({pruned}/{failed})"])
    return table(["data", "engine:sampler[:pruner]", "test accuracy", "wall s", "in fit s", "overhead s",
                  "overhead/trial s", "epochs trained", "trials (pruned/failed)"], lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; results are averaged")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help="engine:sampler[:pruner],...")
    parser.add_argument("--write", type=Path, help="write the Engines section of this Markdown file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        answer_child(args.child, _child)
        return
    load_before = os.getloadavg()
    rows = []
    for dataset in args.datasets.split(","):
        for config in args.configs.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                rows.append(_run({"dataset": dataset, "config": config, "seed": seed, "trials": args.trials,
                                  "epochs": args.epochs}))
                r = rows[-1]
                print(f"{dataset:7s} {config:24s} seed {seed}: test_accuracy={r['test_accuracy']:.4f} "
                      f"wall={r['wall_s']:.1f}s fit={r['fit_s']:.1f}s overhead={r['overhead_s']:.1f}s",
                      file=sys.stderr, flush=True)
    command = "python benchmarks/engines.py " + " ".join(argv if argv is not None else sys.argv[1:])
    loads = [r["load"] for r in rows]
    body = (f"`{command.strip()}`: {args.trials} trials x {args.epochs} epochs per study, seeds {args.seeds}; the "
            "same space per data set for every engine (benchmarks/engines.py), pruner `none` unless the row "
            "names one; each study in a fresh process after an unmeasured warm-up study. Overhead = wall time - "
            "time inside `model.fit` (sampling, engine storage, model building, MLflow, the final test "
            "evaluation and model registration).\n\n"
            f"{environment(load_before)} 1-minute load after each study: {min(loads):.1f}-{max(loads):.1f}.\n\n"
            f"{_table(rows)}\n")
    publish(body, args.write, "Engines")


if __name__ == "__main__":
    main()
