"""The report's terminal summary: rich renderables the CLI prints."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from automl.report import Report
from automl.report.html import distill_rows, fmt


def summary(report: Report, top: int = 5) -> list[Any]:
    """Headline, top trials, importances, test metrics and exports, ready for ``console.print``."""
    study = report.study
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(study.counts().items()))
    out: list[Any] = [f"study [bold]{study.name}[/]: {len(study.trials)} trials ({counts or 'none'}) in "
                      f"{len(study.sessions)} session(s); {study.metric} ({study.direction})"]
    if study.latency_note:
        out.append(f"[yellow]warning:[/] {escape(study.latency_note)}")
    names = study.varying()
    table = Table(title=f"top trials by {study.metric}")
    for col in ("trial", study.metric, "best epoch", "seconds", "weights"):
        table.add_column(col, justify="right")
    table.add_column("hyperparameters")
    for t in study.ranked()[:top]:
        shown = ", ".join(f"{n}={fmt(t.params.get(n), 3)}" for n in names if n in t.params)
        weights = "-" if t.n_params is None else f"{t.n_params:,}"
        table.add_row(str(t.number), fmt(t.value), fmt(t.best_epoch), fmt(t.seconds, 3), weights, shown)
    out.append(table)
    if report.importances:
        width = max(len(k) for k in report.importances)
        bars = [f"  {k:<{width}} {v:5.2f} {'█' * max(1, round(v * 30))}" for k, v in report.importances.items()]
        out.append("parameter importances:\n" + "\n".join(bars))
    if study.test_metrics:
        tests = sorted(study.test_metrics.items())
        out.append("best model, test split: " + "  ".join(f"{k}={fmt(v)}" for k, v in tests))
    if study.pareto:
        metrics = list(study.pareto[0]["values"])
        front = Table(title=f"Pareto front ({len(study.pareto)} trials, validation values)")
        for col in ("trial", *metrics):
            front.add_column(col, justify="right")
        for member in study.pareto:
            front.add_row(str(member["trial"]), *(fmt(member["values"].get(m)) for m in metrics))
        out.append(front)
    headers, rows = distill_rows(study)
    if rows:
        distilled = Table(title="distillation")
        for col in headers:
            distilled.add_column(col, justify="left" if col == "model" else "right")
        for name, weights, val, test in rows:
            distilled.add_row(name, "-" if weights is None else f"{int(weights):,}", fmt(val), fmt(test))
        out.append(distilled)
        info = study.distill or {}
        out.append(Text(str(info["verdict"])))
        closing = (info.get("gap_to_teacher") or {}).get("closing")
        if closing:
            out.append(Text(str(closing)))
        warning = (info.get("gain") or {}).get("size_warning")
        if warning:
            out.append(Text(f"warning: {warning}"))
    if study.exports:
        metric = study.exports[0].get("metric", "accuracy")
        exports = Table(title="exported models")
        for col in ("format", "size", f"tflite {metric}", "drop", "latency p50"):
            exports.add_column(col, justify="left" if col == "format" else "right")
        for e in study.exports:
            name = str(e.get("format")) + (" sparse" if isinstance(e.get("sparsity"), dict) else "")  # pruned copy
            exports.add_row(name, f"{float(e.get('size_bytes', 0)) / 1024:.1f} KiB",
                            fmt(e.get("tflite_value")), f"{float(e.get('drop', 0.0)):+.4f}",
                            f"{fmt(e.get('latency_ms_median'), 3)} ms")
        out.append(exports)
    logged = f" (logged to MLflow run {report.logged_run_id} under report/)" if report.logged_run_id else ""
    out.append(f"report: {report.path}{logged}")
    return out
