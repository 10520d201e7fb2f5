"""Small text helpers shared by error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def show(value: Any) -> str:
    """Render a received value the way error messages quote it."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def one_of(word: str, choices: Iterable[str], what: str) -> str:
    """``unknown sampler 'tpee'; did you mean 'tpe'? (choices: grid, random, tpe)``."""
    choices = sorted(str(c) for c in choices)
    return f"unknown {what} {show(word)}{did_you_mean(word, choices)} (choices: {', '.join(choices)})"
