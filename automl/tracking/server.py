"""The MLflow UI on the project's store: a real ``mlflow server`` child process on 127.0.0.1.

>>> with MlflowServer("sqlite:///mlruns/mlflow.db", port=0) as server:  # doctest: +SKIP
...     print(server.url, server.experiment_url("quickstart"))
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from automl.errors import AutomlError
from automl.store.access import redact
from automl.tracking.mlflow import tracking_uri


class ServerError(AutomlError):
    """The MLflow server could not start (port taken, store unreadable) or stopped early."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex((host, port)) == 0


class MlflowServer:
    """``mlflow server`` on ``store`` (default: the project's sqlite store), started by :meth:`start`.

    Artifacts: experiments made by ``automl run`` keep their artifacts under ``mlruns/artifacts/`` and the
    server reads them there; anything created through the UI goes to the same folder. ``port=0`` picks a
    free port.
    """

    def __init__(self, store: str | None = None, *, port: int = 5000, host: str = "127.0.0.1",
                 artifacts: str | Path | None = None, log: str | Path | None = None) -> None:
        self.store = tracking_uri(store)
        if not self.store.startswith("sqlite:///") and "://" not in self.store:
            raise ServerError(f"--tracking-uri must be a database URL (sqlite:///...), got {redact(self.store)}")
        self.host = host
        self.port = port or free_port(host)
        default_artifacts = (Path(self.store[len("sqlite:///"):]).parent / "artifacts"
                             if self.store.startswith("sqlite:///") else Path("mlruns/artifacts"))
        self.artifacts = Path(artifacts or default_artifacts).resolve()
        self.log_path = Path(log) if log else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.store,
                "--artifacts-destination", self.artifacts.as_uri(), "--host", self.host, "--port", str(self.port),
                "--workers", "1"]

    def start(self, timeout: float = 120.0) -> MlflowServer:
        """Start the server and wait until ``/health`` answers; raises :class:`ServerError` otherwise."""
        if port_in_use(self.port, self.host):
            raise ServerError(f"port {self.port} on {self.host} is in use: pass --port N (another port) or "
                              "stop what listens there")
        if self.store.startswith("sqlite:///"):
            db = Path(self.store[len("sqlite:///"):])
            if not db.exists():
                raise ServerError(f"no MLflow store at {db}: run `automl run PIPELINE` first, or pass "
                                  "--tracking-uri")
            from mlflow import MlflowClient

            from automl.store.access import retrying, store_lock

            # a study creating the store at this moment finishes its schema first (the server would migrate too)
            with store_lock(self.store):
                retrying(lambda: MlflowClient(tracking_uri=self.store).search_experiments(max_results=1))
        self.artifacts.mkdir(parents=True, exist_ok=True)
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONUNBUFFERED": "1"}
        out: Any = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        # its own session: the terminal's Ctrl-C reaches us, and we stop the server and its workers
        self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        if out is not subprocess.DEVNULL:
            out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path else ""
                raise ServerError(f"mlflow server exited with code {self.process.returncode} before it was "
                                  f"ready{': ' + tail if tail else ''}")
            if self._healthy():
                return self
            time.sleep(0.25)
        self.stop()
        raise ServerError(f"mlflow server did not answer on {self.url} within {timeout:.0f} s")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group, SIGKILL it if it lingers; safe to call twice."""
        p, self.process = self.process, None
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout)
        except ProcessLookupError:
            pass

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def api(self, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST (GET when ``body`` is None) to ``/api/2.0/mlflow/<endpoint>`` and decode the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/api/2.0/mlflow/{endpoint}", data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            answer: dict[str, Any] = json.loads(r.read() or b"{}")
            return answer

    def experiment_id(self, name: str) -> str | None:
        try:
            found = self.api(f"experiments/get-by-name?experiment_name={urllib.parse.quote(name)}")
        except urllib.error.HTTPError:
            return None
        return str(found["experiment"]["experiment_id"])

    def runs_url(self, experiment_id: str) -> str:
        """The runs page of an experiment in the UI's "model training" mode (MLflow 3 opens in GenAI mode)."""
        return f"{self.url}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"

    def experiment_url(self, name: str) -> str | None:
        """The runs page of the experiment (= study) ``name``, or None when the store has no such experiment."""
        found = self.experiment_id(name)
        return None if found is None else self.runs_url(found)

    def __enter__(self) -> MlflowServer:
        return self.start() if self.process is None else self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


__all__ = ["MlflowServer", "ServerError", "free_port", "port_in_use"]
