"""Tune for the phone (issue 12): multi-objective search against the measured .tflite, pruning, samplers.

Three parts, each through automl's real path (``automl.run`` on a generated pipeline, the Optuna study it
leaves behind read back through Optuna's own API), the same trial budget for every method, several seeds.

The task of ``pareto`` and ``pruning`` (``--task``):

``vision`` (the default)
    The vision benchmark's folder (benchmarks/vision.py, issue 22): ``--images`` generated 96x96 RGB PNGs of 10
    classes (benchmarks/image_memory.py's ``make_folder``, kept under ``--root`` and shared with vision.py),
    ``source: image_folder``, 60/20/20, and vision.py's ``mobilenet`` space (``MOBILENET_SPACE``; the block's
    stem has stride 2 at 96 px). Its int8 files take milliseconds, so the latency objective ranks real
    differences (on digits-size models two measurements of the same models ranked them with Spearman 0.61).
``motifs``
    The task these parts ran on before (the figures in docs/benchmarks.md up to 2026-12-07): benchmarks/mobile.py's
    motif-order sequences (10 classes, 64 x 4, ``--samples``) and a 1-D CNN space whose sizes span ~100x in
    latency, 5-60 µs a call.

``pareto``
    The task's space, objectives ``val_accuracy`` (max) x ``tflite_latency_ms``
    (min, the int8 file timed in the ai-edge-litert interpreter, 1 thread, before training). NSGA-II,
    multi-objective TPE and random search, plus an accuracy-only TPE study (a never-binding latency
    constraint makes automl measure its trials too). Reported: hypervolume of (1 - val accuracy) x latency
    against one reference point for all runs (normalized to [0, 1], higher is better); the "knee": the
    fastest Pareto trial within 0.5 pt of the accuracy-only best's validation accuracy, against that best's
    latency; Spearman of parameter count with measured latency over every trial; the latency coefficient of
    variation; and whether the latency ranks the same models again (Spearman of two re-measurements of the
    kept models). Each model is timed one at a time.
``pruning``
    The same task and space, a single objective (val_accuracy), TPE, ``--pruning-trials`` x ``--pruning-epochs``;
    pruners none, median, successive_halving, hyperband. Reported per pruner: epochs trained, best
    validation accuracy, and the epochs spent until a trial first reached the no-pruning study's best within
    0.5 pt (pruned trials' epochs counted).
``samplers``
    Whatever ``--task``: a harder generated tabular task (10 classes of 2 clusters each, 5% flipped labels)
    with an MLP space; ``--sampler-trials`` (20) trials, then the same study resumed to ``--sampler-total`` (50): best
    validation accuracy, the best model's test accuracy and the wall time at both budgets, per sampler.

    .venv/bin/python benchmarks/phone.py                                # every part, 3 seeds, the vision task
    .venv/bin/python benchmarks/phone.py --parts pareto,pruning --quick  # smoke: 200 images, 2 trials, 1 seed
    .venv/bin/python benchmarks/phone.py --parts pareto --images 2000 --trials 8 --epochs 2   # a quick look
    .venv/bin/python benchmarks/phone.py --task motifs --parts pareto --samples 1500 --trials 20 --epochs 5
    .venv/bin/python benchmarks/phone.py --write docs/benchmarks.md     # the "Tune for the phone: ..." sections

Targets (issue 12): hypervolume NSGA-II / TPE >= +10% over random; knee >= 1.5x faster than the accuracy-only
best within 0.5 pt; pruning: >= 3x fewer epochs for the best pruner to reach the no-pruning best.
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

import numpy as np
import yaml
from _common import environment, mean_sd, publish, quiet_tensorflow, table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tasks import motif_data  # noqa: E402
from image_memory import SIZE, make_folder  # noqa: E402
from vision import MOBILENET_SPACE  # noqa: E402

PARETO_SPACE = {"block": "cnn1d", "params": {
    "conv_blocks": {"type": "int", "low": 1, "high": 3},
    "filters": {"type": "int", "low": 4, "high": 96, "log": True},
    "kernel_size": {"type": "categorical", "choices": [3, 5, 7]},
    "dense_units": {"type": "categorical", "choices": [0, 32, 64]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
    "optimizer": "adam",
    "lr": {"type": "float", "low": 5e-4, "high": 5e-3, "log": True},
}}
SAMPLER_SPACE = {"block": "mlp", "params": {
    "layers": {"type": "int", "low": 1, "high": 3},
    "units": {"type": "int", "low": 16, "high": 256, "log": True},
    "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
}}
#: the task of the pareto and pruning parts: its space, and the defaults of its budget (``--trials`` ...)
TASKS: dict[str, dict[str, Any]] = {
    "vision": {"space": MOBILENET_SPACE, "trials": 16, "epochs": 3, "pruning_trials": 16, "pruning_epochs": 8},
    "motifs": {"space": PARETO_SPACE, "trials": 20, "epochs": 8, "pruning_trials": 20, "pruning_epochs": 15},
}
#: ``--quick``: a smoke run of any part in minutes
QUICK: dict[str, Any] = {"images": 200, "samples": 300, "seeds": [0], "trials": 2, "epochs": 1, "pruning_trials": 2,
                         "pruning_epochs": 2, "sampler_trials": 2, "sampler_total": 3, "sampler_epochs": 1}
MO_METHODS = ["nsga2", "tpe", "random"]
PRUNERS = ["none", "median", "successive_halving", "hyperband"]
SAMPLERS = ["tpe", "random", "qmc", "cmaes", "nsga2"]
WITHIN = 0.005  # 0.5 pt


# -- running studies ---------------------------------------------------------------------------------------------
def _run(doc: dict[str, Any], folder: Path, *, new: bool = True, trials: int | None = None) -> tuple[Any, float]:
    import automl

    path = folder / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    overrides = {"study.trials": trials} if trials is not None else None
    start = time.perf_counter()
    result = automl.run(str(path), overrides=overrides, new=new)
    return result, time.perf_counter() - start


def _base(name: str, seed: int, data: dict[str, Any], space: dict[str, Any], args: argparse.Namespace,
          epochs: int) -> dict[str, Any]:
    return {"name": name, "seed": seed, "data": data, "task": "classification", "space": space,
            "train": {"epochs": epochs, "batch_size": 64, "isolation": args.isolation}}


def _motif_data(folder: Path, samples: int) -> dict[str, Any]:
    path = folder / "motifs.npz"
    if not path.exists():
        x, y = motif_data(samples)
        np.savez(path, x=x, y=y)
    return {"source": "npz", "path": str(path), "validation_split": 0.2, "test_split": 0.2}


def _image_data(root: Path, images: int) -> dict[str, Any]:
    """The vision benchmark's folder of ``images`` PNGs (made once under ``root``, kept for later runs)."""
    folder = make_folder(root, images)
    return {"source": "image_folder", "path": str(folder), "image_size": [SIZE, SIZE], "cache": "auto",
            "validation_split": 0.2, "test_split": 0.2}


def _task_data(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """The ``data:`` of the pareto and pruning parts' pipelines for ``--task``."""
    if args.task == "vision":
        return _image_data(args.root.resolve(), args.images)
    return _motif_data(folder, args.samples)


def _describe_task(args: argparse.Namespace) -> str:
    if args.task == "vision":
        return (f"Task: the vision benchmark's generated folder (96x96 RGB PNGs, 10 classes, {args.images} images, "
                "60/20/20, `source: image_folder`, `data.cache: auto`), benchmarks/vision.py's `mobilenet` space "
                "(1-3 stages, 1-2 blocks, width 0.5/0.75/1.0, expansion 2/4/6, kernel 3/5, squeeze-excite, "
                "hard_swish/relu, dropout, lr; `stem_stride: auto`, 2 at 96 px)")
    return (f"Task: motif-order sequences (64 x 4, 10 classes, {args.samples} samples, 60/20/20), 1-D CNN space "
            "(1-3 blocks, 4-96 filters, kernel 3/5/7, dense 0/32/64, dropout, lr)")


def _unit(args: argparse.Namespace) -> tuple[str, float]:
    """How latencies are shown: ms for the vision task's models, µs for the motifs' (latencies are in ms)."""
    return ("ms", 1.0) if args.task == "vision" else ("µs", 1000.0)


def _completed(study: Any) -> list[Any]:
    import optuna

    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


# -- statistics ----------------------------------------------------------------------------------------------
def hypervolume(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by ``points`` (both coordinates minimized) inside the box up to ``ref``."""
    front = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    area, best_y = 0.0, ref[1]
    for x, y in front:  # ascending x: each point adds the strip below the best y so far
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else float("nan")


def pareto_front(points: list[tuple[float, float, Any]]) -> list[tuple[float, float, Any]]:
    """Non-dominated (error, latency, payload) triples, both minimized."""
    return [p for p in points if not any(q[0] <= p[0] and q[1] <= p[1] and (q[0], q[1]) != (p[0], p[1])
                                         for q in points)]


# -- part 1: multi-objective ---------------------------------------------------------------------------------------
def part_pareto(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    data = _task_data(args, folder)
    measure = {"format": "int8", "threads": 1}
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    for seed in args.seeds:
        for method in [*MO_METHODS, "accuracy-only"]:
            name = f"phone_{method.replace('-', '_')}_{seed}"
            doc = _base(name, seed, data, TASKS[args.task]["space"], args, args.epochs)
            if method == "accuracy-only":
                # the latency is measured (a constraint needs it) but never binds: an accuracy-only search
                doc["study"] = {"sampler": "tpe", "pruner": "none", "trials": args.trials, "measure": measure,
                                "constraints": ["tflite_latency_ms <= 1000000"]}
            else:
                doc["study"] = {"sampler": method, "pruner": "none", "trials": args.trials, "measure": measure,
                                "objectives": [{"val_accuracy": "maximize"}, {"tflite_latency_ms": "minimize"}]}
            result, seconds = _run(doc, folder)
            trials = []
            for t in _completed(result.study):
                acc = t.values[0] if t.values is not None else t.value
                trials.append({"number": t.number, "acc": float(acc),
                               "latency": float(t.user_attrs["tflite_latency_ms"]),
                               "cv": float(t.user_attrs.get("tflite_latency_cv", float("nan"))),
                               "params": int(t.user_attrs["n_params"])})
            runs[(method, seed)] = {"trials": trials, "seconds": seconds, "test": result.test_metrics,
                                    "name": name, "best_trial": result.best_trial}
            print(f"pareto {method} seed {seed}: {len(trials)} trials, {seconds:.0f} s", file=sys.stderr, flush=True)
    remeasure = _remeasure(folder / f"{runs[('tpe', args.seeds[0])]['name']}.yaml")
    return {"runs": runs, "remeasure": remeasure}


def _remeasure(pipeline: Path) -> dict[str, Any]:
    """Time the kept Pareto models twice more, one at a time: do repeated measurements rank them the same?
    Calibrated and timed on the first 200 training rows of ``pipeline``'s data, as the trials were."""
    import keras

    from automl.config import load_pipeline
    from automl.data.rows import take
    from automl.plan import make_plan
    from automl.tflite.measure import MeasureRequest, measure_model

    train = make_plan(load_pipeline(pipeline)).data.x_train
    x = np.asarray(take(train, np.arange(min(200, len(train)))), dtype=np.float32)
    paths = sorted(Path("mlruns").glob("phone_nsga2_*/trials/*.keras")) + sorted(
        Path("mlruns").glob("phone_tpe_*/trials/*.keras"))
    paths = paths[:24]
    first, second = [], []
    request = MeasureRequest(format="int8", threads=1)
    for rounds in (first, second):
        for path in paths:
            rounds.append(measure_model(keras.saving.load_model(path, compile=False), x, request)["tflite_latency_ms"])
    return {"models": len(paths), "first": first, "second": second, "spearman": spearman(first, second)}


def _shown(ms: float, args: argparse.Namespace) -> str:
    unit, scale = _unit(args)
    return f"{ms * scale:.{2 if unit == 'ms' else 1}f}"


def report_pareto(out: dict[str, Any], args: argparse.Namespace) -> list[str]:
    runs = out["runs"]
    every = [t for r in runs.values() for t in r["trials"]]
    ref = (1.0, max(t["latency"] for t in every) * 1.1)
    area = ref[0] * ref[1]
    hv: dict[str, list[float]] = {m: [] for m in MO_METHODS}
    for (method, _seed), r in runs.items():
        if method in hv:
            hv[method].append(hypervolume([(1 - t["acc"], t["latency"]) for t in r["trials"]], ref) / area)
    rows = []
    for method in MO_METHODS:
        wall = [runs[(method, s)]["seconds"] for s in args.seeds]
        front = [len(pareto_front([(1 - t["acc"], t["latency"], t) for t in runs[(method, s)]["trials"]]))
                 for s in args.seeds]
        best = [max(t["acc"] for t in runs[(method, s)]["trials"]) for s in args.seeds]
        rows.append([method, mean_sd(hv[method], 4), ", ".join(f"{v:.4f}" for v in hv[method]),
                     mean_sd(best, 4), mean_sd(front, 1), f"{statistics.mean(wall):.0f}"])
    rnd = statistics.mean(hv["random"])
    gains = {m: statistics.mean(hv[m]) / rnd - 1 for m in ("nsga2", "tpe")}
    # knee vs the accuracy-only best, per seed
    knee_rows, speedups, within = [], [], []
    for seed in args.seeds:
        acc_only = runs[("accuracy-only", seed)]
        best = max(acc_only["trials"], key=lambda t: t["acc"])
        for method in ("nsga2", "tpe"):
            pool = [t for t in runs[(method, seed)]["trials"] if t["acc"] >= best["acc"] - WITHIN]
            if pool:
                knee = min(pool, key=lambda t: t["latency"])
                speedups.append(best["latency"] / knee["latency"])
                within.append(True)
                knee_rows.append([seed, method, f"{best['acc']:.4f}", _shown(best["latency"], args),
                                  f"{knee['acc']:.4f}", _shown(knee["latency"], args),
                                  f"{best['latency'] / knee['latency']:.2f}x"])
            else:
                within.append(False)
                knee_rows.append([seed, method, f"{best['acc']:.4f}", _shown(best["latency"], args),
                                  "none within 0.5 pt", "-", "-"])
    params = [t["params"] for t in every]
    lat = [t["latency"] for t in every]
    cvs = [t["cv"] for t in every if math.isfinite(t["cv"])]
    rem = out["remeasure"]
    unit = _unit(args)[0]
    stable = ("fewer than 3 models: no ranking to compare" if not math.isfinite(rem["spearman"])
              else "stable" if rem["spearman"] >= 0.9
              else "**below 0.9: on this machine the latency objective is partly noise**")
    lines = [
        f"{_describe_task(args)}; {args.trials} trials x "
        f"{args.epochs} epochs per study, seeds {', '.join(map(str, args.seeds))}, `train.isolation: "
        f"{args.isolation}`; objectives val_accuracy (max) x tflite_latency_ms (int8, 1 thread, batch 1, timed "
        "before training, one model at a time).", "",
        "### Hypervolume (same budget)", "",
        table(["method", "hypervolume (mean ± sd)", "per seed", "best val accuracy", "Pareto trials",
               "wall s (mean)"], rows), "",
        f"Reference point: error 1.0 (accuracy 0) and 1.1 x the slowest measured latency over every run "
        f"({_shown(ref[1], args)} {unit}); hypervolume / the reference box. Gain over random: NSGA-II "
        f"{gains['nsga2']:+.1%}, TPE {gains['tpe']:+.1%} (target >= +10%: "
        f"{'met' if max(gains.values()) >= 0.10 else '**missed**'}).", "",
        "### Knee vs the accuracy-only best", "",
        table(["seed", "multi-objective method", "accuracy-only best val acc", f"its latency {unit}", "knee val acc",
               f"knee latency {unit}", "speed-up"], knee_rows), "",
        f"Knee: the fastest trial of the multi-objective study within 0.5 pt of the accuracy-only (TPE) study's "
        f"best validation accuracy, same seed and budget. Speed-up median "
        f"{statistics.median(speedups) if speedups else float('nan'):.2f}x over {len(speedups)} of "
        f"{len(within)} (seed, method) pairs that had such a trial (target >= 1.5x: "
        f"{'met' if speedups and statistics.median(speedups) >= 1.5 else '**missed**'}).", "",
        "### Is the parameter count a good latency proxy? Is the latency stable?", "",
        f"- Spearman(params, measured int8 latency) over all {len(every)} measured trials: "
        f"{spearman(params, lat):.3f}.",
        f"- Latency coefficient of variation per measurement (blocks of invocations): median "
        f"{statistics.median(cvs):.3f}, 90th percentile {np.percentile(cvs, 90):.3f}." if cvs else "- no CV",
        f"- Re-measuring {rem['models']} kept Pareto models twice, one at a time: Spearman of the two rankings "
        f"{rem['spearman']:.3f} ({stable}).",
    ]
    return lines


# -- part 2: pruning ---------------------------------------------------------------------------------------------
def part_pruning(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    data = _task_data(args, folder)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for seed in args.seeds:
        for pruner in PRUNERS:
            name = f"prune_{pruner}_{seed}"
            doc = _base(name, seed, data, TASKS[args.task]["space"], args, args.pruning_epochs)
            doc["study"] = {"sampler": "tpe", "pruner": pruner, "trials": args.pruning_trials}
            result, seconds = _run(doc, folder)
            curves = []
            for t in sorted(result.study.trials, key=lambda t: t.number):
                values = [t.intermediate_values[k] for k in sorted(t.intermediate_values)]
                curves.append({"number": t.number, "state": t.state.name, "curve": values})
            out[(pruner, seed)] = {"curves": curves, "seconds": seconds, "test": result.test_metrics,
                                   "best": result.best_value}
            print(f"pruning {pruner} seed {seed}: {sum(len(c['curve']) for c in curves)} epochs, {seconds:.0f} s",
                  file=sys.stderr, flush=True)
    return out


def epochs_to(curves: list[dict[str, Any]], target: float) -> int | None:
    spent = 0
    for c in curves:
        for value in c["curve"]:
            spent += 1
            if value >= target - 1e-12:
                return spent
    return None


def report_pruning(out: dict[tuple[str, int], dict[str, Any]], args: argparse.Namespace) -> list[str]:
    rows, ratios = [], {p: [] for p in PRUNERS}
    reach_ratio = {p: [] for p in PRUNERS}
    for pruner in PRUNERS:
        epochs, best, test, reach, pruned, wall = [], [], [], [], [], []
        for seed in args.seeds:
            r, ref = out[(pruner, seed)], out[("none", seed)]
            total = sum(len(c["curve"]) for c in r["curves"])
            ref_total = sum(len(c["curve"]) for c in ref["curves"])
            epochs.append(total)
            best.append(r["best"])
            test.append(r["test"].get("test_accuracy", float("nan")))
            pruned.append(sum(c["state"] == "PRUNED" for c in r["curves"]))
            wall.append(r["seconds"])
            target = ref["best"] - WITHIN
            n = epochs_to(r["curves"], target)
            reach.append(n)
            if r["best"] >= target:
                ratios[pruner].append(ref_total / total)
            n_ref = epochs_to(ref["curves"], target)
            if n is not None and n_ref is not None:
                reach_ratio[pruner].append(n_ref / n)
        rows.append([pruner, mean_sd(epochs, 0), mean_sd(best, 4), mean_sd(test, 4), mean_sd(pruned, 1),
                     ", ".join("not reached" if n is None else str(n) for n in reach),
                     (f"{statistics.mean(ratios[pruner]):.2f}x ({len(ratios[pruner])}/{len(args.seeds)})"
                      if ratios[pruner] else "-"),
                     (f"{statistics.mean(reach_ratio[pruner]):.2f}x" if reach_ratio[pruner] else "-"),
                     f"{statistics.mean(wall):.0f}"])
    best_pruner = max((p for p in PRUNERS if p != "none" and ratios[p]),
                      key=lambda p: statistics.mean(ratios[p]), default=None)
    best_ratio = statistics.mean(ratios[best_pruner]) if best_pruner else float("nan")
    return [
        f"{_describe_task(args)}: the same task and space as the multi-objective part, one objective "
        f"(val_accuracy), TPE, {args.pruning_trials} trials x "
        f"{args.pruning_epochs} epochs, seeds {', '.join(map(str, args.seeds))}.", "",
        table(["pruner", "epochs trained", "best val acc", "test acc (best model)", "pruned trials",
               "epochs until within 0.5 pt of no-pruning best (per seed)",
               "epochs saved, same best (none / pruner; seeds whose best is within 0.5 pt)",
               "epochs-to-target ratio (none / pruner)", "wall s"], rows), "",
        f"Best pruner by epochs saved with the same best model: {best_pruner or 'none'} "
        f"{best_ratio:.2f}x (target >= 3x: {'met' if best_ratio >= 3 else '**missed**'}).",
    ]


# -- part 3: samplers --------------------------------------------------------------------------------------------
def part_samplers(args: argparse.Namespace, folder: Path) -> dict[tuple[str, int], dict[str, Any]]:
    data = {"source": "synthetic", "samples": 3000, "features": 20, "classes": 10, "noise": 0.05,
            "validation_split": 0.2, "test_split": 0.2}
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for seed in args.seeds:
        for sampler in SAMPLERS:
            name = f"sampler_{sampler}_{seed}"
            doc = _base(name, seed, data, SAMPLER_SPACE, args, args.sampler_epochs)
            doc["study"] = {"sampler": sampler, "pruner": "none", "trials": args.sampler_trials}
            first, s1 = _run(doc, folder)
            second, s2 = _run(doc, folder, new=False, trials=args.sampler_total - args.sampler_trials)
            out[(sampler, seed)] = {
                "at": {args.sampler_trials: (first.best_value, first.test_metrics.get("test_accuracy"), s1),
                       args.sampler_total: (second.best_value, second.test_metrics.get("test_accuracy"), s1 + s2)}}
            print(f"sampler {sampler} seed {seed}: {first.best_value:.4f} -> {second.best_value:.4f}, "
                  f"{s1 + s2:.0f} s", file=sys.stderr, flush=True)
    return out


def report_samplers(out: dict[tuple[str, int], dict[str, Any]], args: argparse.Namespace) -> list[str]:
    rows = []
    for sampler in SAMPLERS:
        row = [sampler]
        for budget in (args.sampler_trials, args.sampler_total):
            at = [out[(sampler, s)]["at"][budget] for s in args.seeds]
            row += [mean_sd([a[0] for a in at], 4), mean_sd([a[1] for a in at], 4),
                    f"{statistics.mean(a[2] for a in at):.0f}"]
        rows.append(row)
    a, b = args.sampler_trials, args.sampler_total
    return [
        f"A generated tabular task (3000 samples, 20 features, 10 classes of 2 clusters, 5% flipped labels), "
        f"MLP space (1-3 layers, 16-256 units, activation, dropout, optimizer, lr), "
        f"{args.sampler_epochs} epochs per trial, no pruner, seeds {', '.join(map(str, args.seeds))}. "
        f"{a} trials, then the same study resumed to {b} (`automl run` again on the same name): the figures at "
        f"{b} are the resumed study's.", "",
        table(["sampler", f"best val acc @{a}", f"test acc @{a}", f"wall s @{a}", f"best val acc @{b}",
               f"test acc @{b}", f"wall s @{b} (both sessions)"], rows), "",
        "`gp` (Optuna's GPSampler) needs torch, which automl installs only as an extra; it is not in this table.",
    ]


# -- main ----------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with ``--quick`` applied and the budget defaults of ``--task`` filled in."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="pareto,pruning,samplers")
    parser.add_argument("--task", default="vision", choices=list(TASKS),
                        help="the task of the pareto and pruning parts (default vision: 96x96 images, mobilenet)")
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=None,
                        help="comma-separated (default 0,1,2)")
    parser.add_argument("--images", type=int, default=None, help="vision: images in the generated folder (10000)")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "automl-vision",
                        help="vision: where the folder is made and kept (benchmarks/vision.py's default too)")
    parser.add_argument("--samples", type=int, default=None, help="motifs: sequences (2000)")
    parser.add_argument("--trials", type=int, default=None, help="pareto: trials per study (vision 16, motifs 20)")
    parser.add_argument("--epochs", type=int, default=None, help="pareto: epochs per trial (vision 3, motifs 8)")
    parser.add_argument("--pruning-trials", type=int, default=None, help="pruning: trials (vision 16, motifs 20)")
    parser.add_argument("--pruning-epochs", type=int, default=None, help="pruning: epochs (vision 8, motifs 15)")
    parser.add_argument("--sampler-trials", type=int, default=None, help="samplers: first session's trials (20)")
    parser.add_argument("--sampler-total", type=int, default=None, help="samplers: trials after the resume (50)")
    parser.add_argument("--sampler-epochs", type=int, default=None, help="samplers: epochs (10)")
    parser.add_argument("--isolation", default="inline", choices=["inline", "process"])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 200 images (or 300 sequences), 2 trials of 1 epoch (pruning: 2), seed 0 "
                             "(what is given explicitly stays)")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args(argv)
    full = {"images": 10_000, "samples": 2000, "seeds": [0, 1, 2], "sampler_trials": 20, "sampler_total": 50,
            "sampler_epochs": 10, **{k: v for k, v in TASKS[args.task].items() if k != "space"}}
    for key, value in (QUICK if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main() -> None:
    args = parse_args()
    parts = args.parts.split(",")
    quiet_tensorflow()
    write = args.write.resolve() if args.write else None
    sections = {"pareto": ("Tune for the phone: accuracy x measured latency", part_pareto, report_pareto),
                "pruning": ("Tune for the phone: pruning", part_pruning, report_pruning),
                "samplers": ("Tune for the phone: samplers", part_samplers, report_samplers)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)  # the studies' mlruns/ stay in the temporary folder
        for part in parts:  # each part is its own section, so that parts can be rerun alone
            title, measure, describe = sections[part]
            load = os.getloadavg()
            start = time.perf_counter()
            lines = describe(measure(args, folder), args)
            minutes = (time.perf_counter() - start) / 60
            given = " ".join(sys.argv[1:])
            command = f"python benchmarks/phone.py {given}" + ("" if "--task" in given else f" (--task {args.task})")
            head = [f"`{command}`, part {part} ({minutes:.0f} min; benchmarks/phone.py).", "", environment(load), ""]
            publish("\n".join(head + lines), write, title)

if __name__ == "__main__":
    main()
