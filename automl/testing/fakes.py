"""Deterministic fakes for fast unit tests (the real engines are tested in tests/engines)."""

from __future__ import annotations

from typing import Any


class FirstChoiceSuggester:
    """Takes the low end of every range and the first (or a forced) choice; records what it was asked."""

    def __init__(self, force: dict[str, Any] | None = None) -> None:
        self.force = force or {}
        self.asked: list[str] = []

    def _pick(self, name: str, default: Any) -> Any:
        self.asked.append(name)
        return self.force.get(name, default)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return int(self._pick(name, low))

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return float(self._pick(name, low))

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return self._pick(name, choices[0])


class PruneAfter:
    """A reporter that asks to prune once ``epochs`` epochs were reported."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.reported: list[tuple[int, float]] = []

    def report(self, epoch: int, value: float, metrics: dict[str, float]) -> None:
        self.reported.append((epoch, value))

    def should_prune(self) -> bool:
        return len(self.reported) >= self.epochs
