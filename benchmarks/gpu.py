"""The GPU path: the same study on CPU and on GPU, in float32 and in mixed precision, with GPU memory read.

A study of T trials x E epochs of a CNN (fixed architecture, the optimizer and learning rate tuned) on a
generated image task (N images 32x32x3, 10 classes: class templates under noise), each configuration in a
fresh process through automl's Python API (`automl.tune`, Optuna + MLflow as `automl run` uses them):

- cpu float32      (CUDA_VISIBLE_DEVICES="": the machine's CPU cores)
- gpu float32
- gpu mixed        (`train.precision: mixed_float16`: float16 compute, loss scaling, float32 variables/heads)

Recorded per configuration: wall time, time inside `model.fit`, the best model's test accuracy, and the GPU
memory the process held at the end and at its peak (TensorFlow's `get_memory_info`, or JAX's
`memory_stats` under KERAS_BACKEND=jax) against the card's total, which shows memory growth at work
(without it TensorFlow and JAX take ~75-90% of the card at start-up).

    python benchmarks/gpu.py --write docs/benchmarks.md          # needs a GPU for the gpu rows
    KERAS_BACKEND=jax python benchmarks/gpu.py ...                 # the same through Keras on JAX
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import answer_child, environment, publish, run_child, table

CONFIGS = ["cpu:float32:1", "gpu:float32:1", "gpu:mixed_float16:1", "gpu:float32:2"]  # device:precision:workers


def make_data(path: Path, samples: int, seed: int = 0) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    templates = rng.normal(size=(10, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 10, size=samples)
    base = np.kron(templates[y], np.ones((1, 4, 4, 1), dtype="float32"))  # 32x32 blocks
    x = 128 + 40 * base + 60 * rng.normal(size=base.shape).astype("float32")  # raw pixel-like values
    np.savez(path, x=x.astype("float32"), y=y)


def gpu_memory() -> dict[str, float] | None:
    """Bytes the process holds on GPU 0 now and at its peak, and the card's total (None without a GPU)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if not gpus:
            return None
        stats = gpus[0].memory_stats() or {}
        return {"now": stats.get("bytes_in_use", 0), "peak": stats.get("peak_bytes_in_use", 0),
                "total": stats.get("bytes_limit", 0)}
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    info = tf.config.experimental.get_memory_info("GPU:0")
    return {"now": info["current"], "peak": info["peak"], "total": 0}


def _card_total() -> float:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total,name", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[0]
        return float(out.split(",")[0]) * 2**20
    except (OSError, subprocess.CalledProcessError, IndexError, ValueError):
        return 0.0


def _gpu_name() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, check=True).stdout.strip().splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "no GPU"


