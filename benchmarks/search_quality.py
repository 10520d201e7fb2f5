"""Search quality per budget: automl (TPE, TPE + median pruner) vs KerasTuner's own searchers used directly.

The same search space, written twice: as an automl space file, and as a KerasTuner hypermodel built with
KerasTuner's documented API (``hp.Int`` / ``hp.Float`` / ``hp.Choice``, ``conditional_scope`` for momentum)
that builds the same architecture (checked: equal parameter counts for a sample configuration).
KerasTuner's ``BayesianOptimization`` and ``RandomSearch`` run through ``tuner.search`` on the very arrays
automl trains on (automl's own splits). Every method gets the same number of trials and epochs per trial.

Two tasks: digits (8x8 images, a CNN space) and a harder generated one (10 classes, 20 features, 5%
flipped labels; an MLP space). Per task, method and seed, each run in a fresh process after an unmeasured
warm-up, we record the best validation accuracy, the best model's test accuracy (automl: ``train.refit``
off, so both sides test the best trial's own weights), and the time from the start of the search until a
validation accuracy >= the task's target was first seen at the end of an epoch (pruned trials included).

    .venv/bin/python benchmarks/search_quality.py                 # full: 30 trials x 10 epochs, seeds 0,1,2
    .venv/bin/python benchmarks/search_quality.py --quick --write docs/benchmarks.md

Target (issue 7): time to target >= 2x better with automl than with KerasTuner's Bayesian search.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    MLP_SPACE,
    answer_child,
    cnn_space,
    environment,
    mean_sd,
    publish,
    quiet_tensorflow,
    run_child,
    table,
)

QUICK_ARGS = ["--quick"]
METHODS = ["automl-tpe", "automl-tpe-median", "kt-bayesian", "kt-random"]
LABELS = {"automl-tpe": "automl TPE", "automl-tpe-median": "automl TPE + median pruner",
          "kt-bayesian": "KerasTuner BayesianOptimization", "kt-random": "KerasTuner RandomSearch"}

CNN_SPACE = cnn_space(filters_low=8)
# task -> (data section, space, default target validation accuracy); --quick's small budget gets its own targets
TASKS: dict[str, tuple[dict[str, Any], dict[str, Any], float]] = {
    "digits": ({"source": "digits"}, CNN_SPACE, 0.975),
    # 10 classes of 2 clusters each in 10 of 20 dimensions, 5% flipped labels: a good MLP reaches ~0.57
    "hard": ({"source": "synthetic", "samples": 3000, "features": 20, "classes": 10, "noise": 0.05}, MLP_SPACE, 0.53),
}
QUICK_TARGETS = {"digits": 0.97, "hard": 0.32}


# -- KerasTuner's side: the same spaces as hypermodels -----------------------------------------------------
def _optimizer(hp: Any) -> Any:
    import keras

    name = hp.Choice("optimizer", ["sgd", "adam", "rmsprop"])
    lr = hp.Float("lr", 1e-4, 1e-1, sampling="log")
    if name == "sgd":
        with hp.conditional_scope("optimizer", ["sgd"]):
            return keras.optimizers.SGD(learning_rate=lr, momentum=hp.Float("momentum", 0.0, 0.99))
    return keras.optimizers.Adam(learning_rate=lr) if name == "adam" else keras.optimizers.RMSprop(learning_rate=lr)


def _cnn(hp: Any, x: Any) -> Any:
    import keras

    height, width = x.shape[1], x.shape[2]
    kernel = hp.Choice("kernel_size", [3, 5])
    filters = hp.Int("filters", 8, 64, sampling="log")
    for i in range(hp.Int("conv_blocks", 1, 2)):
        x = keras.layers.Conv2D(filters * 2**i, kernel, padding="same")(x)
        x = keras.layers.Activation("relu")(x)
        if height >= 2 and width >= 2:
            x = keras.layers.MaxPooling2D(2, padding="same")(x)
            height, width = (height + 1) // 2, (width + 1) // 2
    x = keras.layers.GlobalAveragePooling2D()(x) if height * width > 16 else keras.layers.Flatten()(x)
    dropout = hp.Float("dropout", 0.0, 0.5, step=0.1)
    if dropout > 0:
        x = keras.layers.Dropout(dropout)(x)
    units = hp.Choice("dense_units", [0, 64, 128])
    if units > 0:
        x = keras.layers.Activation("relu")(keras.layers.Dense(units)(x))
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    return x


def _mlp(hp: Any, x: Any) -> Any:
    import keras

    units = hp.Int("units", 16, 256, sampling="log")
    activation = hp.Choice("activation", ["relu", "tanh"])
    dropout = hp.Float("dropout", 0.0, 0.5, step=0.1)
    for _ in range(hp.Int("layers", 1, 3)):
        x = keras.layers.Activation(activation)(keras.layers.Dense(units)(x))
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    return x


def hypermodel(task: str, x_train: Any, classes: int) -> Any:
    """A KerasTuner build function: Normalization (train statistics) -> the task's block -> softmax."""
    import keras

    axes = tuple(range(x_train.ndim - 1))
    mean, var = x_train.mean(axis=axes), x_train.var(axis=axes)
    block = _cnn if TASKS[task][1]["block"] == "cnn" else _mlp

    def build(hp: Any) -> Any:
        inputs = keras.Input(shape=x_train.shape[1:])
        x = keras.layers.Normalization(axis=-1, mean=mean, variance=var)(inputs)
        x = block(hp, x)
        outputs = keras.layers.Activation("softmax")(keras.layers.Dense(classes)(x))
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=_optimizer(hp), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return build


def _check_same_architecture(task: str, data: Any, space: Any) -> None:
    """Build one configuration both ways (``space``: automl's resolved space); the parameter counts must agree."""
    import keras_tuner as kt

    from automl.builders.model import ModelSpec, build_model

    hp = kt.HyperParameters()
    fixed = {"conv_blocks": 2, "filters": 16, "kernel_size": 3, "dense_units": 64, "dropout": 0.2, "layers": 2,
             "units": 32, "activation": "relu", "optimizer": "adam", "lr": 1e-3}
    for name, value in fixed.items():
        hp.Fixed(name, value)
    ours = hypermodel(task, data.x_train, data.num_classes)(hp)
    block, params = space.decode(space.replay({k: v for k, v in fixed.items() if k in space.params}))
    theirs = build_model(block, params, ModelSpec.from_arrays(data.x_train, data.y_train, data.task,
                                                              data.num_classes))
    if ours.count_params() != theirs.count_params():
        raise SystemExit(f"{task}: the KerasTuner hypermodel has {ours.count_params()} parameters, automl's model "
                         f"{theirs.count_params()}: the two spaces no longer build the same architecture")


# -- one run (in a child process) --------------------------------------------------------------------------
def _write_pipeline(job: dict[str, Any], folder: Path) -> Path:
    import yaml

    data, space, _ = TASKS[job["task"]]
    pipeline = {"name": f"sq-{job['task']}", "seed": job["seed"], "data": data, "space": space,
                "study": {"sampler": "tpe", "pruner": "median" if job["method"].endswith("median") else "none",
                          "trials": job["trials"], "metric": "val_accuracy"},
                "train": {"epochs": job["epochs"], "batch_size": job["batch_size"], "refit": False}}
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return path


