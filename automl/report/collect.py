"""Read a study back from MLflow (its session runs and trial runs) and from its export folder.

MLflow is the source because it holds everything a report shows, whatever engine ran the study: each
session's parent run (metric, direction, test metrics), each trial's child run (parameters, state, value,
per-epoch history). A study restarted with ``--new`` keeps its older MLflow runs; only the sessions from
the last fresh start on (``automl.trials_before == 0``) belong to the current study.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl._text import one_of
from automl.errors import StudyError
from automl.store.access import not_made_yet, redact
from automl.store.folder import StudyFolder, read_json
from automl.tracking.mlflow import PARENT_TAG, check_server, refused, tracking_uri

CURVE_KEYS = ("loss", "val_loss")


@dataclass
class TrialRun:
    """One trial as its MLflow child run records it."""

    number: int
    state: str  # COMPLETE | PRUNED | FAIL | RUNNING
    value: float | None
    params: dict[str, Any]
    run_id: str
    seconds: float | None = None
    n_params: int | None = None
    best_epoch: int | None = None
    reason: str | None = None
    history: dict[str, list[float]] = field(default_factory=dict)  # metric -> value per epoch
    #: what the trial measured of its model (``tflite_latency_ms``, ``tflite_latency_cv``, ``tflite_kib``)
    measured: dict[str, float] = field(default_factory=dict)
    #: where its tflite_latency_ms came from (the automl.latency_source tag): interpreter | command; None: unmeasured
    latency_source: str | None = None


@dataclass
class StudyData:
    """Everything a report needs about one study."""

    name: str
    metric: str
    direction: str
    tracking_uri: str
    experiment_id: str
    sessions: list[dict[str, Any]]  # one per `automl run`: run id, start (ms), trials, data source, ...
    trials: list[TrialRun]
    test_metrics: dict[str, float]
    exports: list[dict[str, Any]]
    settings: dict[str, str]  # the latest session's parameters (engine, sampler, epochs, data.source, ...)
    #: a multi-objective study's Pareto front as its last session settled it (pareto.json); else empty
    pareto: list[dict[str, Any]] = field(default_factory=list)
    #: the study's distillation as its last ``automl distill`` recorded it (student.json); None: not distilled
    distill: dict[str, Any] | None = None

    @property
    def latency_note(self) -> str | None:
        """The run's warning when ``tflite_latency_ms`` is an objective or a constraint and its measurements are
        partly noise (:func:`automl.tflite.measure.latency_trust`); else None."""
        from automl.tflite.measure import latency_trust

        named = f"{self.settings.get('objectives', '')} {self.settings.get('constraints', '')}"
        if "tflite_latency_ms" not in named:
            return None
        from automl.tflite.device import LATENCY_SOURCE

        return latency_trust([{**t.measured, LATENCY_SOURCE: t.latency_source} for t in self.trials
                              if t.state in ("COMPLETE", "PRUNED")])

    @property
    def latest_run_id(self) -> str:
        return str(self.sessions[-1]["run_id"])

    def completed(self) -> list[TrialRun]:
        return [t for t in self.trials if t.state == "COMPLETE" and t.value is not None]

    def ranked(self) -> list[TrialRun]:
        """Completed trials, best first."""
        return sorted(self.completed(), key=lambda t: t.value or 0.0, reverse=self.direction == "maximize")

    def best(self) -> TrialRun | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def varying(self) -> list[str]:
        """Parameters that take more than one value over the trials (the others were fixed)."""
        names = sorted({k for t in self.trials for k in t.params})
        return [n for n in names if len({repr(t.params.get(n)) for t in self.trials}) > 1]

    def fixed(self) -> dict[str, Any]:
        varying = set(self.varying())
        return {k: v for k, v in (self.trials[0].params if self.trials else {}).items() if k not in varying}

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.state] = out.get(t.state, 0) + 1
        return out


def parse_value(text: str) -> Any:
    """MLflow stores params as text: ``"32"`` -> 32, ``"0.01"`` -> 0.01, ``"True"`` -> True, else the text."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def collect(name: str, *, uri: str | None = None, output_dir: str | Path | None = None,
            histories: bool = True) -> StudyData:
    """Read study ``name`` from the MLflow store at ``uri`` and its exports from ``output_dir/export``."""
    from mlflow import MlflowClient

    uri = tracking_uri(uri)
    experiment, known = None, []
    if not not_made_yet(uri):  # reading must not make an empty store
        check_server(uri)
        client = MlflowClient(tracking_uri=uri)
        with refused(uri, f"cannot read study '{name}' there"):
            experiment = client.get_experiment_by_name(name)
            known = [e.name for e in client.search_experiments() if e.name != "Default"] if experiment is None else []
    if experiment is None:
        raise StudyError(f"no study '{name}' in the MLflow store {redact(uri)}: "
                         + (one_of(name, known, "study") if known else "it holds no study yet (run `automl run`)"))
    runs = client.search_runs([experiment.experiment_id], max_results=50000, order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if r.data.tags.get("automl.role") == "study"]
    fresh = [i for i, r in enumerate(parents) if r.data.tags.get("automl.trials_before", "0") == "0"]
    parents = parents[fresh[-1]:] if fresh else parents
    if not parents:
        raise StudyError(f"the MLflow experiment '{name}' holds no `automl run` session")
    parent_ids = {r.info.run_id for r in parents}
    latest = parents[-1].data.params
    metric = latest.get("metric", "val_accuracy")
    direction = latest.get("direction", "maximize")
    by_number: dict[int, TrialRun] = {}
    for r in runs:
        tags = r.data.tags
        if tags.get("automl.role") != "trial" or tags.get(PARENT_TAG) not in parent_ids:
            continue
        m = r.data.metrics
        state = tags.get("automl.state") or ("RUNNING" if r.info.status == "RUNNING" else r.info.status)
        number = int(tags.get("automl.trial", -1))
        by_number[number] = TrialRun(
            number=number, state=state, value=_finite(m.get(f"best_{metric}")),
            params={k: parse_value(v) for k, v in r.data.params.items()}, run_id=r.info.run_id,
            seconds=_finite(m.get("trial_seconds")),
            n_params=int(m["params_count"]) if m.get("params_count") else None,
            best_epoch=int(m["best_epoch"]) if "best_epoch" in m else None,
            reason=tags.get("automl.fail_reason") or tags.get("automl.reason"),
            measured={k: v for k, v in m.items() if k.startswith("tflite_")},
            latency_source=tags.get("automl.latency_source"))
    trials = [by_number[n] for n in sorted(by_number)]
    if histories:
        keys = (*CURVE_KEYS, metric, metric[4:] if metric.startswith("val_") else metric)
        for t in trials:
            for key in dict.fromkeys(keys):
                points = sorted(client.get_metric_history(t.run_id, key), key=lambda p: p.step)
                if points:
                    t.history[key] = [p.value for p in points]
    test = {k: v for k, v in parents[-1].data.metrics.items() if k.startswith("test_")}
    sessions = [{"run_id": r.info.run_id, "start": r.info.start_time, "end": r.info.end_time,
                 "status": r.info.status, "trials": int(r.data.params.get("trials", 0) or 0),
                 "trials_before": int(r.data.tags.get("automl.trials_before", 0) or 0)} for r in parents]
    return StudyData(name=name, metric=metric, direction=direction, tracking_uri=uri,
                     experiment_id=experiment.experiment_id, sessions=sessions, trials=trials, test_metrics=test,
                     exports=read_exports(Path(output_dir) / "export" if output_dir else StudyFolder(name).export_dir),
                     settings=dict(latest),
                     pareto=read_pareto(Path(output_dir) / "pareto.json" if output_dir else StudyFolder(name).pareto),
                     distill=read_distill(Path(output_dir) / "student.json" if output_dir
                                          else StudyFolder(name).student_info))


def read_distill(path: Path) -> dict[str, Any] | None:
    """What ``student.json`` records (students' weights, validation and test values, verdict, the gain's
    interval); None when the study was not distilled or the file is unreadable."""
    doc = read_json(path)
    return doc if doc is not None and "verdict" in doc and isinstance(doc.get("test"), dict) else None


def read_pareto(path: Path) -> list[dict[str, Any]]:
    """The members of ``pareto.json`` (none when the study has one objective or the file is unreadable)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    return [m for m in doc if isinstance(m, dict) and "trial" in m and isinstance(m.get("values"), dict)] \
        if isinstance(doc, list) else []


def read_exports(folder: Path) -> list[dict[str, Any]]:
    """The validation JSON files written beside each exported .tflite file (none: an empty list)."""
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(doc, dict) and "format" in doc and "tflite_value" in doc:
            out.append({**doc, "json": str(path)})
    return out
