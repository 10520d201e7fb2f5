"""The vision benchmark (issue 22): studies on a generated image folder streamed from disk, where latency is ms.

A generated 10-class folder of 96x96 RGB PNGs (benchmarks/image_memory.py's task: each class a polygon of 3-7
sides, filled or outlined, at a random place, size, angle and color over upsampled-noise blobs, plus pixel noise;
deterministic), read with ``source: image_folder``, ``data.cache: disk`` (decoded once into a uint8 file, then read
by batches: memory independent of the number of images), 60/20/20 train/validation/test. Each part runs in a fresh
Python process (:func:`_common.run_child`) calling ``automl.run``; a sampler thread reads the resident memory
(RSS) of that process's tree every 0.1 s and keeps the trial process's peak.

``weights``
    ``MobileNetV3Small(include_top=False, weights=None)`` at 96x96, pre-trained for ``--pretrain-epochs`` on a
    *different* generated task (4 classes of stripe orientation over noise), its backbone saved with
    ``save_weights``: the ``weights: FILE`` of study (b). Not ImageNet's weights (no network here).
``cache``
    One fixed ``mobilenet`` model, 1 trial of ``--epochs`` epochs, with ``data.cache: memory`` and then ``disk``:
    the epoch times (the last epoch: the first one includes tracing), and one epoch of reading the batches
    alone (the training split shuffled plus the validation split, as ``fit`` gets them), so the epoch splits into
    input pipeline and compute (the batch reader runs in the thread that trains, so the two add up).
``mobilenet`` / ``pretrained``
    Studies of ``--trials`` trials of ``--epochs`` epochs, TPE, no pruner, ``train.isolation: process``:
    (a) the ``mobilenet`` block from scratch, (b) ``block: pretrained``, MobileNetV3Small with ``weights: FILE``,
    ``frozen_epochs: 1`` (phase one: the head on the frozen backbone, then phase two: the top ``unfreeze`` of
    its layers at ``lr x finetune_lr_factor``). Per trial: validation accuracy, the epoch times, the trial
    process's peak RSS; the best model's test accuracy.
``latency``
    Every trial's model of both studies rebuilt from its parameters (automl's own builder), converted to full
    int8 (calibrated on 100 training images) with automl's converter, and each file timed twice with automl's
    measurer (:func:`automl.tflite.measure.tflite_latency`: ai-edge-litert, 1 thread, batch 1, blocks until the
    median settles): every file once, then every file again, one at a time. Reported: the medians in ms, their
    CV, and the Spearman rank correlation of the two rounds (target >= 0.9).
``memory``
    With ``--memory-sizes``: one trial (the cache part's fixed model, 1 epoch) on folders of those sizes, the
    trial process's peak.
``budget``
    With ``--budget-sizes`` (default 10,000 and 40,000 images): the whole of ``automl run`` -- tune (``--budget-
    trials`` trials of a small CNN, 1 epoch), distill (1 student trial, 1 epoch, size 0.25) and export (float32 and
    int8, each re-validated in the interpreter on the test split) -- with ``train.max_memory_mib`` set to
    ``--max-memory-mib`` (default 2048: a 40,000-image folder's float32 pixels, 4,219 MiB, are more than twice it),
    the default ``data.cache: auto``. Per size: the peak RSS of the trial processes, of the study's own process
    (which streams the export's calibration and re-validation) and of the whole tree, every trial's state and
    reason (none may fail for memory), the distill verdict and each file's drop.

    .venv/bin/python benchmarks/vision.py --quick                      # smoke test: 300 images, 2 trials, 1 epoch
    .venv/bin/python benchmarks/vision.py                              # 10,000 images, 8 trials, 2 epochs
    .venv/bin/python benchmarks/vision.py --parts memory --memory-sizes 10000 40000
    .venv/bin/python benchmarks/vision.py --parts budget --budget-sizes 10000 40000 --max-memory-mib 2048
    .venv/bin/python benchmarks/vision.py --from-json OUT.json --write docs/benchmarks.md   # the section again
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import answer_child, environment, process_tree, publish, quiet_tensorflow, run_child, table
from image_memory import SIZE, make_folder

from automl.trial.process import rss_mib as _rss

TITLE = "Vision benchmark"
PARTS = ("weights", "cache", "mobilenet", "pretrained", "latency")
EXTRA_PARTS = ("memory", "budget")  # not in the default run
#: the budget part's model: a small CNN (the memory figures are the data path's, not a big model's activations)
BUDGET_SPACE: dict[str, Any] = {"block": "cnn", "params": {
    "conv_blocks": 2, "filters": {"type": "categorical", "choices": [8, 16]}, "kernel_size": 3,
    "dense_units": {"type": "categorical", "choices": [16, 32]}, "dropout": 0.1, "lr": 0.003, "optimizer": "adam"}}
WEIGHTS_FILE = "mobilenet_v3_small_generated.weights.h5"
MOBILENET_SPACE: dict[str, Any] = {"block": "mobilenet", "params": {
    "stages": {"type": "int", "low": 1, "high": 3},
    "blocks": {"type": "int", "low": 1, "high": 2},
    "width_multiplier": {"type": "categorical", "choices": [0.5, 0.75, 1.0]},
    "expansion": {"type": "categorical", "choices": [2, 4, 6]},
    "kernel_size": {"type": "categorical", "choices": [3, 5]},
    "squeeze_excite": {"type": "categorical", "choices": [False, True]},
    "activation": {"type": "categorical", "choices": ["hard_swish", "relu"]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
    "optimizer": "adam",
    "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
}}
#: the cache part's one model: a middle point of MOBILENET_SPACE
CACHE_SPACE: dict[str, Any] = {"block": "mobilenet", "params": {
    "stages": 2, "blocks": 1, "width_multiplier": 0.75, "expansion": 4, "kernel_size": 3, "squeeze_excite": True,
    "activation": "hard_swish", "dropout": 0.1, "optimizer": "adam", "lr": 3e-3}}


def pretrained_space(weights: str) -> dict[str, Any]:
    return {"block": "pretrained", "params": {
        "backbone": "mobilenet_v3_small",
        "weights": weights,
        "resolution": {"type": "categorical", "choices": [64, 96, 128, 160]},  # resized inside the model
        "frozen_epochs": 1,
        "unfreeze": {"type": "float", "low": 0.1, "high": 0.6},
        "finetune_lr_factor": {"type": "float", "low": 0.03, "high": 0.3, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
        "optimizer": "adam",
        "lr": {"type": "float", "low": 3e-4, "high": 3e-3, "log": True},
    }}


# -- the child processes ----------------------------------------------------------------------------------------
def _pretrain(job: dict[str, Any]) -> dict[str, Any]:
    """MobileNetV3Small (no top, random init) trained briefly on stripe orientations; its backbone's weights saved."""
    quiet_tensorflow()
    import keras
    import numpy as np

    rng = np.random.default_rng(123)
    n = int(job["images"])
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    labels = rng.integers(0, 4, n)
    x = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        angle = np.pi * (label / 4 + rng.uniform(-0.05, 0.05))
        period = rng.uniform(6, 16)
        stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period + rng.uniform(0, 6.3))
        color = rng.uniform(40, 215, 3)
        image = color + 40 * stripes[..., None] + rng.normal(0, 30, (SIZE, SIZE, 3))
        x[i] = np.clip(image, 0, 255).astype(np.uint8)
    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV3Small(input_shape=(SIZE, SIZE, 3), include_top=False, weights=None,
                                                   pooling="avg", include_preprocessing=True)
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(backbone(inputs)))
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.monotonic()
    history = model.fit(x, labels, batch_size=32, epochs=int(job["epochs"]), validation_split=0.2, verbose=0)
    backbone.save_weights(job["path"])
    return {"path": job["path"], "images": n, "epochs": int(job["epochs"]), "seconds": time.monotonic() - start,
            "val_accuracy": [float(v) for v in history.history["val_accuracy"]]}


