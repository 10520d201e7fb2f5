"""The terminal view of a study (the MLflow UI of ``automl ui`` is another thing: :mod:`automl.tracking`).

On a terminal: a study bar (trials done/total, elapsed, ETA, best so far) and beneath it the running
trial's epoch bar with its live metrics; a line is printed above the bars for each new best and each failed
trial (every trial, with its parameters, with ``verbose``). Elsewhere: one line per trial (plus one per epoch
with ``verbose``). ``quiet``: nothing; the caller prints the final summary.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from automl.progress import Progress as Observer
from automl.states import TrialState


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _clock(seconds: float | None) -> str:
    """``3725.2`` -> ``1:02:05``; None -> ``-:--:--``."""
    if seconds is None or not math.isfinite(seconds):
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class RichProgress(Observer):
    """Draws a study for a person (rich bars) or a log (lines); see the module docstring.

    ``live`` forces bars on or off; by default they are drawn when ``console`` is a terminal.
    """

    def __init__(self, console: Console, *, quiet: bool = False, verbose: bool = False,
                 live: bool | None = None) -> None:
        self.console, self.quiet, self.verbose = console, quiet, verbose
        self.live = (console.is_terminal if live is None else live) and not quiet
        self.bars: Progress | None = None
        self.name, self.metric, self.total = "", "", 0
        self.best: float | None = None
        self.best_trial: int | None = None
        self.states: dict[str, int] = {}
        self.durations: list[float] = []
        self.started = self.trial_started_at = time.monotonic()
        self.running: int | None = None
        self.epoch_seconds: list[float] = []
        self._epoch_at = 0.0
        self._study_task = self._epoch_task = TaskID(0)

    # -- what the study calls -------------------------------------------------------------------------
    def study_started(self, name: str, total: int, done_before: int, metric: str, direction: str) -> None:
        # the trials' values are the first objective's (a multi-objective study names all of them, " / ")
        self.name, self.metric, self.total, self.started = name, metric.split(" / ")[0], total, time.monotonic()
        self.best, self.best_trial, self.states, self.durations = None, None, {}, []
        resumed = f" (resuming: {done_before} earlier trials)" if done_before else ""
        self._say(f"study {name}: {total} trials, {metric} ({direction}){resumed}")
        if self.live:
            self.bars = Progress(TextColumn("{task.description}"), BarColumn(bar_width=28), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
                                 TextColumn("{task.fields[info]}"), console=self.console, transient=False)
            self.bars.start()
            self._study_task = self.bars.add_task(f"[bold]{name}[/]", total=total, eta="ETA -:--:--",
                                                  info="best -")
            self._epoch_task = self.bars.add_task("", total=1, eta="", info="", visible=False)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.running, self.trial_started_at = number, time.monotonic()
        self._epoch_at, self.epoch_seconds = self.trial_started_at, []
        if self.bars:
            self.bars.reset(self._epoch_task, total=None, description=f"  trial {number}", visible=True, eta="",
                            info="building")
        if self.verbose:
            self._say(f"trial {number} params: {_params(params)}")

    def epoch_ended(self, number: int, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        now = time.monotonic()
        self.epoch_seconds.append(now - self._epoch_at)
        self._epoch_at = now
        shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if self.verbose or k in self._shown_keys())
        if self.bars:
            # the first epoch carries the graph tracing: estimate from the later ones when there are any
            per_epoch = self.epoch_seconds[1:] or self.epoch_seconds
            left = (epochs - epoch - 1) * sum(per_epoch) / len(per_epoch)
            # (with study.workers > 1 the bar follows whichever trial reported last)
            self.bars.update(self._epoch_task, total=epochs, completed=epoch + 1, info=shown,
                             eta=f"ETA {_clock(left)}", description=f"  trial {number}")
            self.bars.update(self._study_task, eta=f"ETA {_clock(self.eta())}")
            self.bars.refresh()  # show each epoch as it ends, not at the next 10 Hz tick
        elif self.verbose:
            self._say(f"  trial {number} epoch {epoch + 1}/{epochs} {shown}")

    def trial_ended(self, number: int, state: str, value: float | None, best: float | None,
                    reason: str | None, seconds: float) -> None:
        self.running = None
        self.durations.append(seconds)
        self.states[state] = self.states.get(state, 0) + 1
        improved = state == TrialState.COMPLETE and best is not None and value == best and best != self.best
        if improved:
            self.best_trial = number
        self.best = best
        done = len(self.durations)
        line = (f"[{done:>{len(str(self.total))}}/{self.total}] trial {number:>3} {state:<8} "
                f"{self.metric}={_fmt(value)}  best={_fmt(best)}{' *' if improved else '  '}  {seconds:.1f}s")
        if reason and state != TrialState.COMPLETE:
            line += f"  ({reason})"
        if self.bars:
            self.bars.update(self._study_task, completed=done, eta=f"ETA {_clock(self.eta())}",
                             info=self._best_info())
            self.bars.update(self._epoch_task, visible=False)
            if self.verbose or improved or state == TrialState.FAIL:
                self.bars.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            self._say(f"{line}  eta {_clock(self.eta())}" if done < self.total else line)

    def study_ended(self) -> None:
        if self.bars:
            self.bars.update(self._epoch_task, visible=False)
            self.bars.stop()
            self.bars = None
        if not self.durations:
            return
        counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(self.states.items()))
        best = "" if self.best is None else f"; best {self.metric}={_fmt(self.best)}" + (
            f" (trial {self.best_trial})" if self.best_trial is not None else "")
        self._say(f"study {self.name}: {len(self.durations)} trials in {_clock(time.monotonic() - self.started)} "
                  f"({counts}){best}")

    def note(self, text: str) -> None:  # shown even with --quiet: it says what was healed or rebuilt
        target = self.bars.console if self.bars else self.console
        target.print(f"note: {text}", markup=False, highlight=False, soft_wrap=True)

    def warning(self, text: str) -> None:  # shown even with --quiet
        target = self.bars.console if self.bars else self.console
        target.print(f"warning: {text}", markup=False, highlight=False, soft_wrap=True)

    # -- helpers ----------------------------------------------------------------------------------------
    def eta(self) -> float | None:
        """Seconds left: mean trial time of this session times the trials left, less the running one's age."""
        if not self.durations:
            return None
        left = max(0, self.total - len(self.durations))
        running = time.monotonic() - self.trial_started_at if self.running is not None else 0.0
        return max(0.0, left * sum(self.durations) / len(self.durations) - running)

    def _shown_keys(self) -> tuple[str, ...]:
        train = self.metric[4:] if self.metric.startswith("val_") else self.metric
        return ("loss", "val_loss", train, self.metric)

    def _best_info(self) -> str:
        text = f"best {self.metric}={_fmt(self.best)}"
        if self.best_trial is not None:
            text += f" (trial {self.best_trial})"
        other = [f"{n} {s.lower()}" for s, n in sorted(self.states.items()) if s != TrialState.COMPLETE]
        return text + (f"  [{', '.join(other)}]" if other else "")

    def _say(self, text: str) -> None:
        if self.quiet:
            return
        target = self.bars.console if self.bars else self.console
        target.print(text, markup=False, highlight=False, soft_wrap=True)


