"""Memory of one trial on an image folder, by the number of images: is it flat?

A generated 10-class folder of 96x96 RGB PNGs (textures and shapes on noisy backgrounds: each class a shape
drawn at a random place and size over random blobs), N images, `source: image_folder` with the default
`data.cache: auto`. One `automl run` of one trial (a small CNN, `train.isolation: process`, 1 epoch) in a fresh
process; a sampler thread reads the resident memory (RSS) of the study's whole process tree (the study process
and its trial process) from /proc every 0.1 s and keeps its peak, and the trial process's own peak. The first
run on a folder also decodes it into the cache (mlruns/.cache/images/); a second run, which reuses the cache,
is measured too.

    .venv/bin/python benchmarks/image_memory.py                      # 2,000 and 10,000 images
    .venv/bin/python benchmarks/image_memory.py --sizes 2000 10000 --write docs/benchmarks.md

Target (issue 22): from 2,000 to 10,000 images (their float32 pixels differ by 844 MiB) the tree's peak grows by
at most 200 MiB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import answer_child, environment, process_tree, publish, quiet_tensorflow, run_child, table

from automl.trial.process import rss_mib as _rss

SIZE = 96
CLASSES = 10



def make_folder(root: Path, n: int, seed: int = 0) -> Path:
    """``n`` PNGs over :data:`CLASSES` classes (kept when the folder is there already)."""
    import numpy as np
    from PIL import Image, ImageDraw

    folder = root / f"images-{n}"
    if (folder / ".done").exists():
        return folder
    rng = np.random.default_rng(seed)
    for i in range(n):
        label = i % CLASSES
        (folder / f"c{label}").mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (SIZE // 8, SIZE // 8, 3)).astype(np.uint8)  # blobs: upsampled noise
        image = Image.fromarray(pixels).resize((SIZE, SIZE), Image.BILINEAR)
        draw = ImageDraw.Draw(image)
        r = int(rng.integers(12, 30))
        x, y = (int(v) for v in rng.integers(r, SIZE - r, 2))
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        sides = 3 + label % 5  # the class: a polygon's number of sides, filled or outlined
        angle = float(rng.uniform(0, 360))
        draw.regular_polygon((x, y, r), sides, rotation=angle, fill=color if label < 5 else None,
                             outline=color, width=3)
        noisy = np.asarray(image, dtype=np.int16) + rng.integers(-25, 26, (SIZE, SIZE, 3))
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(folder / f"c{label}" / f"{i:06d}.png")
    (folder / ".done").write_text("")
    return folder


def _child(job: dict[str, Any]) -> dict[str, Any]:
    quiet_tensorflow()
    import automl
    from automl.testing import write_pipeline

    me = os.getpid()
    peak = {"tree": 0.0, "trial": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            pids = process_tree(me)
            peak["tree"] = max(peak["tree"], sum(_rss(p) for p in pids))
            for p in pids[1:]:
                peak["trial"] = max(peak["trial"], _rss(p))
            time.sleep(0.1)

    os.chdir(job["cwd"])
    space = {"block": "cnn", "params": {"conv_blocks": 2, "filters": 16, "kernel_size": 3, "dense_units": 32,
                                        "dropout": 0.1, "lr": 0.003, "optimizer": "adam"}}
    path = write_pipeline(Path(job["cwd"]), name=f"img{job['n']}", space=space,
                          data={"source": "image_folder", "path": job["folder"], "image_size": [SIZE, SIZE]},
                          study={"trials": 1}, train={"epochs": 1, "batch_size": 64, "isolation": "process"})
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.monotonic()
    result = automl.run(path, new=True)
    seconds = time.monotonic() - start
    stop.set()
    thread.join()
    return {"n": job["n"], "seconds": seconds, "tree_peak": peak["tree"], "trial_peak": peak["trial"],
            "value": result.best_value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "automl-image-memory")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    load = os.getloadavg()
    rows = []
    for n in args.sizes:
        made = time.monotonic()
        folder = make_folder(args.root, n)
        print(f"{n} images in {folder} ({time.monotonic() - made:.0f} s)", file=sys.stderr)
        for run in ("first (decodes)", "second (cache)"):
            out = run_child(__file__, {"n": n, "folder": str(folder), "cwd": str(args.root)})
            float32_mib = n * SIZE * SIZE * 3 * 4 / 2**20
            rows.append([n, run, f"{float32_mib:.0f}", f"{out['tree_peak']:.0f}", f"{out['trial_peak']:.0f}",
                         f"{out['seconds']:.0f}", f"{out['value']:.3f}"])
            print(rows[-1], file=sys.stderr)
    body = (table(["images", "run", "float32 pixels MiB", "tree peak MiB", "trial process peak MiB", "seconds",
                   "val acc"], rows) + "\n\n" + environment(load))
    publish(body, args.write, "Image folders: memory by the number of images")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        answer_child(sys.argv[2], _child)
    else:
        main()
