"""The report's figures, drawn with matplotlib (Agg) and returned as PNG bytes: no JavaScript, no CDN."""

from __future__ import annotations

import io
import math
from typing import Any

from automl.report.collect import StudyData

_STATE_STYLE = {"COMPLETE": ("#1f77b4", "o"), "PRUNED": ("#ff7f0e", "x"), "FAIL": ("#d62728", "v")}


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _figure(width: float = 7.0, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def history(study: StudyData) -> bytes | None:
    """Each trial's value by trial number, and the best so far."""
    if not study.completed():
        return None
    fig, ax = _figure()
    for state, (color, marker) in _STATE_STYLE.items():
        points = [(t.number, t.value) for t in study.trials if t.state == state and t.value is not None]
        if points:
            ax.scatter(*zip(*points, strict=True), c=color, marker=marker, label=state.lower(), zorder=3)
    best_x, best_y, best = [], [], None
    pick = max if study.direction == "maximize" else min
    for t in study.trials:
        if t.state == "COMPLETE" and t.value is not None:
            best = t.value if best is None else pick(best, t.value)
        if best is not None:
            best_x.append(t.number)
            best_y.append(best)
    ax.step(best_x, best_y, where="post", color="#2ca02c", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(study.metric)
    ax.set_title("Optimization history")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def importances(scores: dict[str, float], metric: str) -> bytes | None:
    """Horizontal bars, most important on top."""
    if not scores:
        return None
    names = list(scores)[::-1]
    fig, ax = _figure(height=0.5 + 0.35 * len(names))
    ax.barh(names, [scores[n] for n in names], color="#1f77b4")
    ax.set_xlabel(f"importance for {metric}")
    ax.set_title("Parameter importances")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def learning_curves(study: StudyData, key: str | None = None) -> bytes | None:
    """The validation metric per epoch of every trial; the best trial drawn bold, pruned ones dashed."""
    key = key or study.metric
    curves = [t for t in study.trials if t.history.get(key)]
    if not curves:
        return None
    best = study.best()
    fig, ax = _figure()
    for t in curves:
        if best is not None and t.number == best.number:
            continue
        color, _ = _STATE_STYLE.get(t.state, ("#7f7f7f", "o"))
        ax.plot(range(len(t.history[key])), t.history[key], color=color if t.state != "COMPLETE" else "#9aa7b4",
                linestyle="--" if t.state == "PRUNED" else "-", linewidth=0.9, alpha=0.7)
    if best is not None and best.history.get(key):
        ax.plot(range(len(best.history[key])), best.history[key], color="#2ca02c", linewidth=2.2,
                label=f"best: trial {best.number}")
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.set_title(f"Learning curves ({key}; dashed: pruned)")
    ax.grid(alpha=0.3)
    return _png(fig)


def slices(study: StudyData, names: list[str]) -> bytes | None:
    """The value against each of ``names`` (the most important parameters), one panel each."""
    done = study.completed()
    names = [n for n in names if any(n in t.params for t in done)][:4]
    if not done or not names:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        points = [(t.params[name], t.value) for t in done if name in t.params]
        xs = [p[0] for p in points]
        numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
        if numeric:
            ax.scatter(xs, [p[1] for p in points], c="#1f77b4", s=18)
            positive = [float(x) for x in xs if float(x) > 0]
            if len(positive) == len(xs) and min(positive) > 0 and max(positive) / min(positive) >= 100:
                ax.set_xscale("log")
        else:
            labels = sorted({str(x) for x in xs})
            ax.scatter([labels.index(str(x)) for x in xs], [p[1] for p in points], c="#1f77b4", s=18)
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(study.metric)
    fig.suptitle("Value by parameter (completed trials)", fontsize=10)
    return _png(fig)


def finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]
