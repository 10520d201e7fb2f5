"""Study reports: one self-contained HTML page per study (its figures embedded), also logged to MLflow.

>>> from automl.report import build_report
>>> report = build_report("quickstart")  # doctest: +SKIP
>>> report.path, report.importances  # doctest: +SKIP
('mlruns/quickstart/report.html', {'lr': 0.61, 'filters': 0.2, ...})
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from automl.report.collect import StudyData, TrialRun, collect, read_exports
from automl.report.importance import param_importances
from automl.store.folder import StudyFolder, write_bytes


@dataclass
class Report:
    """What :func:`build_report` made: the page, its figures and what they were made from."""

    path: Path
    study: StudyData
    importances: dict[str, float]
    #: the figures the page embeds (PNG bytes), by name; logged to MLflow as ``report/<page>_<name>.png``
    figures: dict[str, bytes] = field(default_factory=dict)
    logged_run_id: str | None = None  # the study session run the report was logged to


def build_report(name: str, *, tracking_uri: str | None = None, output: str | Path | None = None,
                 output_dir: str | Path | None = None, log: bool = True) -> Report:
    """Write ``output`` (default ``mlruns/<name>/report.html``) for study ``name`` and log it to MLflow.

    ``output_dir`` is the study's folder (default ``mlruns/<name>``), where exports and the distillation's
    ``student.json`` are looked for. The page embeds its figures: no PNG file is written beside it. The page
    and its figures (from a temporary folder) are logged under ``report/`` in the latest session's parent run
    when ``log`` is set.
    """
    from automl.report import plots
    from automl.report.html import render

    folder = Path(output_dir) if output_dir else StudyFolder(name).path
    study = collect(name, uri=tracking_uri, output_dir=folder)
    done = study.completed()
    scores = param_importances([t.params for t in done], [t.value or 0.0 for t in done])
    figures = {
        "history": plots.history(study),
        "importances": plots.importances(scores, study.metric),
        "slices": plots.slices(study, list(scores) or study.varying()),
        "curves": plots.learning_curves(study),
        "loss_curves": plots.learning_curves(study, "val_loss") if study.metric != "val_loss" else None,
    }
    path = Path(output) if output else folder / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, render(study, scores, figures).encode("utf-8"))
    drawn = {key: png for key, png in figures.items() if png is not None}
    report = Report(path=path, study=study, importances=scores, figures=drawn)
    if log:
        report.logged_run_id = _log(report)
    return report


def _log(report: Report) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=report.study.tracking_uri)
    run_id = report.study.latest_run_id
    client.log_artifact(run_id, str(report.path), "report")
    with tempfile.TemporaryDirectory() as tmp:  # the figures go to MLflow only, never beside the page
        for key, png in report.figures.items():
            figure = Path(tmp) / f"{report.path.stem}_{key}.png"
            figure.write_bytes(png)
            client.log_artifact(run_id, str(figure), "report")
    client.set_tag(run_id, "automl.report", f"report/{report.path.name}")
    return run_id


__all__ = ["Report", "StudyData", "TrialRun", "build_report", "collect", "param_importances", "read_exports"]