def _automl_run(job: dict[str, Any], path: Path) -> dict[str, Any]:
    import automl
    from automl.progress import Events

    automl.tune(path, {"name": "warmup", "study.trials": 1, "train.epochs": 1, "study.sampler": "random",
                       "study.pruner": "none"})
    events = Events()
    start = time.monotonic()
    result = automl.run(path, progress=events)
    wall = time.monotonic() - start
    curve = [(e.at - start, e.args["metrics"].get("val_accuracy")) for e in events.of("epoch_ended")]
    states = [t.state for t in result.trials]
    return {"wall_s": wall, "curve": curve, "best_val": result.best_value,
            "test_accuracy": result.test_metrics.get("test_accuracy"), "trials_run": len(states),
            "pruned": states.count("PRUNED"), "failed": states.count("FAIL"),
            "epochs_trained": sum(int(t.attrs.get("epochs_trained", 0)) for t in result.trials)}


def _keras_tuner_run(job: dict[str, Any], path: Path) -> dict[str, Any]:
    import keras
    import keras_tuner as kt

    from automl.config import load_pipeline
    from automl.plan import make_plan

    plan = make_plan(load_pipeline(path))
    data = plan.data  # automl's own splits: the very same arrays
    _check_same_architecture(job["task"], data, plan.space)
    keras.utils.set_random_seed(job["seed"])
    build = hypermodel(job["task"], data.x_train, data.num_classes)
    build(kt.HyperParameters()).fit(data.x_train[:64], data.y_train[:64], epochs=1, verbose=0)  # warm-up
    keras.backend.clear_session()
    curve: list[tuple[float, float | None]] = []
    epochs = [0]

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            curve.append((time.monotonic() - start, (logs or {}).get("val_accuracy")))
            epochs[0] += 1

    searcher = kt.BayesianOptimization if job["method"] == "kt-bayesian" else kt.RandomSearch
    tuner = searcher(build, objective="val_accuracy", max_trials=job["trials"], seed=job["seed"],
                     directory=str(Path(job["workdir"]) / "kt"), project_name=job["method"], overwrite=True)
    start = time.monotonic()
    tuner.search(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=job["epochs"],
                 batch_size=job["batch_size"], callbacks=[Clock()], verbose=0)
    best = tuner.get_best_models(1)[0]
    test = best.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    wall = time.monotonic() - start
    trials = tuner.oracle.get_best_trials(num_trials=job["trials"] * 2)
    return {"wall_s": wall, "curve": curve, "best_val": tuner.oracle.get_best_trials(1)[0].score,
            "test_accuracy": float(test["accuracy"]), "trials_run": len(trials), "pruned": 0,
            "failed": sum(t.status == "FAILED" for t in trials), "epochs_trained": epochs[0]}


def _child(job: dict[str, Any]) -> dict[str, Any]:
    quiet_tensorflow()
    folder = Path(job["workdir"])
    os.chdir(folder)
    path = _write_pipeline(job, folder)
    run = _automl_run if job["method"].startswith("automl") else _keras_tuner_run
    return {**job, **run(job, path)}


# -- the driver ---------------------------------------------------------------------------------------------
def time_to(curve: list[list[float]], target: float) -> float:
    """Seconds until a validation accuracy >= ``target`` was first seen (inf: never)."""
    return next((t for t, v in curve if v is not None and v >= target), math.inf)


def _seconds(values: list[float]) -> str:
    reached = [v for v in values if math.isfinite(v)]
    if not reached:
        return f"not reached (0/{len(values)})"
    median = statistics.median(values)  # inf counts as slowest
    shown = f"{median:.1f}" if math.isfinite(median) else "> budget"
    return f"{shown} ({len(reached)}/{len(values)})"


