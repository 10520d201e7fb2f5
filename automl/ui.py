"""Terminal rendering: rich progress bars on a TTY, one line per trial otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from automl.progress import Progress as Observer


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


class RichProgress(Observer):
    """A study bar (trials, elapsed, ETA, best) with the running trial's epoch bar beneath it."""

    def __init__(self, console: Console, *, quiet: bool = False, verbose: bool = False) -> None:
        self.console, self.quiet, self.verbose = console, quiet, verbose
        self.live = console.is_terminal and not quiet
        self.bars: Progress | None = None
        self.best: float | None = None
        self.metric = ""

    def study_started(self, name: str, total: int, done_before: int, metric: str, direction: str) -> None:
        self.metric, self.total, self.started = metric, total, time.monotonic()
        if not self.quiet:
            resumed = f" (resuming: {done_before} earlier trials)" if done_before else ""
            self.console.print(f"study [bold]{name}[/]: {total} trials, {metric} ({direction}){resumed}")
        if self.live:
            self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                 console=self.console, transient=False)
            self.bars.start()
            self.study_task = self.bars.add_task("trials", total=total, info="best -")
            self.epoch_task = self.bars.add_task("  epochs", total=1, info="", visible=False)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        if self.bars:
            self.bars.update(self.epoch_task, description=f"  trial {number}", completed=0, visible=True, info="")
        if self.verbose:
            self.console.print(f"trial {number}: {params}")

    def epoch_ended(self, number: int, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        if self.bars:
            shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k in ("loss", "val_loss", self.metric))
            self.bars.update(self.epoch_task, total=epochs, completed=epoch + 1, info=shown)

    def trial_ended(self, number: int, state: str, value: float | None, best: float | None,
                    reason: str | None, seconds: float) -> None:
        self.best = best
        if self.bars:
            self.bars.update(self.study_task, advance=1, info=f"best {self.metric}={_fmt(best)}")
            self.bars.update(self.epoch_task, visible=False)
        line = f"trial {number:>3} {state:<8} {self.metric}={_fmt(value)}  best={_fmt(best)}  {seconds:.1f}s"
        if reason and state != "COMPLETE":
            line += f"  ({reason})"
        if self.live:
            self.bars.console.print(line) if self.bars and (self.verbose or state != "COMPLETE") else None
        elif not self.quiet:
            print(line, flush=True)

    def study_ended(self) -> None:
        if self.bars:
            self.bars.stop()
            self.bars = None


def summary_table(result: Any, top: int = 5) -> Table:
    """The top trials of a study, best first."""
    done = [t for t in result.trials if t.state == "COMPLETE" and t.value is not None]
    done.sort(key=lambda t: t.value, reverse=result.direction == "maximize")
    table = Table(title=f"{result.study_name}: top trials by {result.metric}")
    table.add_column("trial", justify="right")
    table.add_column(result.metric, justify="right")
    table.add_column("params")
    for t in done[:top]:
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
        table.add_row(str(t.number), _fmt(t.value), params)
    return table


def stderr_console() -> Console:
    return Console(file=sys.stderr)
