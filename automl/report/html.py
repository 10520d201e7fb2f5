"""One self-contained HTML page: inline CSS, PNG figures as data: URIs, no script, nothing fetched."""

from __future__ import annotations

import base64
import datetime as dt
from html import escape
from typing import Any

from automl.report.collect import StudyData, TrialRun
from automl.stats import over_max_drop
from automl.store.access import redact

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#666;font-size:.9rem}table{border-collapse:collapse;font-size:.88rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;vertical-align:top}
th{background:#f4f6f8}td.l,th.l{text-align:left}tr.best td{background:#eef8ee;font-weight:600}
.flag{color:#b00;font-weight:600}img{max-width:100%;margin:.5rem 0}code{background:#f4f6f8;padding:0 .2rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem}
.card b{display:block;font-size:1.3rem}
"""


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.{digits}f}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]], *, left: int = 0, best_row: int | None = None) -> str:
    head = "".join(f'<th class="l">{escape(h)}</th>' if i < left else f"<th>{escape(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cells = "".join(f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f'<tr{" class=best" if r == best_row else ""}>{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return f"<p class=meta>({escape(alt)}: not enough trials)</p>"
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _trial_rows(study: StudyData, trials: list[TrialRun], names: list[str]) -> list[list[Any]]:
    return [[str(t.number), escape(t.state.lower()), fmt(t.value), fmt(t.best_epoch), fmt(t.seconds, 3),
             fmt(t.n_params), *[escape(fmt(t.params.get(n))) for n in names]] for t in trials]


def distill_rows(study: StudyData) -> tuple[list[str], list[list[Any]]]:
    """The distillation's comparison (teacher, distilled student, student from scratch): headers and raw rows
    (name, weights, validation value, test value); no rows when the study was not distilled."""
    info = study.distill
    if not info:
        return [], []
    metric = str(info.get("metric") or study.metric)
    base = metric[4:] if metric.startswith("val_") else metric
    validation = info.get("validation") or {}
    best = study.best()
    teacher_val = best.value if best is not None and metric == study.metric else None
    teacher_test = (info.get("teacher_test") or {}).get(base)
    rows = [["teacher (best trial)", info.get("teacher_params"), teacher_val, teacher_test],
            ["student (distilled)", info.get("n_params"), validation.get("distilled"), info["test"].get(base)],
            ["student (from scratch)", info.get("n_params") if info.get("scratch_test") else None,
             validation.get("scratch"), (info.get("scratch_test") or {}).get(base)]]
    return ["model", "weights", f"validation {metric}", f"test {base}"], rows


def _distill_section(study: StudyData) -> list[str]:
    headers, rows = distill_rows(study)
    if not rows:
        return []
    info = study.distill or {}
    parts = ["<h2>Distillation</h2>",
             _table(headers, [[escape(r[0]), "-" if r[1] is None else f"{int(r[1]):,}", fmt(r[2]), fmt(r[3])]
                              for r in rows], left=1),
             f"<p>{escape(str(info['verdict']))}</p>"]
    closing = (info.get("gap_to_teacher") or {}).get("closing")
    if closing:
        parts.append(f"<p class=flag>{escape(str(closing))}</p>")
    gain = info.get("gain") or {}
    if gain.get("size_warning"):
        parts.append(f"<p class=flag>{escape(str(gain['size_warning']))}</p>")
    if gain:
        parts.append(f"<p class=meta>The gain's {round(float(gain.get('level', 0.95)) * 100)}% interval is a paired "
                     f"bootstrap over the {gain.get('n', '-')} test rows ({gain.get('resamples', '-')} resamples, on "
                     f"{escape(str(gain.get('metric', '-')))}); the students have the same architecture and weights "
                     "count.</p>")
    if info.get("pick"):
        parts.append(f"<p class=meta>export.model auto ships the {escape(str(info['pick']))} student (chosen on "
                     "validation).</p>")
    return parts


def render(study: StudyData, scores: dict[str, float], figures: dict[str, bytes | None], *, top: int = 10) -> str:
    """The report page of ``study`` (see :func:`automl.report.build_report`)."""
    counts = study.counts()
    best = study.best()
    names = study.varying()
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    s = study.settings
    cards = [("trials", len(study.trials)), *[(k.lower(), v) for k, v in sorted(counts.items())],
             (f"best {study.metric}", fmt(best.value) if best else "-"),
             *[(k, fmt(v)) for k, v in sorted(study.test_metrics.items())]]
    parts = [
        f"<h1>Study <code>{escape(study.name)}</code></h1>",
        f"<p class=meta>{escape(study.metric)} ({escape(study.direction)}); engine {escape(s.get('engine', '-'))}, "
        f"sampler {escape(s.get('sampler', '-'))}, pruner {escape(s.get('pruner', '-'))}; data "
        f"{escape(s.get('data.source', '-'))} ({escape(s.get('task', '-'))}); {len(study.sessions)} session(s); "
        f"MLflow experiment {escape(study.experiment_id)} in <code>{escape(redact(study.tracking_uri))}</code>; "
        f"generated {escape(when)}</p>",
        '<div class="cards">' + "".join(f'<div class="card">{escape(k)}<b>{escape(str(v))}</b></div>'
                                        for k, v in cards) + "</div>",
        *([f"<p class=flag>warning: {escape(study.latency_note)}</p>"] if study.latency_note else []),
        "<h2>Best trials</h2>",
    ]
    ranked = study.ranked()[:top]
    if ranked:
        parts.append(_table(["trial", "state", study.metric, "best epoch", "seconds", "weights", *names],
                            _trial_rows(study, ranked, names), best_row=0))
        if study.test_metrics:
            tests = ", ".join(f"{escape(k)} = {fmt(v)}" for k, v in sorted(study.test_metrics.items()))
            parts.append(f"<p>Best model on the test split (latest session): {tests}.</p>")
    else:
        parts.append("<p>No trial completed.</p>")
    fixed = study.fixed()
    if fixed:
        parts.append("<p class=meta>Fixed in every trial: " + ", ".join(
            f"{escape(k)}={escape(fmt(v))}" for k, v in sorted(fixed.items())) + "</p>")
    parts += ["<h2>Optimization history</h2>", _img(figures.get("history"), "optimization history"),
              "<h2>Parameter importances</h2>"]
    if scores:
        parts.append("<p class=meta>Random-forest importances of the parameters for the value of the completed "
                     "trials (they sum to 1).</p>")
        parts.append(_table(["parameter", "importance"], [[escape(k), f"{v:.3f}"] for k, v in scores.items()],
                            left=1))
    parts += [_img(figures.get("importances"), "parameter importances"), _img(figures.get("slices"), "slices"),
              "<h2>Learning curves</h2>", _img(figures.get("curves"), "learning curves"),
              _img(figures.get("loss_curves"), "validation loss curves")]
    if study.pareto:
        metrics = list(study.pareto[0]["values"])
        parts.append("<h2>Pareto front</h2>")
        parts.append(_table(["trial", *metrics],
                            [[str(m["trial"]), *(fmt(m["values"].get(k)) for k in metrics)] for m in study.pareto],
                            left=0))
    parts += _distill_section(study)
    if study.exports:
        parts.append("<h2>Exported models</h2>")
        metric = study.exports[0].get("metric", "accuracy")
        rows = []
        for e in study.exports:
            drop = float(e.get("drop", 0.0))
            flagged = over_max_drop(drop, float(e.get("max_drop", 1.0)))
            ci = e.get("drop_interval") or {}
            shown = f"{drop:+.4f}" + (f" [{float(ci['low']):+.4f}, {float(ci['high']):+.4f}]" if "low" in ci else "")
            name = str(e.get("format")) + (" sparse" if isinstance(e.get("sparsity"), dict) else "")  # pruned copy
            rows.append([escape(name), escape(str(e.get("file", "")).rsplit("/", 1)[-1]),
                         f"{float(e.get('size_bytes', 0)) / 1024:.1f} KiB", fmt(e.get("keras_value")),
                         fmt(e.get("tflite_value")),
                         f'<span class=flag>{shown} flagged</span>' if flagged else shown,
                         fmt(e.get("agreement")), f"{fmt(e.get('latency_ms_median'), 3)} ms",
                         str(e.get("samples", "-"))])
        parts.append(_table(["format", "file", "size", f"keras {metric}", f"tflite {metric}", "drop [95% CI]",
                             "agreement",
                             "latency p50", "test samples"], rows, left=2))
    failed = [t for t in study.trials if t.state == "FAIL"]
    if failed:
        parts.append("<h2>Failed trials</h2>")
        parts.append(_table(["trial", "reason"], [[str(t.number), escape(t.reason or "-")] for t in failed], left=0))
    parts.append("<h2>All trials</h2>")
    parts.append(_table(["trial", "state", study.metric, "best epoch", "seconds", "weights", *names],
                        _trial_rows(study, study.trials, names)))
    title = f"automl report: {escape(study.name)}"
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")