def _section(rows: list[dict[str, Any]], args: argparse.Namespace, targets: dict[str, float]) -> list[str]:
    out = []
    headline = []
    for task in args.tasks:
        runs = [r for r in rows if r["task"] == task]
        target = targets[task]
        lines = []
        medians: dict[str, float] = {}
        for method in args.methods:
            rs = [r for r in runs if r["method"] == method]
            if not rs:
                continue
            times = [time_to(r["curve"], target) for r in rs]
            medians[method] = statistics.median(times)
            lines.append([LABELS[method], mean_sd([r["best_val"] for r in rs]), mean_sd([r["test_accuracy"]
                          for r in rs]), _seconds(times), f"{statistics.mean(r['wall_s'] for r in rs):.1f}",
                          f"{statistics.mean(r['epochs_trained'] for r in rs):.0f}",
                          f"{sum(r['pruned'] for r in rs)}/{sum(r['failed'] for r in rs)}"])
        out += [f"### {task} (target validation accuracy {target:g})", "",
                table(["method", "best val accuracy", "test accuracy (best model)", "time to target s (median; "
                       "seeds reaching it)", "wall s", "epochs trained", "pruned/failed trials"], lines), ""]
        ours = min((medians.get(m, math.inf) for m in ("automl-tpe-median", "automl-tpe")), default=math.inf)
        theirs = medians.get("kt-bayesian", math.inf)
        if math.isfinite(ours) and math.isfinite(theirs):
            headline.append(f"{task}: {theirs / ours:.2f}x")
        elif math.isfinite(ours):
            headline.append(f"{task}: KerasTuner Bayesian did not reach it in most seeds, automl in {ours:.1f} s")
        elif math.isfinite(theirs):
            headline.append(f"{task}: automl did not reach it in most seeds, KerasTuner Bayesian in {theirs:.1f} s")
        else:
            headline.append(f"{task}: neither reached it in most seeds")
    return [f"Time to target, KerasTuner Bayesian / best automl variant (target >= 2x): {'; '.join(headline)}.", "",
            *out]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--targets", default="", help="task=accuracy,... (default: " +
                        ", ".join(f"{k}={v[2]}" for k, v in TASKS.items()) + ")")
    parser.add_argument("--quick", action="store_true", help="8 trials x 4 epochs, seed 0, lower targets "
                        f"{QUICK_TARGETS} (a smoke run)")
    parser.add_argument("--write", type=Path, help="write the Search quality section of this Markdown file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        answer_child(args.child, _child)
        return
    if args.quick:
        args.trials, args.epochs, args.seeds = 8, 4, "0"
    args.tasks, args.methods = args.tasks.split(","), args.methods.split(",")
    targets = ({k: v[2] for k, v in TASKS.items()} | (QUICK_TARGETS if args.quick else {})) | {
        k: float(v) for k, v in (item.split("=") for item in args.targets.split(",") if item)}
    load = os.getloadavg()
    rows = []
    for task in args.tasks:
        for seed in (int(s) for s in args.seeds.split(",")):
            for method in args.methods:
                with tempfile.TemporaryDirectory(prefix="automl-search-") as folder:
                    job = {"task": task, "method": method, "seed": seed, "trials": args.trials,
                           "epochs": args.epochs, "batch_size": args.batch_size, "workdir": folder}
                    rows.append(run_child(__file__, job))
                r = rows[-1]
                print(f"{task:6s} seed {seed} {method:18s}: best val {r['best_val']:.4f} test "
                      f"{r['test_accuracy']:.4f} wall {r['wall_s']:.1f}s time to {targets[task]:g}: "
                      f"{time_to(r['curve'], targets[task]):.1f}s", file=sys.stderr, flush=True)
    command = "python benchmarks/search_quality.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = "\n".join([
        f"`{command.strip()}`: {args.trials} trials x {args.epochs} epochs per search (batch {args.batch_size}), "
        f"seeds {args.seeds}; the same space for every method (benchmarks/search_quality.py), KerasTuner used "
        "directly through its own API; each search in a fresh process after an unmeasured warm-up.", "",
        environment(load), "", *_section(rows, args, targets),
        "Time to target counts from the start of the search to the end of the first epoch (of any trial) whose "
        "validation accuracy reaches the target; a seed that never reaches it counts as slowest. Wall time "
        "includes each tool's bookkeeping and the final test evaluation (automl: also MLflow logging and model "
        "registration).",
    ])
    publish(body, args.write, "Search quality")


if __name__ == "__main__":
    main()