class _Watch:
    """The study's progress (epochs, trial ends) and the peak RSS of the trial process during each trial."""

    def __init__(self) -> None:
        from automl.progress import Progress

        watch = self

        class Observer(Progress):
            def trial_started(self, number: int, params: dict[str, Any]) -> None:
                watch.current = number
                watch.trials[number] = {"number": number, "params": params, "epochs": [], "peak_rss_mib": 0.0,
                                        "started": time.monotonic()}

            def epoch_ended(self, number: int, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
                watch.trials.setdefault(number, {"epochs": []})["epochs"].append(
                    {k: float(v) for k, v in metrics.items()})
                print(f"trial {number} epoch {epoch}: {metrics.get('epoch_seconds', 0):.1f} s "
                      f"val_accuracy {metrics.get('val_accuracy', float('nan')):.3f}", file=sys.stderr, flush=True)

            def trial_ended(self, number: int, state: str, value: float | None, best: float | None,
                            reason: str | None, seconds: float) -> None:
                t = watch.trials.setdefault(number, {"epochs": []})
                t.update(state=state, value=value, reason=reason, seconds=seconds, load=os.getloadavg()[0])
                watch.current = None

        self.progress = Observer()
        self.trials: dict[int, dict[str, Any]] = {}
        self.current: int | None = None
        self.peak = {"tree": 0.0, "trial": 0.0, "study": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            pids = process_tree(me)
            self.peak["tree"] = max(self.peak["tree"], sum(_rss(p) for p in pids))
            self.peak["study"] = max(self.peak["study"], _rss(me))
            trial = max((_rss(p) for p in pids[1:]), default=0.0)
            self.peak["trial"] = max(self.peak["trial"], trial)
            current = self.current
            if current is not None and current in self.trials:
                self.trials[current]["peak_rss_mib"] = max(self.trials[current]["peak_rss_mib"], trial)
            time.sleep(0.1)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def _read_epoch(path: Path, batch_size: int) -> dict[str, Any]:
    """One epoch of the input pipeline alone: the batches ``fit`` reads (training split shuffled, validation in
    order), through automl's own batch reader (a split in memory: the same reader over the array)."""
    from automl.config import load_pipeline
    from automl.data.batches import batches, streamed
    from automl.plan import make_plan

    data = make_plan(load_pipeline(path)).data
    timings = {}
    for split, x, y, shuffle in (("train", data.x_train, data.y_train, True), ("val", data.x_val, data.y_val, False)):
        feed = batches(x, y, batch_size, shuffle=shuffle, seed=0)
        start = time.perf_counter()
        for i in range(len(feed)):
            feed[i]
        timings[split] = time.perf_counter() - start
    return {"read_train_s": timings["train"], "read_val_s": timings["val"], "streamed": streamed(data.x_train),
            "train_rows": len(data.x_train), "val_rows": len(data.x_val), "test_rows": len(data.x_test)}


def _study(job: dict[str, Any]) -> dict[str, Any]:
    quiet_tensorflow()
    import automl
    from automl.testing import write_pipeline

    os.chdir(job["cwd"])
    path = write_pipeline(Path(job["cwd"]), name=job["name"], space=job["space"],
                          data={"source": "image_folder", "path": job["folder"], "image_size": [SIZE, SIZE],
                                "cache": job["cache"], "validation_split": 0.2, "test_split": 0.2},
                          study={"sampler": job.get("sampler", "tpe"), "pruner": "none", "trials": job["trials"],
                                 "timeout": job.get("timeout")},
                          train={"epochs": job["epochs"], "batch_size": job["batch_size"], "isolation": "process"})
    load = os.getloadavg()[0]
    with _Watch() as watch:
        start = time.monotonic()
        result = automl.run(path, new=True, progress=watch.progress)
        seconds = time.monotonic() - start
    out: dict[str, Any] = {
        "name": job["name"], "cache": job["cache"], "pipeline": str(path), "seconds": seconds, "load_start": load,
        "load_end": os.getloadavg()[0], "tree_peak_mib": watch.peak["tree"], "trial_peak_mib": watch.peak["trial"],
        "best_value": result.best_value, "best_trial": result.best_trial, "test_metrics": result.test_metrics,
        "trials": [watch.trials[k] for k in sorted(watch.trials)],
        "records": [{"number": t.number, "state": t.state, "params": t.params} for t in result.trials]}
    out.update(_read_epoch(path, job["batch_size"]))
    out["load_read"] = os.getloadavg()[0]
    return out


def _latency(job: dict[str, Any]) -> dict[str, Any]:
    """Every trial's model rebuilt, converted to int8 once, then every file timed, twice round."""
    quiet_tensorflow()
    import numpy as np

    from automl.builders.model import ModelSpec, build_model
    from automl.config import load_pipeline
    from automl.data.rows import take
    from automl.plan import make_plan
    from automl.tflite.convert import ConvertOptions, convert
    from automl.tflite.measure import MeasureRequest, tflite_latency
    from automl.tflite.prepare import inference_model

    os.chdir(job["cwd"])
    request = MeasureRequest(format="int8", threads=1)
    models: list[dict[str, Any]] = []
    folder = Path(job["cwd"]) / "tflite"
    folder.mkdir(exist_ok=True)
    for study in job["studies"]:
        plan = make_plan(load_pipeline(study["pipeline"]))
        data = plan.data
        sample_x = np.asarray(take(data.x_train, np.arange(min(100, len(data.x_train)))), dtype=np.float32)
        spec = ModelSpec.from_arrays(data.x_train, data.y_train, data.task, data.num_classes)
        for record in study["records"]:
            if record["state"] != "COMPLETE":
                continue
            block, hp = plan.space.decode(plan.space.replay(record["params"]))
            model = build_model(block, hp, spec)
            content = convert(inference_model(model), "int8", ConvertOptions(representative=sample_x))
            file = folder / f"{study['name']}-{record['number']}.tflite"
            file.write_bytes(content)
            models.append({"study": study["name"], "trial": record["number"], "file": str(file),
                           "params": int(model.count_params()), "kib": len(content) / 1024, "rounds": []})
            (folder / "models.json").write_text(json.dumps(models, indent=1))  # what a cut-off run converted
        sample = sample_x[0]
    for _ in range(2):
        for m in models:
            lat = tflite_latency(Path(m["file"]).read_bytes(), sample, request)
            m["rounds"].append({"ms": lat.median_ms, "cv": lat.cv, "runs": lat.runs, "load": os.getloadavg()[0]})
            (folder / "models.json").write_text(json.dumps(models, indent=1))
    return {"models": models, "spearman": _spearman([m["rounds"][0]["ms"] for m in models],
                                                     [m["rounds"][1]["ms"] for m in models])}


def _draw(spec: Any, rng: Any) -> Any:
    """One value of a parameter of MOBILENET_SPACE / pretrained_space (None: fixed, the space's own value)."""
    import math

    if not isinstance(spec, dict):
        return None
    if spec["type"] == "categorical":
        return spec["choices"][int(rng.integers(len(spec["choices"])))]
    if spec["type"] == "int":
        return int(rng.integers(spec["low"], spec["high"] + 1))
    if spec.get("log"):
        return float(math.exp(rng.uniform(math.log(spec["low"]), math.log(spec["high"]))))
    if spec.get("step"):
        steps = round((spec["high"] - spec["low"]) / spec["step"])
        return round(spec["low"] + spec["step"] * int(rng.integers(steps + 1)), 10)
    return float(rng.uniform(spec["low"], spec["high"]))


def _sampled(args: argparse.Namespace, root: Path, folder: Path, weights: Path) -> list[dict[str, Any]]:
    """``--latency-sampled`` configurations of each space, drawn at random (seeded), as untrained 'trials' for the
    latency part: automl's measurer applied twice to models of the studies' spaces without training them."""
    import numpy as np

    from automl.testing import write_pipeline

    rng = np.random.default_rng(7)
    out = []
    for part, space in (("mobilenet", MOBILENET_SPACE), ("pretrained", pretrained_space(str(weights)))):
        name = f"vision_sampled_{part}"
        path = write_pipeline(root, name=name, space=space,
                              data={"source": "image_folder", "path": str(folder), "image_size": [SIZE, SIZE],
                                    "cache": "disk", "validation_split": 0.2, "test_split": 0.2})
        records = []
        for i in range(args.latency_sampled):
            params = {k: v for k, v in ((k, _draw(spec, rng)) for k, spec in space["params"].items()) if v is not None}
            records.append({"number": i, "state": "COMPLETE", "params": params})
        out.append({"name": name, "pipeline": str(path), "records": records})
    return out


def _spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else float("nan")


def _budget(job: dict[str, Any]) -> dict[str, Any]:
    """``automl run`` with tune, distill and export on a folder whose float32 pixels exceed ``max_memory_mib``."""
    quiet_tensorflow()
    import automl
    from automl.testing import write_pipeline

    os.chdir(job["cwd"])
    path = write_pipeline(
        Path(job["cwd"]), name=job["name"], space=BUDGET_SPACE,
        data={"source": "image_folder", "path": job["folder"], "image_size": [SIZE, SIZE], "validation_split": 0.2,
              "test_split": 0.2},
        study={"sampler": "random", "pruner": "none", "trials": job["trials"]},
        train={"epochs": 1, "batch_size": job["batch_size"], "isolation": "process",
               "max_memory_mib": job["max_memory_mib"]},
        distill={"trials": 1, "size": 0.25, "epochs": 1}, export={"formats": ["float32", "int8"]})
    load = os.getloadavg()[0]
    with _Watch() as watch:
        start = time.monotonic()
        result = automl.run(path, new=True, progress=watch.progress)
        seconds = time.monotonic() - start
    d, e = result.distill, result.export
    return {
        "name": job["name"], "images": job["images"], "max_memory_mib": job["max_memory_mib"], "seconds": seconds,
        "load_start": load, "load_end": os.getloadavg()[0], "tree_peak_mib": watch.peak["tree"],
        "trial_peak_mib": watch.peak["trial"], "study_peak_mib": watch.peak["study"],
        "best_value": result.best_value, "test_metrics": result.test_metrics,
        "trials": [{"number": t.number, "state": str(t.state), "reason": t.attrs.get("fail_reason"),
                    "value": t.value} for t in result.trials],
        "watch": [watch.trials[k] for k in sorted(watch.trials)],
        "distill": None if d is None else {"verdict": d.verdict, "distilled_test": d.distilled_test,
                                           "scratch_test": d.scratch_test, "teacher_test": d.teacher_test,
                                           "student_params": d.student_params, "teacher_params": d.teacher_params},
        "export": None if e is None else {"model": e.model, "files": [
            {"format": f.format, "size_bytes": f.validation.size_bytes, "keras": f.validation.keras_value,
             "tflite": f.validation.tflite_value, "drop": f.validation.drop, "flagged": f.validation.flagged,
             "samples": f.validation.samples} for f in e.files]}}


def _child(job: dict[str, Any]) -> dict[str, Any]:
    return {"pretrain": _pretrain, "study": _study, "latency": _latency, "budget": _budget}[job["kind"]](job)


# -- the parts ----------------------------------------------------------------------------------------------------
def run_parts(args: argparse.Namespace, out: dict[str, Any], save: Any) -> None:
    root = args.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    made = time.monotonic()
    folder = make_folder(root, args.images)
    out["folder"] = {"path": str(folder), "images": args.images, "seconds": time.monotonic() - made}
    print(f"{args.images} images in {folder} ({out['folder']['seconds']:.0f} s)", file=sys.stderr, flush=True)
    weights = root / WEIGHTS_FILE
    common = {"kind": "study", "folder": str(folder), "cwd": str(root), "batch_size": args.batch_size}
    for part in args.parts:
        begun = time.monotonic()
        print(f"== {part} ({time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        if part == "weights":
            out["weights"] = run_child(__file__, {"kind": "pretrain", "path": str(weights),
                                                  "images": args.pretrain_images, "epochs": args.pretrain_epochs})
        elif part == "cache":
            out["cache"] = {cache: run_child(__file__, {**common, "name": f"vision_cache_{cache}", "cache": cache,
                                                        "space": CACHE_SPACE, "trials": 1, "epochs": args.epochs,
                                                        "sampler": "random"})
                            for cache in ("memory", "disk")}
        elif part in ("mobilenet", "pretrained"):
            space = MOBILENET_SPACE if part == "mobilenet" else pretrained_space(str(weights))
            out[part] = run_child(__file__, {**common, "name": f"vision_{part}", "cache": "disk", "space": space,
                                             "trials": args.trials, "epochs": args.epochs,
                                             "timeout": args.study_timeout})
        elif part == "latency":
            studies = [out[s] for s in ("mobilenet", "pretrained") if s in out]
            if args.latency_sampled:
                studies += _sampled(args, root, folder, weights)
            out["latency"] = run_child(__file__, {"kind": "latency", "cwd": str(root), "studies": studies})
        elif part == "memory":
            out["memory"] = []
            for n in args.memory_sizes:
                sized = make_folder(root, n)
                result = run_child(__file__, {**common, "folder": str(sized), "name": f"vision_memory_{n}",
                                              "cache": "disk", "space": CACHE_SPACE, "trials": 1, "epochs": 1,
                                              "sampler": "random"})
                out["memory"].append({"images": n, **result})
                save()
        elif part == "budget":
            out["budget"] = []
            for n in args.budget_sizes:
                sized = make_folder(root, n)
                out["budget"].append(run_child(__file__, {
                    **common, "kind": "budget", "folder": str(sized), "name": f"vision_budget_{n}", "images": n,
                    "trials": args.budget_trials, "max_memory_mib": args.max_memory_mib}))
                save()
        out.setdefault("part_seconds", {})[part] = time.monotonic() - begun
        save()


# -- the report ---------------------------------------------------------------------------------------------------
def _epoch_split(study: dict[str, Any], trial: dict[str, Any]) -> tuple[float, float, float]:
    """(the last epoch's seconds, of which reading batches, of which compute)."""
    epoch = trial["epochs"][-1]["epoch_seconds"] if trial.get("epochs") else float("nan")
    read = study["read_train_s"] + study["read_val_s"]
    return epoch, read, epoch - read


def _f(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def report(out: dict[str, Any]) -> str:
    runs = out.get("runs", [out])
    lines = ["; ".join(f"`{r['command']}` ({r.get('seconds', 0) / 60:.0f} min, a folder of {r['folder']['images']:,} "
                       "images)" for r in runs) + ". Generated 96x96 RGB PNGs, 10 classes (the task of "
             "benchmarks/image_memory.py: a polygon of 3-7 sides, filled or outlined, at a random place, size, "
             "angle and color over upsampled-noise blobs, plus pixel noise), `source: image_folder`, 60/20/20 "
             f"split, batch {out['batch_size']}, `train.isolation: process`; every part a fresh process calling "
             "`automl.run`. The load is the 1-minute load average (2 cores: above 2 means other work shared them).", ""]
    w = out.get("weights")
    if w:
        lines += [f"Weights of study (b): **not ImageNet's** (no network here). `MobileNetV3Small(include_top=False, "
                  f"weights=None)` at 96x96 trained {w['epochs']} epoch(s) on {w['images']:,} generated images of a "
                  f"different task (4 stripe orientations over noise; val accuracy "
                  f"{', '.join(f'{v:.2f}' for v in w['val_accuracy'])}, {w['seconds']:.0f} s), its backbone saved "
                  "with `save_weights` and given as `weights: FILE`.", ""]
    for part, title in (("mobilenet", "(a) `mobilenet` block from scratch"),
                        ("pretrained", "(b) `pretrained` MobileNetV3Small, `weights: FILE`, `frozen_epochs: 1`")):
        s = out.get(part)
        if not s:
            continue
        rows = []
        for t in s["trials"]:
            epoch, read, compute = _epoch_split(s, t)
            first = t["epochs"][0]["epoch_seconds"] if t.get("epochs") else float("nan")
            rows.append([t["number"], t.get("state", "-"), _f(t.get("value")), f"{first:.0f}", f"{epoch:.0f}",
                         f"{read:.0f} / {compute:.0f}", f"{t['peak_rss_mib']:.0f}", f"{t.get('load', 0):.1f}"])
        test = s["test_metrics"].get("test_accuracy", s["test_metrics"].get("accuracy"))
        lines += [f"### {title}", "",
                  f"{len(s['trials'])} trial(s) x {out['epochs']} epochs (TPE, no pruner), "
                  f"{s['seconds'] / 60:.1f} min; "
                  f"best validation accuracy {_f(s['best_value'])} (trial {s['best_trial']}), its test accuracy "
                  f"{_f(test)}; trial process peak {s['trial_peak_mib']:.0f} MiB, the whole tree "
                  f"{s['tree_peak_mib']:.0f} MiB; load {s['load_start']:.1f} at the start, {s['load_end']:.1f} at "
                  f"the end. Reading one epoch's batches alone ({s['train_rows']:,} train + {s['val_rows']:,} "
                  f"validation rows): {s['read_train_s']:.1f} + {s['read_val_s']:.1f} s.", "",
                  table(["trial", "state", "val acc", "epoch 1 s (tracing)", f"epoch {out['epochs']} s",
                         "of which input / compute s", "trial process peak MiB", "load"], rows), ""]
    c = out.get("cache")
    if c:
        rows = []
        for cache, s in c.items():
            t = s["trials"][0]
            epoch, read, compute = _epoch_split(s, t)
            rows.append([cache, "batches read from the file" if s["streamed"] else "arrays in memory",
                         f"{t['epochs'][0]['epoch_seconds']:.1f}", f"{epoch:.1f}", f"{read:.1f}",
                         f"{read / epoch:.0%}", f"{t['peak_rss_mib']:.0f}",
                         f"{s['load_start']:.1f}-{s['load_end']:.1f}"])
        mem, disk = (_epoch_split(c[k], c[k]["trials"][0])[0] for k in ("memory", "disk"))
        lines += ["### Streaming vs in memory", "",
                  f"One fixed `mobilenet` model ({json.dumps(CACHE_SPACE['params'])}), 1 trial of {out['epochs']} "
                  "epochs, the same folder with `data.cache: memory` and `disk`. Input = one epoch of the same "
                  "batches read alone (automl's batch reader; its reads run in the thread that trains, so input + "
                  "compute = the epoch).", "",
                  table(["data.cache", "fit gets", "epoch 1 s", f"epoch {out['epochs']} s", "reading alone s",
                         "input share", "trial process peak MiB", "load"], rows), "",
                  f"Streaming costs {disk / mem - 1:+.0%} epoch time over memory (target: at most +10%).", ""]
    lat = out.get("latency")
    if lat:
        models = lat["models"]
        rows = [[m["study"].replace("vision_", ""), m["trial"], f"{m['params']:,}", f"{m['kib']:.0f}",
                 f"{m['rounds'][0]['ms']:.2f}", f"{m['rounds'][0]['cv']:.1%}", f"{m['rounds'][1]['ms']:.2f}",
                 f"{m['rounds'][1]['cv']:.1%}", f"{m['rounds'][0]['load']:.1f} / {m['rounds'][1]['load']:.1f}"]
                for m in models]
        cvs = [r["cv"] for m in models for r in m["rounds"]]
        sampled = any("sampled" in m["study"] for m in models)
        by_study = {}
        for m in models:
            by_study.setdefault(m["study"].replace("vision_", ""), []).append(m)
        within = "; ".join(f"{name} alone {_spearman(*([x['rounds'][k]['ms'] for x in group] for k in (0, 1))):.3f} "
                           f"({len(group)} models, {min(x['rounds'][0]['ms'] for x in group):.2f}-"
                           f"{max(x['rounds'][0]['ms'] for x in group):.2f} ms)" for name, group in by_study.items())
        lines += ["### Latency of the models", "",
                  f"{len(models)} models, "
                  + ("configurations drawn at random (seeded) from the two studies' spaces, built untrained by "
                     "automl's builder (`--latency-sampled`)" if sampled else
                     "every complete trial of the studies, rebuilt from its parameters")
                  + ", full int8 calibrated on 100 training images by automl's converter, ai-edge-litert, 1 thread, "
                  "batch 1, this x86 CPU (not a phone); each file timed with `automl.tflite.measure.tflite_latency` "
                  "(blocks until the median settles), every file once, then every file again.", "",
                  table(["models", "trial", "params", "KiB", "round 1 ms", "CV", "round 2 ms", "CV", "load"], rows), "",
                  f"Spearman rank correlation of the two rounds: **{lat['spearman']:.3f}** over {len(models)} models "
                  f"(target >= 0.9 over >= 12: {'met' if lat['spearman'] >= 0.9 and len(models) >= 12 else 'MISSED'}); "
                  f"{within}; median CV {statistics.median(cvs):.1%}.", ""]
    mem = out.get("memory")
    if mem:
        rows = [[f"{m['images']:,}", f"{m['images'] * SIZE * SIZE * 3 * 4 / 2**20:.0f}", f"{m['trial_peak_mib']:.0f}",
                 f"{m['tree_peak_mib']:.0f}", f"{m['seconds']:.0f}", f"{m['load_start']:.1f}-{m['load_end']:.1f}"]
                for m in mem]
        lines += ["### Memory by the number of images", "",
                  "One trial of the cache part's model, 1 epoch, `data.cache: disk`.", "",
                  table(["images", "float32 pixels MiB", "trial process peak MiB", "tree peak MiB", "seconds", "load"],
                        rows), ""]
    budget = out.get("budget")
    if budget:
        rows = []
        for b in budget:
            pixels = b["images"] * SIZE * SIZE * 3 * 4 / 2**20
            states = ", ".join(f"{t['state'].split('.')[-1]}" + (f" ({t['reason']})" if t["reason"] else "")
                               for t in b["trials"])
            d = b.get("distill") or {}
            exported = (b.get("export") or {}).get("files", [])
            files = "; ".join(f"{f['format']} {f['tflite']:.3f} (drop {f['drop'] * 100:+.1f} pt"
                              f"{', flagged' if f['flagged'] else ''})" for f in exported)
            rows.append([f"{b['images']:,}", f"{pixels:,.0f}", f"{b['max_memory_mib']:,}",
                         f"{pixels / b['max_memory_mib']:.1f}x", states, f"{b['trial_peak_mib']:.0f}",
                         f"{b['study_peak_mib']:.0f}", f"{b['tree_peak_mib']:.0f}",
                         _f((d.get("distilled_test") or {}).get("accuracy")), files, f"{b['seconds'] / 60:.1f}",
                         f"{b['load_start']:.1f}-{b['load_end']:.1f}"])
        lines += ["### Tune, distill and export beyond `train.max_memory_mib`", "",
                  f"`automl run` with all three stages: tune {len(budget[0]['trials'])} trials of a small CNN "
                  f"({json.dumps(BUDGET_SPACE['params'])}), 1 epoch each; distill 1 student trial of 1 epoch at "
                  "size 0.25 (and the same student from scratch); export float32 and int8, each re-validated in the "
                  "interpreter on the test split. `data.cache: auto` (the default), `train.isolation: process`, "
                  "`train.max_memory_mib` as below: a trial process that grows past it fails.", "",
                  table(["images", "float32 pixels MiB", "max_memory_mib", "pixels / limit", "trials",
                         "trial process peak MiB", "study process peak MiB", "tree peak MiB", "student test acc",
                         "exported (test acc, drop vs Keras)", "min", "load"], rows), ""]
    lines.append(environment())
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--pretrain-images", type=int, default=2000)
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=[*PARTS, *EXTRA_PARTS])
    parser.add_argument("--study-timeout", type=float, default=None,
                        help="study.timeout of each study: no new trial after this many seconds")
    parser.add_argument("--latency-sampled", type=int, default=0, metavar="K",
                        help="the latency part also times K untrained configurations drawn from each space")
    parser.add_argument("--memory-sizes", type=int, nargs="+", default=[10_000, 40_000])
    parser.add_argument("--budget-sizes", type=int, nargs="+", default=[10_000, 40_000])
    parser.add_argument("--budget-trials", type=int, default=2)
    parser.add_argument("--max-memory-mib", type=int, default=2048)
    parser.add_argument("--quick", action="store_true", help="300 images, 2 trials, 1 epoch (a smoke test)")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "automl-vision",
                        help="where the folders, weights, mlruns/ and .tflite files go")
    parser.add_argument("--json", type=Path, help="the results (default: ROOT/vision.json)")
    parser.add_argument("--from-json", type=Path, nargs="+",
                        help="no run: the section from earlier runs' JSON (several: their parts together, the "
                             "later file's part where both have one)")
    parser.add_argument("--write", type=Path, help=f"write the '{TITLE}' section of this Markdown file")
    args = parser.parse_args()
    if args.from_json:
        merged: dict[str, Any] = {}
        for file in args.from_json:
            run = json.loads(file.read_text())
            merged.setdefault("runs", []).append(run)
            merged.update(run)
        publish(report(merged), args.write, TITLE)
        return
    if args.quick:
        args.images, args.trials, args.epochs, args.pretrain_images, args.pretrain_epochs = 300, 2, 1, 200, 1
        args.memory_sizes = args.budget_sizes = [300]
    if args.parts and "latency" in args.parts:  # latency last: it times the models of the studies run before
        args.parts = [p for p in args.parts if p != "latency"] + ["latency"]
    target = args.json or args.root / ("vision-quick.json" if args.quick else "vision.json")
    out: dict[str, Any] = {"command": "python benchmarks/vision.py " + " ".join(sys.argv[1:]), "images": args.images,
                           "trials": args.trials, "epochs": args.epochs, "batch_size": args.batch_size,
                           "load_start": os.getloadavg()[0]}
    started = time.monotonic()

    def save() -> None:
        out["seconds"] = time.monotonic() - started
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(out, indent=1, default=float))

    run_parts(args, out, save)
    save()
    print(f"results: {target}", file=sys.stderr)
    publish(report(out), args.write, TITLE)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        answer_child(sys.argv[2], _child)
    else:
        main()
