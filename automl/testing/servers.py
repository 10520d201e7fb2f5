"""Real servers for tests: a PostgreSQL cluster in a temporary folder and an ``mlflow server``.

Both listen on a free loopback port and are stopped (their whole process group) when the ``with`` block ends.
PostgreSQL refuses to run as root, so under root the cluster belongs to ``nobody`` (uid 65534) and
``initdb`` / ``pg_ctl`` run as that user through ``setpriv``.

>>> with postgres() as pg, mlflow_server() as mlflow:  # doctest: +SKIP
...     url = pg.create_database("study")   # postgresql+psycopg2://automl:...@127.0.0.1:PORT/study
...     mlflow.url                          # http://127.0.0.1:PORT
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from automl.tracking.server import MlflowServer, free_port

USER = "automl"
PASSWORD = "pg-secret-5f3a"  # noqa: S105 - a throwaway cluster's password, tests look for it in logs
NOBODY = 65534


class Unavailable(RuntimeError):
    """This machine cannot run the server (no PostgreSQL binaries); tests skip with the reason."""


def postgres_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH (behind a link), else Debian's newest
    ``/usr/lib/postgresql/<version>/bin``; None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in
                                                                                p.split("/")[-2].split(".")
                                                                                if x.isdigit()], reverse=True):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    return None


@dataclass
class Postgres:
    """A running PostgreSQL cluster: superuser :data:`USER` with :data:`PASSWORD` over TCP (scram-sha-256),
    trusted on its Unix socket in ``folder``."""

    folder: Path
    bin: Path
    port: int
    host: str = "127.0.0.1"

    def url(self, database: str, *, password: str = PASSWORD) -> str:
        return f"postgresql+psycopg2://{USER}:{password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Make database ``name`` and return its URL (with the password, as a user would write it)."""
        _as_owner([str(self.bin / "createdb"), "-h", str(self.folder), "-p", str(self.port), "-U", USER, name],
                  self.folder)
        return self.url(name)


def _as_owner(command: list[str], folder: Path, timeout: float = 60) -> None:
    """Run ``command`` as the cluster's owner (nobody under root); raise Unavailable with its output on failure."""
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if os.geteuid() == 0 else []
    done = subprocess.run(prefix + command, cwd=folder, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "LC_ALL": "C"})
    if done.returncode != 0:
        raise Unavailable(f"{Path(command[0]).name} exited with {done.returncode}: "
                          f"{(done.stdout + done.stderr).strip()[-1500:]}")


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A fresh PostgreSQL cluster in a temporary folder, on a free loopback port; removed afterwards.

    Raises :class:`Unavailable` when PostgreSQL is not installed or cannot start here.
    """
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise Unavailable("PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin); "
                          ".ci/run installs it with apt-get")
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        raise Unavailable("running as root without setpriv: PostgreSQL refuses to run as root")
    # /tmp, not pytest's tmp_path: nobody must reach the folder, and a socket path has at most 107 bytes
    folder = Path(tempfile.mkdtemp(prefix="automl-pg-"))
    started = False
    try:
        if os.geteuid() == 0:
            os.chown(folder, NOBODY, NOBODY)
        pwfile = folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, NOBODY, NOBODY)
        _as_owner([str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", USER, f"--pwfile={pwfile}",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "--no-locale", "-E", "UTF8", "--no-sync"],
                  folder)
        port = free_port()
        options = f"-k {folder} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _as_owner([str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "server.log"), "-w",
                   "-t", "60", "-o", options, "start"], folder, timeout=90)
        started = True
        yield Postgres(folder=folder, bin=bin_dir, port=port)
    finally:
        if started:
            try:
                _as_owner([str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "-w", "stop"],
                          folder)
            except (Unavailable, subprocess.TimeoutExpired):
                _kill_postmaster(folder / "data")
        shutil.rmtree(folder, ignore_errors=True)


def _kill_postmaster(data: Path) -> None:
    """SIGKILL the server whose pid ``postmaster.pid`` names (pg_ctl could not stop it)."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


@contextmanager
def mlflow_server() -> Iterator[MlflowServer]:
    """``mlflow server`` on a free loopback port: a SQLite backend store and ``--artifacts-destination`` in a
    temporary folder (clients upload artifacts through the server); its process group is stopped afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="automl-mlflow-"))
    try:
        (folder / "mlflow.db").touch()  # MlflowServer serves an existing store: it makes the tables first
        with MlflowServer(f"sqlite:///{folder / 'mlflow.db'}", port=0, artifacts=folder / "artifacts",
                          log=folder / "server.log") as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


__all__ = ["PASSWORD", "USER", "Postgres", "Unavailable", "mlflow_server", "postgres", "postgres_bin"]
