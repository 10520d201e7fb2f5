"""benchmarks/phone.py without training: the task of its pareto and pruning parts (vision by default, on the vision
benchmark's folder and mobilenet space), the budget each task defaults to, and its report in the task's units. The
script itself ran end to end as `benchmarks/phone.py --parts pareto,pruning --quick` (minutes, not in the suite)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
phone: Any = pytest.importorskip("phone")


def test_vision_is_the_default_task_with_its_own_budget_and_the_mobilenet_space() -> None:
    args = phone.parse_args([])
    assert args.task == "vision" and args.images == 10_000
    assert (args.trials, args.epochs, args.pruning_trials, args.pruning_epochs) == (16, 3, 16, 8)
    assert phone.TASKS["vision"]["space"]["block"] == "mobilenet"
    motifs = phone.parse_args(["--task", "motifs"])  # the task of the figures published before
    assert (motifs.trials, motifs.epochs, motifs.pruning_trials, motifs.pruning_epochs) == (20, 8, 20, 15)
    assert phone.parse_args(["--trials", "5"]).trials == 5


def test_quick_is_a_smoke_run() -> None:
    args = phone.parse_args(["--quick"])
    assert (args.images, args.trials, args.epochs, args.seeds, args.pruning_trials) == (200, 2, 1, [0], 2)


def test_the_vision_data_is_the_vision_benchmarks_folder(tmp_path: Path) -> None:
    args = phone.parse_args(["--quick", "--root", str(tmp_path)])
    data = phone._task_data(args, tmp_path)
    assert data["source"] == "image_folder" and data["image_size"] == [96, 96]
    classes = sorted(p.name for p in Path(data["path"]).iterdir() if p.is_dir())
    assert len(classes) == 10 and sum(len(list((Path(data["path"]) / c).glob("*.png"))) for c in classes) == 200


def _trial(acc: float, ms: float, params: int) -> dict[str, Any]:
    return {"acc": acc, "latency": ms, "cv": 0.02, "params": params}


def test_the_pareto_report_names_the_task_and_shows_milliseconds() -> None:
    args = phone.parse_args(["--quick", "--images", "300"])
    runs = {(m, 0): {"trials": [_trial(0.5, 4.0, 1000), _trial(0.6, 9.5, 5000)], "seconds": 10.0}
            for m in [*phone.MO_METHODS, "accuracy-only"]}
    runs[("tpe", 0)]["trials"].append(_trial(0.61, 3.0, 800))
    rem = {"models": 3, "first": [1.0, 2.0, 3.0], "second": [1.1, 2.1, 3.2], "spearman": 1.0}
    text = "\n".join(phone.report_pareto({"runs": runs, "remeasure": rem}, args))
    assert text.startswith("Task: the vision benchmark's generated folder (96x96 RGB PNGs, 10 classes, 300 images")
    assert "| its latency ms |" in text and "| 0 | tpe | 0.6000 | 9.50 | 0.6100 | 3.00 | 3.17x |" in text
    assert "(10.45 ms)" in text  # the reference point: 1.1 x the slowest


def test_quick_keeps_what_is_given() -> None:
    args = phone.parse_args(["--quick", "--images", "500", "--seeds", "1,2"])
    assert (args.images, args.seeds, args.trials) == (500, [1, 2], 2)


def test_two_remeasured_models_are_no_ranking() -> None:
    args = phone.parse_args(["--quick"])
    runs = {(m, 0): {"trials": [_trial(0.5, 4.0 + i, 1000 * i)], "seconds": 1.0}
            for i, m in enumerate([*phone.MO_METHODS, "accuracy-only"])}
    rem = {"models": 2, "first": [1.0, 2.0], "second": [2.0, 1.0], "spearman": float("nan")}
    text = "\n".join(phone.report_pareto({"runs": runs, "remeasure": rem}, args))
    assert "Spearman of the two rankings nan (fewer than 3 models: no ranking to compare)" in text
