"""What each rung of the int8 recovery ladder fixes and what it costs in latency (docs/export.md, "What each
rung costs"): one family of ``benchmarks/mobile.py --families`` (its spiky task and fixed space) trained once
through ``automl.run`` (1 trial, no export), then EVERY rung built (the ladder itself stops at the first that
meets ``max_drop``), each file's validation and test drop measured, and every file timed side by side: rounds of
:func:`automl.tflite.measure.tflite_latency` over all files in turn, the median of the rounds reported.

    .venv/bin/python benchmarks/int8_rungs.py --family cnn1d --samples 1500 --epochs 8

``--clean-scored``: the spikes only in the training rows (validation and test clean), as in the issue's case.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from _common import environment


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="cnn1d", choices=["cnn", "cnn1d", "rnn", "transformer"])
    parser.add_argument("--samples", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--float-steps", type=int, default=2, help="float_layers steps built (one tensor more each)")
    parser.add_argument("--clean-scored", action="store_true", help="spikes in the training rows only")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    sys.path.insert(0, str(Path(__file__).parent))
    from _families import SPACES, add_spikes, images
    from _tasks import motif_data

    folder = Path(tempfile.mkdtemp(prefix="automl-rungs-"))
    os.chdir(folder)
    x, y = images(args.samples) if args.family == "cnn" else motif_data(args.samples, noise=0.5)
    n_train = int(len(x) * 0.6)
    n_val = int(len(x) * 0.2)
    spiked = add_spikes(x, 0)
    if args.clean_scored:  # the spikes in the training rows only
        spiked = np.concatenate([spiked[:n_train], x[n_train:]]).astype(np.float32)
    np.savez("data.npz", x_train=spiked[:n_train], y_train=y[:n_train], x_val=spiked[n_train:n_train + n_val],
             y_val=y[n_train:n_train + n_val], x_test=spiked[n_train + n_val:], y_test=y[n_train + n_val:])
    Path("p.yaml").write_text(yaml.safe_dump({
        "name": "rungs", "seed": 0, "data": {"source": "npz", "path": "data.npz"}, "task": "classification",
        "space": SPACES[args.family], "study": {"sampler": "random", "pruner": "none", "trials": 1},
        "train": {"epochs": args.epochs, "batch_size": 64}}, sort_keys=False))
    import automl
    from automl.config import load_pipeline
    from automl.export.recovery import Ladder, QatOptions, integer_only
    from automl.plan import make_plan
    from automl.tflite.convert import ConvertOptions, convert
    from automl.tflite.measure import MeasureRequest, tflite_latency
    from automl.tflite.prepare import inference_model
    from automl.tflite.validate import run_tflite, score

    started = time.monotonic()
    automl.run("p.yaml", new=True)
    from automl.store.folder import load_model

    model = load_model(Path("mlruns/rungs/best.keras"))  # automl's custom layers (the transformer's) registered
    data = make_plan(load_pipeline("p.yaml")).data
    prepared = inference_model(model)
    rng = np.random.default_rng(0)
    rep = np.asarray(data.x_train[np.sort(rng.choice(len(data.x_train), 200, replace=False))], dtype=np.float32)
    options = ConvertOptions(representative=rep)
    ladder = Ladder(prepared, options, x_train=np.asarray(data.x_train, dtype=np.float32), y_train=data.y_train,
                    x_val=data.x_val, y_val=data.y_val, task="classification", max_drop=0.01,
                    configured_samples=200, qat=QatOptions(0, 1e-3, 64))
    x_test = np.asarray(data.x_test, dtype=np.float32)
    keras_test = score(np.asarray(model.predict(x_test, verbose=0)), data.y_test, "classification")

    def test_drop(content: bytes) -> float:
        return float(keras_test - score(run_tflite(content, x_test).reshape(len(x_test), -1), data.y_test,
                                        "classification"))

    f32 = convert(prepared, "float32", ConvertOptions())
    plain = convert(prepared, "int8", options)
    files: list[dict[str, Any]] = [
        {"rung": "float32", "content": f32, "val_drop": ladder.val_drop(f32)},
        {"rung": "plain int8", "content": plain, "val_drop": ladder.val_drop(plain)}]
    rungs = [ladder._calibration, ladder._granularity, *ladder._clipped(), ladder._int16]
    floats = ladder._float_layers(_Out())  # type: ignore[arg-type]
    rungs += [next(floats) for _ in range(args.float_steps)]
    for rung in rungs:
        step, content, _ = rung()
        files.append({"rung": f"{step.rung} {step.name}", "what": step.what, "content": content,
                      "val_drop": step.val_drop, "error": step.error, "seconds": step.seconds})
    for i, f in enumerate(files):
        if f["content"] is not None:
            f["file"] = str(folder / f"{i:02d}_{f['rung'].replace(' ', '_')}.tflite")
            Path(f["file"]).write_bytes(f["content"])
            f["test_drop"] = test_drop(f["content"])
            f["integer_only"] = integer_only(f["content"])
            f["size_kib"] = len(f["content"]) / 1024
            f["times"] = []
    sample = np.asarray(data.x_val[:1], dtype=np.float32)[0]
    for _ in range(args.rounds):  # side by side: every file once per round
        for f in files:
            if f["content"] is not None:
                f["times"].append(tflite_latency(f["content"], sample, MeasureRequest()).median_ms)
    base = {f["rung"]: float(np.median(f["times"])) for f in files if f.get("times")}
    rows = []
    for f in files:
        if f["content"] is None:
            rows.append(f"| {f['rung']} | {f.get('what', '')} | not built: {f['error']} | | | | |")
            continue
        ms = float(np.median(f["times"]))
        low, high = (float(np.percentile(f["times"], q)) * 1000 for q in (25, 75))
        rows.append(f"| {f['rung']} | {f.get('what', '')[:90]} | {f['val_drop'] * 100:+.2f} | "
                    f"{f['test_drop'] * 100:+.2f} | {ms * 1000:.1f} ({low:.1f}-{high:.1f}) | "
                    f"{ms / base['plain int8']:.2f}x / {ms / base['float32']:.2f}x | {f['integer_only']} |")
    print(f"{args.family}, {'spikes in training rows only' if args.clean_scored else 'spikes in every split'}; "
          f"Keras test {keras_test:.4f}; {time.monotonic() - started:.0f} s")
    print("| rung | what | val drop, pt | test drop, pt | latency µs, median of rounds (quartiles) | "
          "vs plain int8 / float32 | integer-only |\n| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print(environment(load_before))
    Path("rungs.json").write_text(json.dumps([{k: v for k, v in f.items() if k != "content"} for f in files],
                                             default=float, indent=1))
    print(f"work folder: {folder}", file=sys.stderr)


class _Out:
    """What ``Ladder._float_layers`` writes its per-tensor measurements into."""

    per_layer: list[dict[str, Any]] = []


if __name__ == "__main__":
    main(sys.argv[1:])
