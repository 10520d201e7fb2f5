-- The MLflow server's own database beside the Optuna one (POSTGRES_DB): both use alembic, whose version
-- table would clash in one database.
CREATE DATABASE mlflow;