def _child(job: dict[str, Any]) -> dict[str, Any]:
    if job["device"] == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.chdir(job["workdir"])
    import automl
    from automl.progress import Progress
    from automl.runtime import gpu_count, import_keras

    keras = import_keras()
    pipeline = {
        "name": f"gpu-{job['device']}-{job['precision']}-{job['workers']}", "seed": 0,
        "data": {"source": "npz", "path": str(Path(job["workdir"]) / "data.npz")},
        "space": {"block": "cnn", "params": {
            "conv_blocks": 3, "filters": job["filters"], "kernel_size": 3, "dense_units": 256, "dropout": 0.2,
            "optimizer": "adam", "lr": {"type": "float", "low": 3e-4, "high": 3e-3, "log": True}}},
        "study": {"sampler": "random", "pruner": "none", "trials": job["trials"], "workers": job["workers"]},
        "train": {"epochs": job["epochs"], "batch_size": job["batch_size"], "precision": job["precision"]},
    }
    path = Path(job["workdir"]) / f"{pipeline['name']}.yaml"
    import yaml

    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    started = time.perf_counter()
    result = automl.tune(path, progress=Progress())
    wall = time.perf_counter() - started
    fit = sum(float(t.attrs.get("fit_seconds", 0.0)) for t in result.trials)
    from mlflow import MlflowClient

    from automl.tracking import tracking_uri

    client = MlflowClient(tracking_uri())
    first, steady = [], []
    for t in result.trials:  # per-epoch wall times, logged by every trial as `epoch_seconds`
        times = [m.value for m in sorted(client.get_metric_history(t.attrs["mlflow_run_id"], "epoch_seconds"),
                                         key=lambda m: m.step)]
        first += times[:1]
        steady += times[1:]
    return {"workers": job["workers"], "first_epoch_s": statistics.median(first) if first else None,
            "steady_epoch_s": statistics.median(steady) if steady else None,
            "train_samples": int(0.6 * job["samples"]),
            "device": job["device"], "precision": job["precision"], "gpus": gpu_count(),
            "backend": keras.backend.backend(), "wall_s": wall, "fit_s": fit,
            "test_accuracy": result.test_metrics.get("test_accuracy"), "memory": gpu_memory(),
            "trials": len(result.trials)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--configs", nargs="*", default=CONFIGS, help="device:precision:workers, e.g. "
                        "gpu:mixed_float16:1 (default: all of %(default)s)")
    parser.add_argument("--write", type=Path, help="write the GPU section of this Markdown file")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        answer_child(args.child, _child)
        return
    load = os.getloadavg()
    rows, results = [], []
    total = _card_total()
    with tempfile.TemporaryDirectory(prefix="automl-gpu-") as folder:
        make_data(Path(folder) / "data.npz", args.samples)
        for config in args.configs:
            device, precision, workers = config.split(":")
            job = {"device": device, "precision": precision, "workers": int(workers), "workdir": folder,
                   "trials": args.trials,
                   "samples": args.samples,
                   "epochs": args.epochs, "batch_size": args.batch_size, "filters": args.filters}
            r = run_child(__file__, job)
            results.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    base = next((r for r in results if r["device"] == "cpu" and r["workers"] == 1), None)
    for r in results:
        mem = r["memory"]
        card = mem["total"] or total if mem else 0
        memory = "-" if not mem else (f"{mem['now'] / 2**20:,.0f} / {mem['peak'] / 2**20:,.0f} MiB"
                                      + (f" ({mem['peak'] / card:.1%} of the card)" if card else ""))
        rows.append([r["device"] + (f" ({r['gpus']} visible)" if r["device"] == "gpu" else ""), r["precision"],
                     r["workers"],
                     f"{r['wall_s']:.1f}", f"{r['fit_s']:.1f}", f"{r['first_epoch_s']:.2f}",
                     f"{r['steady_epoch_s']:.2f}" if r["steady_epoch_s"] else "-",
                     f"{r['train_samples'] / r['steady_epoch_s']:,.0f}" if r["steady_epoch_s"] else "-",
                     f"{base['steady_epoch_s'] / r['steady_epoch_s']:.1f}x"
                     if base and base["steady_epoch_s"] and r["steady_epoch_s"] else "-",
                     f"{r['test_accuracy']:.4f}" if r["test_accuracy"] is not None else "-", memory])
    backend = results[0]["backend"] if results else "?"
    body = "\n".join([
        f"`python benchmarks/gpu.py --write docs/benchmarks.md` (KERAS_BACKEND={backend}): {args.trials} trials x "
        f"{args.epochs} epochs of a 3-block CNN ({args.filters} filters, lr tuned) on {args.samples} generated "
        f"32x32x3 images, 10 classes, batch {args.batch_size}; each configuration a fresh process through "
        "`automl.tune` (Optuna, MLflow, best-model saving included).", "",
        environment(load) + f" GPU: {_gpu_name()}.", "",
        table(["device", "precision", "workers", "wall s", "in fit s", "first epoch s", "later epochs s (median)",
               "train images/s", "speed-up vs CPU", "test accuracy", "GPU memory at the end / peak"], rows), "",
        "*first epoch*: includes tracing / compiling the train and validation steps, once per trial (a new "
        "model); *later epochs*: steady state, training plus validation (`epoch_seconds`, which every trial logs "
        "to MLflow per epoch); *speed-up*: of the later epochs; *workers*: `study.workers`, trials at once in "
        "child processes (with one GPU they share it; the memory column is then the parent's).",
        "Memory growth: the process holds what its trials need, not the card (without it the backend takes "
        "most of the card at start-up). Mixed precision trains the blocks in float16 with loss scaling; the "
        "saved best model is float32 (its weights are the float32 variables), so distillation and export "
        "are unchanged.",
    ])
    publish(body, args.write, "GPU")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
