"""deploy/: the compose file and the Kubernetes manifests load as YAML with the keys they need, and the image
installs automl with the README's install line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


def _manifests(repo: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Every document of deploy/k8s/*.yaml by (kind, name)."""
    found = {}
    for path in sorted((repo / "deploy/k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert isinstance(doc, dict) and {"apiVersion", "kind", "metadata"} <= set(doc), path
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_the_dockerfile_installs_with_the_readmes_line(repo: Path) -> None:
    readme = (repo / "README.md").read_text()
    section = readme[readme.index("## Past one machine"):]
    install = re.search(r"```bash\n(pip install [^\n]+)\n```", section)
    assert install is not None, "README's 'Past one machine' has no pip install block"
    runs = [line.removeprefix("RUN ").strip() for line in (repo / "deploy/Dockerfile").read_text().splitlines()
            if line.startswith("RUN ")]
    assert install.group(1) in runs
    copied = [line.split()[1:-1] for line in (repo / "deploy/Dockerfile").read_text().splitlines()
              if line.startswith("COPY ")]
    assert all((repo / p).exists() for paths in copied for p in paths)  # what the install needs is copied


def test_compose_has_the_database_the_server_and_workers(repo: Path) -> None:
    compose = yaml.safe_load((repo / "deploy/docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "mlflow", "worker", "finish"} <= set(services)
    db = services["postgres"]
    assert db["image"].startswith("postgres:") and "healthcheck" in db
    assert any(v.endswith("/docker-entrypoint-initdb.d/mlflow.sql:ro") for v in db["volumes"])
    assert (repo / "deploy/postgres/mlflow.sql").read_text().count("CREATE DATABASE mlflow") == 1

    server = services["mlflow"]
    args = server["command"]
    assert args[0] == "server" and server["entrypoint"] == ["mlflow"]
    backend = args[args.index("--backend-store-uri") + 1]
    assert backend.startswith("postgresql+psycopg2://") and backend.endswith("@postgres:5432/mlflow")
    artifacts = args[args.index("--artifacts-destination") + 1]
    assert any(v.split(":")[1] == artifacts and v.split(":")[0] in compose["volumes"] for v in server["volumes"])

    for name in ("worker", "finish"):
        service = services[name]
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        env = service["environment"]
        assert env["AUTOML_STORAGE"].startswith("postgresql+psycopg2://") and "@postgres:5432/optuna" in env[
            "AUTOML_STORAGE"]
        assert env["MLFLOW_TRACKING_URI"] == f"http://mlflow:{args[args.index('--port') + 1]}"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["command"][:2] == ["worker", "/app/pipelines/quickstart.yaml"]
    assert "--budget" in services["worker"]["command"] and services["worker"]["deploy"]["replicas"] >= 2
    assert services["finish"]["command"][0] == "finish"
    assert (repo / "pipelines/quickstart.yaml").exists()  # /app/pipelines/ is the repository's, copied


def test_kubernetes_runs_an_indexed_job_of_gpu_workers(repo: Path) -> None:
    docs = _manifests(repo)
    secret = docs[("Secret", "automl-db")]
    keys = set(secret["stringData"])
    assert {"AUTOML_STORAGE", "MLFLOW_BACKEND_STORE_URI"} <= keys

    job = docs[("Job", "automl-workers")]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] >= 2 and spec["parallelism"] >= 2
    worker = _container(job)
    assert worker["args"][:2] == ["worker", "/app/pipelines/quickstart.yaml"] and "--budget" in worker["args"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    env = _env(worker)
    assert env["AUTOML_STORAGE"] == {"secretKeyRef": {"name": "automl-db", "key": "AUTOML_STORAGE"}}

    service = docs[("Service", "mlflow")]
    port = service["spec"]["ports"][0]["port"]
    assert env["MLFLOW_TRACKING_URI"] == f"http://mlflow:{port}"
    server = docs[("Deployment", "mlflow")]
    assert service["spec"]["selector"] == server["spec"]["template"]["metadata"]["labels"]
    container = _container(server)
    assert "mlflow server" in " ".join(container["args"]) and "--artifacts-destination" in container["args"][0]
    assert _env(container)["MLFLOW_BACKEND_STORE_URI"]["secretKeyRef"]["name"] == "automl-db"
    assert container["ports"][0]["containerPort"] == port

    finish = _container(docs[("Job", "automl-finish")])
    assert finish["args"][0] == "finish" and _env(finish)["MLFLOW_TRACKING_URI"] == env["MLFLOW_TRACKING_URI"]
    # every secret reference names a key the Secret has
    refs = [v["secretKeyRef"] for doc in docs.values() if doc["kind"] in ("Job", "Deployment", "StatefulSet")
            for v in _env(_container(doc)).values() if isinstance(v, dict) and "secretKeyRef" in v]
    assert refs and all(r["name"] == "automl-db" and r["key"] in keys for r in refs)
