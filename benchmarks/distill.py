"""Benchmark "distillation that pays" (issue 15): teacher, distilled student and the same student from scratch.

Two generated tasks (no download) where a teacher is good and a small model trained from scratch is
clearly worse:

``motifs``
    benchmarks/mobile.py's motif-order sequences (64 steps x 4 channels, 10 classes = ordered pairs of
    motifs, a distractor motif, noise); a Conv1D teacher (3 blocks, 64/128/256 filters).
``glyphs``
    its 2-D cousin: 24 x 24 one-channel images, 10 classes = which of 5 glyphs (5 x 5 sign patterns) stands in
    the left half and which in the right half, a distractor glyph anywhere, Gaussian noise; a 2-D CNN teacher
    (3 blocks, 32/64/128 filters, a 64-unit dense layer).

Each task runs as a user would run it: one pipeline with a ``distill:`` section through ``automl.run``
(the teacher study of one fixed configuration -> the student study over alpha, temperature, lr, the
student's depth and mixup at ``size`` = 25% of the teacher's parameters, with ``--student-epochs`` epochs
-> the same student from scratch, the product's verdict). Then the best student configuration is trained
again with ``--seeds`` fresh seeds, distilled and from scratch (the same architecture, learning rate,
epochs and batch size; each keeps its best validation epoch), and, with ``--ablate`` (the default), distilled
with mixup switched (off when the study picked it, at 0.4 when it did not), so the table says what mixup
did. The teacher is trained once per task (seed 0); the seeds vary the students' initialization and batch order.

    .venv/bin/python benchmarks/distill.py --defaults                  # the product's defaults (`distill: {}`)
    .venv/bin/python benchmarks/distill.py --previous-defaults --tasks motifs   # the defaults before 2026-12-07
    .venv/bin/python benchmarks/distill.py --quick                     # smoke run, ~2 min on 2 CPU cores
    .venv/bin/python benchmarks/distill.py                             # both tasks, 3 seeds, ~25 min
    .venv/bin/python benchmarks/distill.py --write docs/benchmarks.md  # the "Distillation" section

``--defaults`` runs the student study with the product's defaults only (nothing under ``distill:``; the
student's epochs, size and search are whatever :class:`automl.config.models.DistillConfig` says today), and
retrains its best configuration distilled, from scratch and distilled for the teacher's epochs (``--ablate
epochs``); ``--previous-defaults`` writes out the defaults before 2026-12-07 (:data:`PREVIOUS_DEFAULTS`) to
compare. ``motifs`` is benchmarks/mobile.py's task.

Target (issues 15 and 25): the distilled student at <= 25% of the teacher's parameters, within 1 pt of the
teacher and >= 0.5 pt over the same student from scratch (means over the seeds). The report says which are
missed, and the product's verdict (with the gap to the teacher and, when it is over 1 pt, the budget that would
close it) for the study's own best student.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from _common import environment, mean_sd, publish, table
from _tasks import motif_data
from mobile import TEACHER as MOTIF_TEACHER

QUICK_ARGS = ["--quick"]  # benchmarks/run_all.py --quick
GLYPH_TEACHER = {"conv_blocks": 3, "filters": 32, "kernel_size": 3, "dense_units": 64, "dropout": 0.2,
                 "normalization": "none", "optimizer": "adam", "lr": 2e-3}


def glyph_data(n: int, *, side: int = 24, noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class k = the k-th ordered pair (a, b) of 5 glyphs: a in the left half of the image, b in the right half."""
    rng = np.random.default_rng(seed)
    glyphs = np.where(np.random.default_rng(321).random(size=(6, 5, 5)) > 0.5, 1.0, -1.0)
    pairs = [(a, b) for a in range(5) for b in range(5) if a != b][:10]
    y = rng.integers(0, len(pairs), n)
    x = rng.normal(scale=noise, size=(n, side, side, 1))
    half = side // 2
    for i in range(n):
        a, b = pairs[y[i]]
        for glyph, (c_low, c_high) in ((a, (0, half - 5)), (b, (half, side - 5)), (5, (0, side - 5))):
            r, c = rng.integers(0, side - 5 + 1), rng.integers(c_low, c_high + 1)
            x[i, r:r + 5, c:c + 5, 0] += glyphs[glyph]  # glyph 5: a distractor that belongs to no class
    return (2.0 * x + 5.0).astype(np.float32), y.astype(np.int64)


