"""Small text helpers shared by error messages."""

from __future__ import annotations

import difflib
import math
import reprlib
from collections.abc import Iterable
from itertools import islice
from typing import Any

# Errors quote at most this many characters of a received value: a 1 MB string in a file must still give a
# one-line error.
SHOWN_CHARS = 200
# did-you-mean compares words of at most this length (difflib is quadratic in the longer word).
_MATCHED_CHARS = 100
# bits of the largest integer quoted in full (about 180 digits); str() of a much larger one raises anyway
_SHOWN_BITS = 600


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text``, cut to ``limit`` characters and marked with "..." when it was longer."""
    return text if len(text) <= limit else f"{text[:limit]}..."


def _show_int(value: int) -> str:
    if value.bit_length() <= _SHOWN_BITS:
        return str(value)
    return f"an integer of about {math.floor(value.bit_length() * math.log10(2)) + 1} digits"


class _Short(reprlib.Repr):
    """``repr`` of a container with few items per level and few levels, so that a value with shared parts
    (YAML aliases) or a huge one costs little to show."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdict = 8
        self.maxstring = self.maxother = 60
        self.maxlong = 60

    def repr_int(self, x: int, level: int) -> str:
        return _show_int(x) if x.bit_length() > _SHOWN_BITS else super().repr_int(x, level)

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        # reprlib sorts the keys; the user wrote them in an order, keep it
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}" for k, v in islice(x.items(), self.maxdict)]
        return "{" + ", ".join(items + (["..."] if len(x) > self.maxdict else [])) + "}"


_short = _Short()


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    word = word if isinstance(word, str) else show(word)
    if len(word) > _MATCHED_CHARS:
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def show(value: Any) -> str:
    """Render a received value the way error messages quote it: at most about 200 characters of it.

    >>> show("lr"), show(1e-3), show([1, 2]), show("x" * 1000)[-17:]
    ("'lr'", '0.001', '[1, 2]', '(1000 characters)')
    """
    if isinstance(value, str):
        text = repr(value[:SHOWN_CHARS])
        if len(value) <= SHOWN_CHARS and len(text) <= SHOWN_CHARS + 2:
            return text
        return f"{text[:SHOWN_CHARS]}... ({len(value)} characters)"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return _show_int(value)
    if isinstance(value, list | tuple | dict | set | frozenset):
        return clip(_short.repr(value))
    return clip(str(value))


def one_of(word: str, choices: Iterable[str], what: str) -> str:
    """``unknown sampler 'tpee'; did you mean 'tpe'? (choices: grid, random, tpe)``."""
    choices = sorted(str(c) for c in choices)
    return f"unknown {what} {show(word)}{did_you_mean(word, choices)} (choices: {', '.join(choices)})"


def first_line(exc: BaseException, limit: int | None = None, *, typed: bool = False) -> str:
    """The one-line form of ``exc`` every message quotes: the first line of its text (stripped), cut at ``limit``
    characters; its type's name when it has no text. ``typed``: after its type's name.

    >>> first_line(ValueError("bad value\\nmore detail")), first_line(KeyError(), typed=True)
    ('bad value', 'KeyError')
    >>> first_line(OSError("  disk full  "), 4, typed=True)
    'OSError: disk'
    """
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    line = text.splitlines()[0][:limit]
    return f"{type(exc).__name__}: {line}" if typed else line