def summary_table(result: Any, top: int = 5) -> Table:
    """The top trials of a study, best first."""
    done = [t for t in result.trials if t.state == TrialState.COMPLETE and t.value is not None]
    done.sort(key=lambda t: t.value, reverse=result.direction == "maximize")
    table = Table(title=f"{result.study_name}: top trials by {result.metric}")
    table.add_column("trial", justify="right")
    table.add_column(result.metric, justify="right")
    table.add_column("params")
    for t in done[:top]:
        table.add_row(str(t.number), _fmt(t.value), _params(t.params))
    states = [t.state for t in result.trials]
    others = [f"{states.count(s)} {s.lower()}" for s in (TrialState.PRUNED, TrialState.FAIL) if states.count(s)]
    table.caption = f"{len(states)} trials in the study" + (f" ({', '.join(others)})" if others else "")
    return table


def pareto_table(result: Any) -> Table:
    """The Pareto front of a multi-objective study (validation values), best first objective first."""
    metrics = [m for m, _ in result.objectives]
    first = result.objectives[0][1] == "maximize"
    table = Table(title=f"{result.study_name}: Pareto front ({len(result.pareto)} trials)")
    table.add_column("trial", justify="right")
    for metric in metrics:
        table.add_column(metric, justify="right")
    table.add_column("params")
    for member in sorted(result.pareto, key=lambda m: m["values"][metrics[0]], reverse=first):
        table.add_row(str(member["trial"]), *(f"{member['values'][m]:.4g}" for m in metrics),
                      _params(member["params"]))
    plan = getattr(result, "plan", None)
    where = f"{plan.folder.trials_dir}/" if plan is not None else "the study folder's trials/"
    kept = ", ".join(f"{m['trial']}.keras" for m in sorted(result.pareto, key=lambda m: m["trial"])[:8])
    more = f" and {len(result.pareto) - 8} more" if len(result.pareto) > 8 else ""
    table.caption = f"models kept in {where}: {kept}{more}; pareto.json on the parent run"
    return table


def stderr_console() -> Console:
    return Console(file=sys.stderr)