TASKS: dict[str, dict[str, Any]] = {
    "motifs": {"data": lambda n, noise: motif_data(n, noise=noise), "block": "cnn1d", "teacher": MOTIF_TEACHER,
               "noise": 1.0, "what": "motif-order sequences, 64 x 4"},
    "glyphs": {"data": lambda n, noise: glyph_data(n, noise=noise), "block": "cnn", "teacher": GLYPH_TEACHER,
               "noise": 0.6, "what": "glyph-pair images, 24 x 24 x 1"},
}


#: the ``distill:`` defaults before 2026-12-07 (automl.config.models.DistillConfig), written out, so that
#: ``--previous-defaults`` measures them against today's (``--defaults``)
PREVIOUS_DEFAULTS: dict[str, Any] = {
    "size": {"type": "float", "low": 0.05, "high": 0.25}, "depth": 1.0, "mixup": 0.0,
    "alpha": {"type": "float", "low": 0.1, "high": 0.9, "step": 0.1},
    "temperature": {"type": "float", "low": 1.0, "high": 8.0, "log": True},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}, "trials": 8}  # epochs: train.epochs


def distill_section(args: argparse.Namespace) -> dict[str, Any]:
    if args.defaults:
        return {}  # the product's defaults: nothing under `distill:`
    if args.previous_defaults:
        return {**PREVIOUS_DEFAULTS, "epochs": args.epochs}

    def choices(values: list[float]) -> Any:
        return values[0] if len(values) == 1 else {"type": "categorical", "choices": values}

    return {"trials": args.student_trials, "epochs": args.student_epochs, "size": args.size,
            "depth": choices(args.depths), "mixup": choices(args.mixups),
            "alpha": {"type": "float", "low": 0.1, "high": 0.9, "step": 0.1},
            "temperature": {"type": "float", "low": 1.0, "high": 8.0, "log": True},
            "lr": {"type": "float", "low": 5e-4, "high": 5e-3, "log": True}}


def write_pipeline(folder: Path, task: str, args: argparse.Namespace) -> Path:
    spec = TASKS[task]
    x, y = spec["data"](args.samples, spec["noise"])
    np.savez(folder / f"{task}.npz", x=x, y=y)
    doc = {
        "name": task, "seed": 0,
        "data": {"source": "npz", "path": f"{task}.npz", "validation_split": 0.2, "test_split": 0.2},
        "task": "classification",
        "space": {"block": spec["block"], "params": spec["teacher"]},
        "study": {"sampler": "tpe", "pruner": "none", "trials": 1},
        "train": {"epochs": args.epochs, "batch_size": 64, "isolation": "inline"},
        "distill": distill_section(args),
    }
    path = folder / f"{task}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def retrain(pipeline: Path, info: dict[str, Any], seeds: int, ablate: str) -> dict[str, list[float]]:
    """Test accuracy of the best student configuration with fresh seeds: distilled, from scratch and (``ablate``)
    distilled with mixup switched (``mixup``) or for the teacher's epochs (``epochs``)."""
    from automl.builders.model import ModelSpec
    from automl.config import load_pipeline
    from automl.plan import make_plan
    from automl.trial.runner import Teacher, TrialRequest, run_trial

    plan = make_plan(load_pipeline(pipeline))
    data = plan.data
    spec = ModelSpec.from_arrays(data.x_train, data.y_train, data.task, data.num_classes)
    doc = yaml.safe_load(pipeline.read_text())
    # the student's epochs as the study trained them (student.json; older files: the pipeline's)
    epochs = int(info.get("epochs") or doc["distill"].get("epochs") or doc["train"]["epochs"])
    p = info["params"]
    mixup = float(p.get("mixup", 0.0))
    switched = 0.0 if mixup > 0 else 0.4
    # arm -> (mixup, epochs); mixup None: from scratch
    arms: dict[str, tuple[float | None, int]] = {"distilled": (mixup, epochs), "scratch": (None, epochs)}
    if ablate == "mixup":
        arms["switched"] = (switched, epochs)
    elif ablate == "epochs" and epochs != int(doc["train"]["epochs"]):
        arms["teacher_epochs"] = (mixup, int(doc["train"]["epochs"]))
    out: dict[str, list[float]] = {arm: [] for arm in arms}
    batch_size = int(info["hp"].get("batch_size") or 64)
    for seed in range(seeds):
        for arm, (arm_mixup, arm_epochs) in arms.items():
            # as the student study trains them: no class weights for either (the distillation loss weighs no
            # samples)
            hp = {**info["hp"], "batch_size": batch_size, "epochs": arm_epochs, "class_weight": "none"}
            teacher = None if arm_mixup is None else Teacher(
                path=str(Path(f"mlruns/{plan.name}/best.keras").resolve()), alpha=float(p["alpha"]),
                temperature=float(p["temperature"]), mixup=arm_mixup)
            request = TrialRequest(number=0, block=info["block"], hp=hp, spec=spec, metric=plan.metric,
                                   direction=plan.direction, epochs=arm_epochs, batch_size=batch_size,
                                   seed=1000 + seed, teacher=teacher)
            result = run_trial(request, data)
            if result.model is None:
                raise RuntimeError(f"{plan.name} seed {seed} {arm}: {result.reason}")
            acc = float(result.model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)["accuracy"])
            out[arm].append(acc)
            print(f"{plan.name} seed {seed} {arm}: {acc:.4f}", file=sys.stderr, flush=True)
    out["switched_mixup"] = [switched]
    out["epochs"], out["train_epochs"] = [epochs], [int(doc["train"]["epochs"])]
    return out


def run_task(folder: Path, task: str, args: argparse.Namespace) -> dict[str, Any]:
    import automl

    work = folder / task
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)
    started = time.monotonic()
    pipeline = write_pipeline(work, task, args)
    result = automl.run(pipeline, new=True).distill
    assert result is not None, "the pipeline has a distill section"
    info = json.loads(Path(f"mlruns/{task}/student.json").read_text())
    seeds = retrain(pipeline, info, args.seeds, args.ablate)
    trials = [{"params": t.params, "value": t.value, "best_epoch": t.attrs.get("best_epoch"),
               "epochs_trained": t.attrs.get("epochs_trained")} for t in result.trials if t.value is not None]
    return {"task": task, "teacher": result.teacher_test["accuracy"], "teacher_params": result.teacher_params,
            "student_params": result.student_params, "verdict": result.verdict,
            "gap": getattr(result, "gap_text", None), "closing": getattr(result, "closing", None),
            "params": info["params"], "hp": info["hp"], "teacher_hp": TASKS[task]["teacher"], "seeds": seeds,
            "trials": trials, "minutes": (time.monotonic() - started) / 60}


def _pt(value: float) -> str:
    return f"{value * 100:+.2f} pt"


def _check(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _architecture(hp: dict[str, Any], teacher: dict[str, Any]) -> str:
    keys = [k for k in ("conv_blocks", "layers", "filters", "units", "dense_units") if k in teacher]
    return ", ".join(f"{k} {teacher[k]} -> {hp[k]}" for k in keys)


def _settings(args: argparse.Namespace) -> str:
    """What the student study searched, in words."""
    if args.defaults or args.previous_defaults:
        from automl.config.models import DistillConfig

        cfg = DistillConfig.model_validate(distill_section(args))
        shown = []
        for name in ("size", "depth", "mixup", "alpha", "temperature", "lr"):
            shown.append(f"{name} {json.dumps(getattr(cfg, name).model_dump(mode='json', exclude_defaults=True))}")
        epochs = f"{cfg.epochs} epochs" if cfg.epochs else "the default epochs"
        which = "today's product defaults (`distill: {}`)" if args.defaults else \
            "the product defaults before 2026-12-07 (benchmarks/distill.py PREVIOUS_DEFAULTS)"
        return f"student study with {which}: {cfg.trials} trials of {epochs}, {'; '.join(shown)}"
    return (f"student study {args.student_trials} trials of {args.student_epochs} epochs at size {args.size} (depth "
            f"from {args.depths}, mixup from {args.mixups}, alpha, temperature, lr)")


ARM_LABELS = {"switched": "distilled, mixup switched", "teacher_epochs": "distilled at the teacher's epochs"}


def report(runs: list[dict[str, Any]], args: argparse.Namespace, command: str, minutes: float,
           load: tuple[float, float, float]) -> str:
    lines = [
        f"`{command}` ({minutes:.0f} min): {args.samples} samples per task (60/20/20 train/val/test), teacher "
        f"{args.epochs} epochs (one fixed configuration, seed 0), {_settings(args)}; then the best student "
        f"configuration retrained with {args.seeds} fresh seed(s), distilled and from scratch (same architecture, "
        "lr, epochs, batch size; best validation epoch kept); benchmarks/distill.py.", "",
        environment(load), "",
    ]
    rows, targets = [], []
    extra = next((arm for run in runs for arm in ARM_LABELS if arm in run["seeds"]), None)
    for run in runs:
        s = run["seeds"]
        distilled, scratch = s["distilled"], s["scratch"]
        gains = [d - c for d, c in zip(distilled, scratch, strict=True)]
        gaps = [d - run["teacher"] for d in distilled]
        ratio = run["student_params"] / run["teacher_params"]
        vs_teacher = statistics.mean(gaps)
        epochs = s.get("epochs", ["?"])[0]
        row = [run["task"], f"{run['teacher']:.4f} ({run['teacher_params']:,})",
               f"{mean_sd(distilled, 4)}", f"{mean_sd(scratch, 4)}", f"{mean_sd([g * 100 for g in gains], 2)} pt",
               f"{mean_sd([g * 100 for g in gaps], 2)} pt", f"{run['student_params']:,} ({ratio:.1%})",
               f"{epochs}"]
        if extra == "switched" and "switched" in s:
            label = "off" if s["switched_mixup"][0] == 0 else f"{s['switched_mixup'][0]:g}"
            row.append(f"{mean_sd(s['switched'], 4)} (mixup {label})")
        elif extra == "teacher_epochs":
            row.append(f"{mean_sd(s['teacher_epochs'], 4)} ({s['train_epochs'][0]} epochs)" if "teacher_epochs" in s
                       else "-")
        rows.append(row)
        gain = statistics.mean(gains)
        targets.append(
            f"- {run['task']}: <= 25% of the teacher's parameters: {ratio:.1%} ({_check(ratio <= 0.25)}); within 1 pt "
            f"of the teacher: {_pt(vs_teacher)} ({_check(vs_teacher >= -0.01)}), {sum(g >= -0.01 for g in gaps)} of "
            f"{len(gaps)} seeds; >= 0.5 pt over scratch: {_pt(gain)} ({_check(gain >= 0.005)}), "
            f"{sum(g > 0 for g in gains)} of {len(gains)} seeds better.")
    headers = ["task", "teacher (params)", "distilled", "from scratch", "gain", "gap to teacher", "student params",
               "student epochs"]
    if extra:
        headers.append(ARM_LABELS[extra])
    lines += [table(headers, rows), "", "Test accuracy, mean ± sd over the seeds; gain = distilled − scratch per "
              "seed; gap = distilled − teacher per seed (the teacher trained once).", "", "### Targets", "",
              *targets, "", "### What the student study chose", ""]
    for run in runs:
        p = run["params"]
        verdict = run["verdict"] + (f"; {run['closing']}" if run.get("closing") else "")
        lines.append(
            f"- {run['task']} ({TASKS[run['task']]['what']}, {run['minutes']:.0f} min): size "
            f"{float(p.get('size', 0)):.3g}, depth {p.get('depth')}, mixup {p.get('mixup')}, alpha "
            f"{p['alpha']:.2g}, temperature "
            f"{p['temperature']:.3g}, lr {p['lr']:.3g}; {_architecture(run['hp'], run['teacher_hp'])}. The "
            f"product's own verdict (seed 0, the study's best trial): {verdict}.")
        groups: dict[str, dict[Any, list[float]]] = {}
        for t in run["trials"]:
            for name in ("depth", "mixup"):
                groups.setdefault(name, {}).setdefault(t["params"].get(name), []).append(t["value"])
        for name, by in groups.items():
            if len(by) > 1:
                lines.append(f"  - study trials by {name} (validation accuracy, best / n): " + "; ".join(
                    f"{k}: {max(v):.4f} / {len(v)}" for k, v in sorted(by.items(), key=lambda kv: str(kv[0]))))
        if any("size" in t["params"] for t in run["trials"]):
            shown = sorted(run["trials"], key=lambda t: t["params"].get("size", 0))
            lines.append("  - study trials (size: validation accuracy, best epoch / epochs): " + "; ".join(
                f"{t['params'].get('size', 0):.3g}: {t['value']:.4f}, {t.get('best_epoch')}/{t.get('epochs_trained')}"
                for t in shown))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small data, few epochs, 1 seed")
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=["motifs", "glyphs"],
                        help="motifs is benchmarks/mobile.py's task")
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=20, help="the teacher's epochs (train.epochs)")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--defaults", action="store_true",
                       help="the student study with the product's defaults only: `distill: {}` (no overrides; "
                            "--student-* , --size, --depths and --mixups are ignored)")
    modes.add_argument("--previous-defaults", action="store_true",
                       help="the same with the defaults before 2026-12-07, written out (PREVIOUS_DEFAULTS)")
    parser.add_argument("--student-epochs", type=int, default=30)
    parser.add_argument("--student-trials", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--size", type=float, default=0.25, help="student parameters / teacher's (fixed)")
    parser.add_argument("--depths", type=float, nargs="+", default=[0.34, 0.67, 1.0])
    parser.add_argument("--mixups", type=float, nargs="+", default=[0.0, 0.4])
    parser.add_argument("--ablate", choices=["mixup", "epochs", "none"], default=None,
                        help="the extra retrained arm: mixup switched, or the teacher's epochs (default: epochs "
                             "with --defaults / --previous-defaults, else mixup)")
    parser.add_argument("--no-ablate", dest="ablate", action="store_const", const="none", help="no extra arm")
    parser.add_argument("--workdir", type=Path, help="where the tasks' mlruns/ go (default: a temporary folder)")
    parser.add_argument("--write", type=Path, help="write the Distillation section of this Markdown file")
    args = parser.parse_args(argv)
    if args.ablate is None:
        args.ablate = "epochs" if args.defaults or args.previous_defaults else "mixup"
    if args.quick:
        args.samples, args.epochs, args.student_epochs = 1500, 4, 6
        args.student_trials, args.seeds, args.ablate = 2, 1, "none"
    write_to = args.write.resolve() if args.write else None
    folder = (args.workdir or Path(tempfile.mkdtemp(prefix="automl-distill-"))).resolve()
    load = os.getloadavg()
    started = time.monotonic()
    runs = []
    for task in args.tasks:
        runs.append(run_task(folder, task, args))
        (folder / "runs.json").write_text(json.dumps(runs, indent=1, default=str))
    command = "python benchmarks/distill.py " + " ".join(argv if argv is not None else sys.argv[1:])
    publish(report(runs, args, command.strip(), (time.monotonic() - started) / 60, load), write_to, "Distillation")
    print(f"work folder: {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
