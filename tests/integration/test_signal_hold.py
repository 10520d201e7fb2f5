"""signals.hold: once the command line's study has ended, SIGINT/SIGTERM are only recorded until it exits."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = """
import os, signal
from automl import signals
with signals.handling():
    {body}
os.kill(os.getpid(), signal.SIGINT)
os.kill(os.getpid(), signal.SIGINT)
print("alive", signals.requested(), signals.exit_code())
"""


@pytest.mark.parametrize("held", [True, False])
def test_after_hold_signals_are_only_recorded(held: bool) -> None:
    body = "signals.hold()" if held else "pass"
    done = subprocess.run([sys.executable, "-c", CODE.format(body=body)], capture_output=True, text=True,
                          timeout=300)
    if held:  # the handlers stay after the block: neither a KeyboardInterrupt nor the default kill
        assert done.returncode == 0, done.stderr[-1000:]
        assert "alive interrupted by the user (Ctrl-C) 130" in done.stdout
    else:  # without hold the block puts Python's handler back: the first signal raises KeyboardInterrupt
        assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr
