"""One formatter of an exception's first line (automl._text.first_line) for every message that quotes one."""

from __future__ import annotations

import pytest

from automl._text import first_line


@pytest.mark.parametrize(("exc", "limit", "typed", "shown"), [
    (ValueError("bad value\nTraceback detail"), None, False, "bad value"),
    (ValueError("bad value\nTraceback detail"), None, True, "ValueError: bad value"),
    (OSError("\n  disk full  \n"), None, True, "OSError: disk full"),  # stripped before the first line
    (RuntimeError("x" * 500), 300, True, "RuntimeError: " + "x" * 300),  # the limit cuts the text, not the type
    (KeyError(), 200, True, "KeyError"),  # no text: the type alone
    (TimeoutError("   "), None, False, "TimeoutError"),
])
def test_first_line(exc: BaseException, limit: int | None, typed: bool, shown: str) -> None:
    assert first_line(exc, limit, typed=typed) == shown


def test_the_fail_reason_of_a_trial_is_its_first_line() -> None:
    from automl.study.loop import reason

    assert reason(MemoryError("out of memory\nat line 3")) == "MemoryError: out of memory"
