"""No password printed (issue 26, item 1): a tracking URI or storage with a password, reachable or not, is shown
masked in every line automl or a library writes, and a tracking server that is not there is one line after a
bounded wait, not minutes of retries and tracebacks."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from automl.store.access import scrub
from automl.testing import write_pipeline

SECRET = "S3cr3tPw"


def _automl(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "automl.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def _closed_port() -> int:
    with socket.socket() as s:  # bound, then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def refusing_server() -> Iterator[str]:
    """An HTTP server that answers every request 401 (a tracking server behind a login the URI gets wrong)."""

    class Handler(BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            self.send_response(401)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"You are not authenticated.")

        do_GET = do_POST = _refuse  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://automl:{SECRET}@127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.fresh_folder  # it checks what is (not) written into a fresh folder
def test_an_unreachable_tracking_server_is_one_masked_line_and_leaves_nothing(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 1}, train={"epochs": 1})
    uri = f"http://user:{SECRET}@127.0.0.1:{_closed_port()}"
    result = _automl(tmp_path, "run", str(path), "--tracking-uri", uri, env={"AUTOML_TRACKING_TIMEOUT": "1"})
    assert result.returncode == 2, result.stderr
    assert SECRET not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("http://user:***@127.0.0.1:"), result.stderr
    assert "no MLflow tracking server answered within 1 s (connection refused)" in lines[0]
    assert not (tmp_path / "mlruns").exists()  # refused before any store was made


def test_a_server_that_refuses_the_login_is_one_masked_line(tmp_path: Path, refusing_server: str) -> None:
    path = write_pipeline(tmp_path, study={"trials": 1}, train={"epochs": 1})
    for verb in (["run", str(path)], ["report", str(path)]):
        result = _automl(tmp_path, *verb, "--tracking-uri", refusing_server)
        assert result.returncode == 2, (verb, result.stderr)
        assert SECRET not in result.stdout + result.stderr, verb
        assert len(result.stderr.strip().splitlines()) == 1 and ":***@" in result.stderr, (verb, result.stderr)


def test_a_storage_that_is_no_url_is_masked_and_refused(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 1}, train={"epochs": 1})
    result = _automl(tmp_path, "run", str(path), "--storage", f"notaurl:{SECRET}")
    assert result.returncode == 2, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert result.stderr.strip() == ("--storage: notaurl:***: not a database URL: write sqlite:///PATH.db or "
                                     "postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE")


def test_a_bad_tracking_timeout_is_one_line(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 1}, train={"epochs": 1})
    result = _automl(tmp_path, "run", str(path), "--tracking-uri", "http://127.0.0.1:1",
                     env={"AUTOML_TRACKING_TIMEOUT": "soon"})
    assert result.returncode == 2
    assert result.stderr.strip() == "AUTOML_TRACKING_TIMEOUT: must be a number of seconds > 0, got 'soon'"


def test_log_lines_of_any_library_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    import automl  # noqa: F401  (installs the scrubbing record factory)

    with caplog.at_level(logging.WARNING):
        logging.getLogger("mlflow.utils.rest_utils").warning(
            "API request to %s failed", f"http://user:{SECRET}@host:5000/api/2.0/mlflow/runs/create")
    assert SECRET not in caplog.text and "http://user:***@host:5000/api" in caplog.text


def test_scrub_masks_every_url_in_a_traceback_and_keeps_placeholders() -> None:
    text = (f"MlflowException: API request to http://u:{SECRET}@h/api failed\n"
            f"  while opening postgresql+psycopg2://a:{SECRET}@db/x?password={SECRET}\n"
            "write postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE")
    out = scrub(text)
    assert SECRET not in out
    assert "http://u:***@h/api" in out and "USER:PASSWORD@HOST" in out
