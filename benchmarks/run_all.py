"""Run every benchmark in benchmarks/ and rewrite docs/benchmarks.md (each script owns its "## ..." section).

    .venv/bin/python benchmarks/run_all.py            # full budgets (hours on 2 CPU cores): docs/benchmarks.md
    .venv/bin/python benchmarks/run_all.py --quick    # small budgets, < ~20 min on 2 cores: mlruns/benchmarks-quick.md
    .venv/bin/python benchmarks/run_all.py --quick --only overhead --doc docs/benchmarks.md

A benchmark is any ``benchmarks/*.py`` except this file and ``_*.py``. Each is run as
``python benchmarks/NAME.py [QUICK_ARGS] --write docs/benchmarks.md``, where ``QUICK_ARGS`` is a list literal
at the top level of the script (``QUICK_ARGS = ["--trials", "3"]``); the script replaces its own section of
the file and leaves the others alone. This file rewrites only the introduction above the first section.
A quick run writes to ``mlruns/benchmarks-quick.md`` unless ``--doc`` says otherwise, so that a smoke run
never replaces the full-budget numbers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = HERE.parent / "docs" / "benchmarks.md"
QUICK_DOC = HERE.parent / "mlruns" / "benchmarks-quick.md"
# small budgets for scripts that do not declare QUICK_ARGS themselves
FALLBACK_QUICK = {
    "engines": ["--trials", "4", "--epochs", "2", "--seeds", "0",
                "--configs", "optuna:tpe,optuna:tpe:hyperband,keras_tuner:bayesian"],
    "mobile": ["--samples", "1500", "--epochs", "4", "--student-trials", "2", "--latency-runs", "50"],
}
ORDER = ["overhead", "search_quality", "engines", "mobile"]
INTRO = """# Benchmarks

Every number on this page comes from a script in `benchmarks/` and can be reproduced:
`python benchmarks/run_all.py` runs them all at their full budgets (hours on 2 CPU cores) and rewrites
this page; `--quick` runs each at a small budget (under ~20 minutes on 2 cores), to check that they work
and to get rough numbers. Each section names its command, the machine, the package versions, the date and the
load on the machine while it ran; timings from a loaded machine (load average above the core count) are
inflated and noisy.
"""


def benchmarks() -> list[str]:
    names = [p.stem for p in HERE.glob("*.py") if p.stem != "run_all" and not p.stem.startswith("_")]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def quick_args(name: str) -> list[str]:
    """The script's own ``QUICK_ARGS`` literal, else this file's fallback, else no arguments."""
    tree = ast.parse((HERE / f"{name}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "QUICK_ARGS"
                                                for t in node.targets):
            return [str(a) for a in ast.literal_eval(node.value)]
    return FALLBACK_QUICK.get(name, [])


def write_intro(path: Path) -> None:
    """Replace everything above the first ``## `` section with :data:`INTRO`."""
    lines = path.read_text().splitlines() if path.exists() else []
    first = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    rest = "\n".join(lines[first:])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(INTRO.rstrip() + "\n" + ("\n" + rest.rstrip() + "\n" if rest.strip() else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small budgets (a smoke run, rough numbers)")
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--doc", type=Path, help="the Markdown file to rewrite (default: docs/benchmarks.md; "
                        "with --quick, mlruns/benchmarks-quick.md)")
    args = parser.parse_args(argv)
    args.doc = args.doc or (QUICK_DOC if args.quick else DOC)
    names = benchmarks()
    if args.only:
        unknown = set(args.only.split(",")) - set(names)
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; known: {', '.join(names)}")
        names = [n for n in names if n in args.only.split(",")]
    write_intro(args.doc)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    timings, failed = [], []
    started = time.monotonic()
    for name in names:
        doc = args.doc.resolve()
        shown = doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc  # the sections quote their command
        command = [sys.executable, f"benchmarks/{name}.py", *(quick_args(name) if args.quick else []),
                   "--write", str(shown)]
        print(f"== {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        code = subprocess.run(command, env=env, cwd=ROOT, check=False).returncode
        timings.append((name, time.monotonic() - t0, code))
        if code != 0:
            failed.append(name)
    print("\n".join(f"{n:16s} {s / 60:6.1f} min  {'ok' if c == 0 else f'FAILED (exit {c})'}"
                    for n, s, c in timings), file=sys.stderr)
    print(f"total {(time.monotonic() - started) / 60:.1f} min; {args.doc} rewritten", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
