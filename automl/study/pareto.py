"""A multi-objective study's ``pareto.json`` and its plot; the dominance itself is :mod:`automl.engines.pareto`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automl.engines.base import TrialRecord
from automl.states import TrialState


def describe(trials: Sequence[TrialRecord], objectives: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """``pareto.json``: each Pareto trial's number, parameters, objective values (validation split) and measured
    size, latency and parameter count."""
    return [{"trial": t.number, "params": dict(t.params),
             "values": dict(zip([m for m, _ in objectives], t.values or [float(t.value or 0.0)], strict=True)),
             # what --pick budgets may name besides the objectives
             "measured": {k: v for k, v in (("params_count", t.attrs.get("n_params")),
                                             *((m, t.attrs.get(m)) for m in MEASURED_ATTRS)) if v is not None}}
            for t in trials]


#: the trial attributes of a measured model (automl.tflite.measure)
MEASURED_ATTRS = ("tflite_kib", "tflite_latency_ms", "tflite_latency_cv")


def plot(trials: Sequence[TrialRecord], members: Sequence[TrialRecord],
         objectives: Sequence[tuple[str, str]]) -> bytes | None:
    """The completed trials on the first two objectives, the Pareto front joined by a line (PNG bytes); None
    without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    import io

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    (mx, _), (my, _) = objectives[0], objectives[1]
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    others = [t for t in done if t not in members]
    ax.scatter([t.values[1] for t in others if t.values], [t.values[0] for t in others if t.values],
               c="#9e9e9e", label="dominated or infeasible")
    ordered = sorted(members, key=lambda t: (t.values or [0.0, 0.0])[1])
    ax.plot([t.values[1] for t in ordered if t.values], [t.values[0] for t in ordered if t.values], "o-",
            c="#1f77b4", label="Pareto front")
    for t in ordered:
        if t.values:
            ax.annotate(str(t.number), (t.values[1], t.values[0]), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel(my)
    ax.set_ylabel(mx)
    ax.legend()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


__all__ = ["MEASURED_ATTRS", "describe", "plot"]
