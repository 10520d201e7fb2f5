"""Ctrl-C and SIGTERM as a flag that the study acts on at safe points, never an exception from nowhere.

A handler that raises (Python's own for SIGINT) can fire inside a garbage-collector callback, where Python
prints "Exception ignored in ..." and the signal is lost: the study then ran to its end. Here the first
SIGINT or SIGTERM only records itself; the study checks at safe points (every epoch's end, between trials,
between the final stage's steps) and stops there, ending every run KILLED. A second signal stops at once
(:class:`Interrupted` from the handler), except inside :func:`deferred` blocks, which close the runs.

>>> with handling():
...     requested() is None
True
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_REASONS: dict[int, str] = {signal.SIGINT: "interrupted by the user (Ctrl-C)",
                            signal.SIGTERM: "terminated (SIGTERM)"}
_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(KeyboardInterrupt):
    """The study was asked to stop (by :func:`check` at a safe point, or by a second signal)."""


class _State:
    received: int | None = None  # the first signal's number
    count = 0
    depth = 0  # nested handling() blocks
    deferring = 0  # nested deferred() blocks
    held = False  # hold(): record-only handlers until the process exits
    previous: dict[int, Any] = {}


_state = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    _state.count += 1
    if _state.received is None:
        _state.received = signum
        return
    if not _state.deferring:  # the second one: stop now
        raise Interrupted(reason())


@contextmanager
def handling() -> Iterator[None]:
    """Install the flag handlers for SIGINT and SIGTERM while the block runs (main thread only; nested blocks
    share the outer one's), then put back what was there."""
    main = threading.current_thread() is threading.main_thread()
    if main and _state.depth == 0:
        _state.received, _state.count = None, 0
        _state.previous = {sig: signal.signal(sig, _handler) for sig in _REASONS}
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if main and _state.depth == 0:
            if not _state.held:
                for sig, old in _state.previous.items():
                    signal.signal(sig, old)
            _state.previous = {}


def hold() -> None:
    """From now until the process exits, SIGINT and SIGTERM are ignored (for the command line, once the work is
    done and every run closed; the first signal is already recorded for the exit code): printing the summary
    and exiting must not be cut short by a traceback or by the default handler's kill (exit -2 instead of 130).

    Ignored, not caught: at shutdown Python puts SIG_DFL back for every signal that has a Python handler
    (``_PySignal_Fini``), and a second Ctrl-C in the rest of the interpreter's finalization then killed the
    process with -2; an ignored signal stays ignored to the end."""
    if threading.current_thread() is threading.main_thread():
        _state.held = True
        for sig in _REASONS:
            signal.signal(sig, signal.SIG_IGN)


@contextmanager
def deferred() -> Iterator[None]:
    """A block that must finish (closing runs after a stop): a signal meanwhile is only recorded."""
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1


def requested() -> str | None:
    """Why the study was asked to stop ("interrupted by the user (Ctrl-C)", "terminated (SIGTERM)"), or None."""
    return reason() if _state.received is not None else None


def forced() -> bool:
    """Whether a second signal came: stop without the final stage's model work."""
    return _state.count > 1


def reason() -> str:
    return _REASONS.get(signal_number(), "interrupted")


def signal_number() -> int:
    """The first signal's number (SIGINT when none came)."""
    return _state.received or int(signal.SIGINT)


def exit_code() -> int:
    """130 after Ctrl-C, 143 after SIGTERM (128 + the signal's number, as shells report it)."""
    return _CODES.get(signal_number(), 130)


def check() -> None:
    """A safe point: raise :class:`Interrupted` when a stop was requested."""
    if _state.received is not None:
        raise Interrupted(reason())


def request(signum: int = signal.SIGINT) -> None:
    """Record a stop as a signal would (a worker told by its parent, a test)."""
    _handler(signum, None)


__all__ = ["Interrupted", "check", "deferred", "exit_code", "forced", "handling", "reason", "request",
           "requested"]
