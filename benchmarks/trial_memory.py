"""Memory over a long study: trials inline vs in trial processes (``train.isolation``).

Each mode runs one study of N small trials (an MLP on iris, 2 epochs) in a fresh Python process that calls
``automl.run``; after every trial an observer reads the resident memory (RSS) of the study's own process and
of its whole process tree (the study process and its trial processes) from ``/proc``, and a sampler thread
keeps the tree's peak. Reported: the study process at trial 10 and at the last trial (its growth between
them), the tree's peak and its range from trial 10 on, and the wall time.

    .venv/bin/python benchmarks/trial_memory.py                  # 100 trials per mode
    .venv/bin/python benchmarks/trial_memory.py --trials 30 --recycle 10 --write docs/benchmarks.md

Target (issue 11): with ``process``, the study process grows <= 30 MiB from trial 10 to trial 100 and the tree's
peak stays flat.
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


def _child(job: dict[str, Any]) -> dict[str, Any]:
    quiet_tensorflow()
    import automl
    from automl.progress import Progress
    from automl.testing import write_pipeline

    me = os.getpid()
    samples: list[dict[str, float]] = []
    peak = [0.0]

    class Watch(Progress):
        def trial_ended(self, number: int, state: str, value: float | None, best: float | None,
                        reason: str | None, seconds: float) -> None:
            tree = sum(_rss(p) for p in process_tree(me))
            samples.append({"trial": number, "self": _rss(me), "tree": tree, "state": state})

    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], sum(_rss(p) for p in process_tree(me)))

    folder = Path(tempfile.mkdtemp(prefix="trial-memory-"))
    os.chdir(folder)
    path = write_pipeline(folder, name="memory", data={"source": "iris"},
                          space={"block": "mlp", "params": {"layers": 2, "units": {"type": "int", "low": 8,
                                                                                    "high": 64}}},
                          study={"trials": job["trials"], "sampler": "random", "pruner": "none"},
                          train={"epochs": 2, "batch_size": 16, "isolation": job["isolation"],
                                 "recycle_after": job["recycle"]})
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    started = time.perf_counter()
    automl.run(path, progress=Watch())
    seconds = time.perf_counter() - started
    stop.set()
    return {"samples": samples, "peak": peak[0], "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--recycle", type=int, default=None, help="train.recycle_after (default: automl's)")
    parser.add_argument("--write", type=Path, help="put the section into this Markdown file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        answer_child(args.child, _child)
        return
    from automl.config.models import RECYCLE_AFTER

    recycle = args.recycle or RECYCLE_AFTER
    load = os.getloadavg()
    rows = []
    for isolation in ("inline", "process"):
        out = run_child(__file__, {"trials": args.trials, "isolation": isolation, "recycle": recycle})
        samples = out["samples"]
        at10 = samples[min(9, len(samples) - 1)]
        last = samples[-1]
        later = [s["tree"] for s in samples[9:]] or [s["tree"] for s in samples]
        rows.append([isolation, f"{at10['self']:.0f}", f"{last['self']:.0f}", f"{last['self'] - at10['self']:+.0f}",
                     f"{min(later):.0f}–{max(later):.0f}", f"{out['peak']:.0f}", f"{out['seconds']:.0f}"])
        print(f"{isolation}: {rows[-1]}", file=sys.stderr)
    body = "\n".join([
        f"{args.trials} trials of an MLP on iris (2 epochs, batch 16), `train.recycle_after: {recycle}`; resident "
        "memory (MiB) read from /proc after each trial (`benchmarks/trial_memory.py`).", "",
        table(["isolation", "study process at trial 10", f"at trial {args.trials}", "growth",
               "tree after each trial (from trial 10)", "tree peak", "seconds"], rows), "",
        environment(load)])
    publish(body, args.write, "Trial processes: memory")


if __name__ == "__main__":
    main()
