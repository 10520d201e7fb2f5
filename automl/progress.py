"""What a study tells whoever watches it (the CLI's rich bars, a log, nothing)."""

from __future__ import annotations

from typing import Any


class Progress:
    """No-op observer; the CLI subclasses it to draw bars or print lines."""

    def study_started(self, name: str, total: int, done_before: int, metric: str, direction: str) -> None:
        pass

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        pass

    def epoch_ended(self, number: int, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        pass

    def trial_ended(self, number: int, state: str, value: float | None, best: float | None,
                    reason: str | None, seconds: float) -> None:
        pass

    def study_ended(self) -> None:
        pass
