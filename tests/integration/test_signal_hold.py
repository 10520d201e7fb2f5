"""signals.hold: once the command line's study has ended, SIGINT/SIGTERM cannot cut its exit short."""

from __future__ import annotations

import subprocess
import sys

import pytest

from automl.testing import default_sigint

CODE = """
import builtins, os, signal
from automl import signals
with signals.handling():
    os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C, during the study: recorded
    {body}
os.kill(os.getpid(), signal.SIGINT)
os.kill(os.getpid(), signal.SIGTERM)
print("alive", signals.requested(), signals.exit_code(), flush=True)

class Late:  # runs in the interpreter's finalization, after Python has put SIG_DFL back for its own handlers
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        os.write(1, b"finalized\\n")

builtins._late = Late()
"""


@pytest.mark.parametrize("held", [True, False])
def test_after_hold_signals_neither_raise_nor_kill_until_the_exit(held: bool) -> None:
    body = "signals.hold()" if held else "pass"
    done = subprocess.run([sys.executable, "-c", CODE.format(body=body)], capture_output=True, text=True,
                          timeout=300, preexec_fn=default_sigint)  # as from a terminal, also under `cmd &`
    if held:  # neither a KeyboardInterrupt, nor the default kill (exit -2), even during finalization
        assert done.returncode == 0, done.stderr[-1000:]
        assert "alive interrupted by the user (Ctrl-C) 130" in done.stdout
        assert "finalized" in done.stdout
    else:  # without hold the block puts Python's handler back: the next signal raises KeyboardInterrupt
        assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr
