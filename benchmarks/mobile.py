"""Benchmark "ship it to a phone": teacher -> distilled student -> TFLite formats, on a task where size matters.

The task is generated (no download): sequences of 64 steps x 4 channels with noise, where the class (10 of
them) is an *ordered* pair of motifs (motif a in the first half, motif b in the second) plus a distractor
motif anywhere; raw values are offset and scaled, so the model's own normalization matters. A Conv1D
teacher (3 blocks, 64/128/256 filters, >= 100k parameters) learns it clearly better than a small model.

The whole product runs as a user would run it: one pipeline with ``distill:`` and ``export:`` sections
through ``automl.run`` (teacher study -> student study over alpha, temperature, lr and size -> the same
student from scratch -> every TFLite format re-validated in the interpreter), then the teacher is exported
too. ``--seeds N`` retrains the best student configuration, distilled and from scratch, with N-1 more seeds.

    .venv/bin/python benchmarks/mobile.py                                   # ~10 min on 2 CPU cores
    .venv/bin/python benchmarks/mobile.py --samples 8000 --epochs 30 --student-trials 16 --seeds 5
    .venv/bin/python benchmarks/mobile.py --write docs/benchmarks.md        # the "Mobile" section
    .venv/bin/python benchmarks/mobile.py --families --write docs/benchmarks.md   # "Mobile: model families"
    .venv/bin/python benchmarks/mobile.py --families --latency-only FOLDER --write docs/benchmarks.md

Targets (issue 6): int8 <= 0.27x the float32 size with <= 0.5 pt accuracy drop; the distilled student
<= 1/4 of the teacher's parameters, within 1 pt of the teacher and better than the same student from
scratch. The report says plainly which are missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from _common import publish
from _tasks import motif_data

TEACHER = {"conv_blocks": 3, "filters": 64, "kernel_size": 5, "pooling": "max", "dense_units": 64,
           "dropout": 0.2, "normalization": "none", "optimizer": "adam", "lr": 2e-3}
FORMATS = ["float32", "float16", "dynamic", "int8"]


def write_pipeline(folder: Path, args: argparse.Namespace) -> Path:
    x, y = motif_data(args.samples)
    np.savez(folder / "motifs.npz", x=x, y=y)
    doc = {
        "name": "mobile",
        "seed": 0,
        "data": {"source": "npz", "path": "motifs.npz", "validation_split": 0.2, "test_split": 0.2},
        "task": "classification",
        "space": {"block": "cnn1d", "params": TEACHER},
        "study": {"sampler": "random", "pruner": "none", "trials": args.teacher_trials},
        "train": {"epochs": args.epochs, "batch_size": 64},
        "distill": {"trials": args.student_trials, "epochs": args.epochs,
                    "size": args.size,  # the target allows 1/4 of the teacher: the closest student to it
                    "alpha": {"type": "float", "low": 0.1, "high": 0.9, "step": 0.1},
                    "temperature": {"type": "float", "low": 1.0, "high": 8.0, "log": True},
                    "lr": {"type": "float", "low": 5e-4, "high": 5e-3, "log": True}},
        "export": {"formats": FORMATS, "representative_samples": 300, "latency_runs": args.latency_runs},
    }
    path = folder / "mobile.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def extra_seeds(pipeline: Path, seeds: int) -> tuple[list[float], list[float]]:
    """Test accuracy of the best student configuration, distilled and from scratch, for seeds 1..seeds-1."""
    import json

    from automl.builders.model import ModelSpec
    from automl.config import load_pipeline
    from automl.plan import make_plan
    from automl.trial.runner import Teacher, TrialRequest, run_trial

    plan = make_plan(load_pipeline(pipeline))
    data = plan.data
    info = json.loads(Path("mlruns/mobile/student.json").read_text())
    spec = ModelSpec.from_arrays(data.x_train, data.y_train, data.task, data.num_classes)
    epochs = int(yaml.safe_load(pipeline.read_text())["distill"]["epochs"])
    teacher = Teacher(path="mlruns/mobile/best.keras", alpha=float(info["params"]["alpha"]),
                      temperature=float(info["params"]["temperature"]))
    distilled, scratch = [], []
    for seed in range(1, seeds):
        for kd in (True, False):
            # the study's own trial: best epoch kept (val_loss breaks ties), seeded by seed + number
            request = TrialRequest(number=0, block=info["block"], hp=info["hp"], spec=spec, metric=plan.metric,
                                   direction=plan.direction, epochs=epochs, batch_size=64, seed=1000 + seed,
                                   teacher=teacher if kd else None)
            student = run_trial(request, data).model
            acc = float(student.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)["accuracy"])
            (distilled if kd else scratch).append(acc)
            print(f"seed {seed} {'distilled' if kd else 'scratch'}: {acc:.4f}", file=sys.stderr, flush=True)
    return distilled, scratch


def _environment() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("tensorflow", "keras", "ai-edge-litert", "optuna",
                                                                 "mlflow"))
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{dt.date.today().isoformat()}, {cpu}, {os.cpu_count()} CPU cores visible, Python "
            f"{platform.python_version()}; {versions}. Load average at the end: {load} (the cores were shared "
            "with other work, so latencies are indicative). Latency: one thread, batch 1, "
            "ai-edge-litert interpreter on this x86 CPU, not a phone.")


def _mean(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (n={len(values)})"


def _export_table(export: Any) -> list[str]:
    rows = ["| format | size KiB | size / float32 | test accuracy | drop (pt) | agreement with Keras | "
            "latency p50 µs | latency / float32 | latency p90 µs |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    f32 = next(f.validation for f in export.files if f.format == "float32")
    for f in export.files:
        v = f.validation
        rows.append(f"| {f.format} | {v.size_kib:.1f} | {v.size_bytes / f32.size_bytes:.3f} | {v.tflite_value:.4f} | "
                    f"{v.drop * 100:+.2f} | {v.agreement:.4f} | {v.latency_ms_median * 1000:.1f} | "
                    f"{v.latency_ms_median / f32.latency_ms_median:.2f} | {v.latency_ms_p90 * 1000:.1f} |")
    rows.append(f"\nKeras {f32.keras_value:.4f} test accuracy; one eager Keras call at batch 1: "
                f"{f32.keras_latency_ms_median:.2f} ms.")
    return rows


def _check(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(result: Any, teacher_export: Any, per_tensor: dict[str, Any], seeds: tuple[list[float], list[float]],
           args: argparse.Namespace, seconds: float, command: str) -> str:
    d = result.distill
    m = d.metric
    teacher_acc = d.teacher_test[m]
    distilled = [d.distilled_test[m], *seeds[0]]
    scratch = [d.scratch_test[m], *seeds[1]]
    ratio = d.student_params / d.teacher_params
    gain = statistics.mean(distilled) - statistics.mean(scratch)
    student_int8 = next(f.validation for f in result.export.files if f.format == "int8")
    teacher_int8 = next(f.validation for f in teacher_export.files if f.format == "int8")
    bp = d.best_params

    def int8_ratio(export: Any) -> float:
        sizes = {f.format: f.validation.size_bytes for f in export.files}
        return sizes["int8"] / sizes["float32"]

    pt = {k: next(f.validation for f in e.files if f.format == "int8") for k, e in per_tensor.items()}
    lines = [
        f"`{command}` ({seconds / 60:.1f} min): motif-order sequences (64 x 4, 10 classes, {args.samples} samples: "
        f"60/20/20 train/val/test), teacher {args.teacher_trials} trial(s), student study {args.student_trials} "
        f"trials, {args.epochs} epochs each, seed 0; benchmarks/mobile.py.", "",
        _environment(), "",
        "| model | parameters | test accuracy |", "| --- | --- | --- |",
        f"| teacher (cnn1d) | {d.teacher_params:,} | {teacher_acc:.4f} |",
        f"| student from scratch | {d.student_params:,} ({ratio:.1%}) | {_mean(scratch)} |",
        f"| student distilled | {d.student_params:,} ({ratio:.1%}) | {_mean(distilled)} |", "",
        f"Best student: alpha={bp.get('alpha', 0):.2g}, temperature={bp.get('temperature', 0):.3g}, "
        f"lr={bp.get('lr', 0):.3g}, size={bp.get('size', 0):.3g}. {d.verdict}.", "",
        f"### TFLite: the student ({result.export.model_path})", "", *_export_table(result.export), "",
        f"### TFLite: the teacher ({teacher_export.model_path})", "", *_export_table(teacher_export), "",
        "### Targets", "",
        f"- int8 size <= 0.27x float32: student {int8_ratio(result.export):.3f}x "
        f"({_check(int8_ratio(result.export) <= 0.27)}), teacher {int8_ratio(teacher_export):.3f}x "
        f"({_check(int8_ratio(teacher_export) <= 0.27)}); with `export.per_channel: false` (one scale per tensor): "
        f"student {int8_ratio(per_tensor['student']):.3f}x ({_check(int8_ratio(per_tensor['student']) <= 0.27)}, "
        f"drop {pt['student'].drop * 100:+.2f} pt), teacher {int8_ratio(per_tensor['teacher']):.3f}x "
        f"({_check(int8_ratio(per_tensor['teacher']) <= 0.27)}, drop {pt['teacher'].drop * 100:+.2f} pt).",
        f"- int8 drop <= 0.5 pt: student {student_int8.drop * 100:+.2f} pt ({_check(student_int8.drop <= 0.005)}), "
        f"teacher {teacher_int8.drop * 100:+.2f} pt ({_check(teacher_int8.drop <= 0.005)}).",
        f"- student <= 1/4 of the teacher's parameters: {ratio:.1%} ({_check(ratio <= 0.25)}).",
        f"- distilled within 1 pt of the teacher: {(statistics.mean(distilled) - teacher_acc) * 100:+.2f} pt "
        f"({_check(statistics.mean(distilled) >= teacher_acc - 0.01)}).",
        f"- distilled better than from scratch: {gain * 100:+.2f} pt ({_check(gain > 0)}).",
    ]
    lines.append("- why int8 misses 0.27x: int8 weights are 0.25x, but every quantized tensor also stores a float32 "
                 "scale and an int64 zero point per output channel (12 bytes each) and int32 biases; the ratio "
                 "approaches 0.25x as layers get wider, and one scale per tensor (`export.per_channel: false`) "
                 "trades those bytes for a little accuracy, measured above.")
    if len(distilled) > 1:
        lines.append(f"- seeds: the best student configuration retrained with {len(distilled) - 1} more seed(s); "
                     "the study's own seed is the first value in each mean.")
    else:
        lines.append("- one seed: a difference of a point or two between distilled and scratch is within "
                     "seed-to-seed noise at this test size; `--seeds 3` measures it.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--families" in argv:  # the per-family table (issue 15): benchmarks/_families.py
        import _families

        argv.remove("--families")
        _families.main(argv)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--teacher-trials", type=int, default=1, help="trials of the teacher study (fixed space)")
    parser.add_argument("--student-trials", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3, help="retrain the best student with this many seeds")
    parser.add_argument("--size", type=float, default=0.25, help="student parameters / teacher's (fixed)")
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--workdir", type=Path, help="where mlruns/ goes (default: a temporary folder)")
    parser.add_argument("--write", type=Path, help="write the Mobile section of this Markdown file")
    args = parser.parse_args(argv)
    write_to = args.write.resolve() if args.write else None
    folder = (args.workdir or Path(tempfile.mkdtemp(prefix="automl-mobile-"))).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(folder)
    import automl

    started = time.monotonic()
    pipeline = write_pipeline(folder, args)
    result = automl.run(pipeline, new=True)
    teacher_export = automl.export(pipeline, model="best")
    per_tensor = {}  # the same models with one quantization scale per tensor (smaller, maybe less accurate)
    for label, source in (("student", "student.keras"), ("teacher", "best.keras")):
        copy = Path("mlruns/mobile") / f"{label}_per_tensor.keras"
        copy.write_bytes((Path("mlruns/mobile") / source).read_bytes())
        per_tensor[label] = automl.export(pipeline, {"export.per_channel": False}, model=copy,
                                          formats=["float32", "int8"])
    seeds = extra_seeds(pipeline, args.seeds) if args.seeds > 1 else ([], [])
    command = "python benchmarks/mobile.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = report(result, teacher_export, per_tensor, seeds, args, time.monotonic() - started,
                     command.strip())
    publish(section, write_to, "Mobile")
    print(f"work folder: {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
