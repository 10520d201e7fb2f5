"""What a study was created with, checked when it resumes (``automl run`` again on an existing study).

A study's trials are comparable only when they were scored on the same split by the same rules. The terms a
study starts with are kept in its folder (``terms.json``, :attr:`~automl.store.folder.StudyFolder.terms`):

- the split (``data.validation_split``, ``data.test_split``, ``data.stratify``, ``data.split_column``,
  ``data.validation_path``, ``data.test_path``), ``seed`` and ``study.cv_folds``: a resumed study that changes
  one of them is refused (one line naming the pipeline file and the key; ``--name`` or ``--new`` is the way
  out), as a changed search space is;
- the budget (``train.epochs``, ``train.batch_size``): a change is allowed, with one warning line, since the
  earlier trials' values are not comparable with the new ones. Each trial records the budget it trained under
  (trial attributes and MLflow params ``train.epochs`` / ``train.batch_size``), so the warning counts the
  earlier trials that used another one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from automl.engines.base import TrialRecord
from automl.errors import ConfigError
from automl.states import TrialState

#: the keys that decide which rows a trial is scored on (a change: a study of its own)
SPLIT_KEYS = ("data.validation_split", "data.test_split", "data.stratify", "data.split_column",
              "data.validation_path", "data.test_path")
FIXED_KEYS = (*SPLIT_KEYS, "seed", "study.cv_folds")
#: the training budget of every trial (a change: a warning)
BUDGET_KEYS = ("train.epochs", "train.batch_size")


def _value(cfg: Any, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = getattr(node, part, None)
    return None if node is None else (node if isinstance(node, bool | int | float) else str(node))


def study_terms(cfg: Any) -> dict[str, Any]:
    """The terms of a pipeline's config (:data:`FIXED_KEYS` and :data:`BUDGET_KEYS`), JSON-ready."""
    return {key: _value(cfg, key) for key in (*FIXED_KEYS, *BUDGET_KEYS)}


def budget_attrs(epochs: int, batch_size: int) -> dict[str, int]:
    """The budget a trial trains under, as its attributes (and its MLflow run's params)."""
    return {"train.epochs": int(epochs), "train.batch_size": int(batch_size)}


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def check_resume(stored: dict[str, Any] | None, now: dict[str, Any], earlier: list[TrialRecord], *, name: str,
                 file: str) -> str | None:
    """Compare the terms a resumed study was created with (``stored``) to ``now``.

    Raises ConfigError (``FILE: key: ...``) for a changed split, seed or ``study.cv_folds``; returns the one
    warning line (without ``warning:``) when the budget changed, else None. ``earlier`` are the study's trials
    so far: the budget each recorded (else the stored one) is what the warning compares with.

    >>> now = {"seed": 0, "train.epochs": 5, "train.batch_size": 32}
    >>> print(check_resume({**now, "train.epochs": 3}, now, [], name="x", file="x.yaml"))
    x.yaml: train.epochs 5 differs from the 3 that earlier trials of study 'x' used; their values are not comparable
    >>> check_resume({**now, "seed": 1}, now, [], name="x", file="x.yaml")
    Traceback (most recent call last):
    ...
    automl.errors.ConfigError: x.yaml: seed: 0 differs from the 1 study 'x' was created with (it decides the \
split and every trial's start): use --name NEW_NAME for a study of its own, or --new to start 'x' afresh
    """
    stored = stored or {}
    for key in FIXED_KEYS:
        if key in stored and key in now and stored[key] != now[key]:
            why = "it decides the split" if key in SPLIT_KEYS else (
                "it decides the split and every trial's start" if key == "seed" else "it decides every trial's value")
            raise ConfigError(f"{_shown(now[key])} differs from the {_shown(stored[key])} study '{name}' was created "
                              f"with ({why}): use --name NEW_NAME for a study of its own, or --new to start "
                              f"'{name}' afresh", file=file, path=key)
    done = [t for t in earlier if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
    changed = []
    for key in BUDGET_KEYS:
        if key not in now:
            continue
        used = Counter(t.attrs.get(key, stored.get(key)) for t in done) if done else Counter([stored.get(key)])
        used.pop(None, None)
        others = sorted((v for v in used if v != now[key]), key=str)
        if not others:
            continue
        count = sum(used[v] for v in others)
        values = " / ".join(map(str, others))
        trials = f"the {count} earlier trial{'s' if count != 1 else ''}" if done else "earlier trials"
        changed.append(f"{key} {now[key]} differs from the {values} that {trials} of study '{name}' used")
    if not changed:
        return None
    return f"{file}: {'; '.join(changed)}; their values are not comparable"


__all__ = ["BUDGET_KEYS", "FIXED_KEYS", "SPLIT_KEYS", "budget_attrs", "check_resume", "study_terms"]
