"""KerasTuner past its public API: what automl cannot do through it, kept here and nowhere else.

automl drives a keras-tuner oracle without a ``Tuner`` (its own runner trains every model), so it does itself
the little a ``Tuner`` does to its oracle on construction, and it mends what a reloaded ``GridSearchOracle``
forgets. Everything else goes through the public API: ``create_trial`` / ``update_trial`` / ``end_trial``,
``save`` / ``reload``, ``get_state`` / ``set_state``, ``HyperParameters``. A release of keras-tuner that renames
what this module reaches fails ``tests/engines/test_library_seams.py`` by the function's name; that test also
fails when another module of automl names one of :data:`PRIVATE`.
"""

from __future__ import annotations

import functools
from typing import Any

import keras_tuner as kt

# the condition `conditional_scope` creates; keras-tuner documents it but exports it from no public module
from keras_tuner.src.engine.conditions import Parent

#: the private names of keras-tuner this module uses (no other module of automl may name them)
PRIVATE = ("_set_project_dir", "_compare", "_ordered_ids", "_populate_next", "keras_tuner.src")


def set_project_dir(oracle: Any, directory: str, project_name: str) -> None:
    """Tell ``oracle`` where its project lives (``directory/project_name``), where ``save`` and ``reload`` write
    and read ``oracle.json`` and the trials.

    Why private: only a ``Tuner``'s constructor sets it (``BaseTuner.__init__`` calls
    ``Oracle._set_project_dir``), and a ``Tuner`` needs a hypermodel and would build it; automl has neither.
    """
    oracle._set_project_dir(directory, project_name)


def restore_grid_walk(oracle: Any) -> None:
    """Rebuild a reloaded ``GridSearchOracle``'s walk through its grid from its trials, ordered the way it orders
    them, so that its next trial is the next unseen combination (a reloaded one finds the grid used up at once).

    Why private: keras-tuner leaves the walk (``_ordered_ids``, a linked list of trial ids in the order of
    ``_compare``, and ``_populate_next``, the trials whose successors are still to try) out of the oracle's
    saved state, and names no public way to rebuild it.
    """
    if not isinstance(oracle, kt.oracles.GridSearchOracle):
        return
    ids = list(oracle.start_order)

    def compare(a: str, b: str) -> int:
        values = oracle.trials[a].hyperparameters.values, oracle.trials[b].hyperparameters.values
        return int(oracle._compare(*values))

    for tid in sorted(ids, key=functools.cmp_to_key(compare)):
        oracle._ordered_ids.insert(tid)
    oracle._populate_next = ids


__all__ = ["PRIVATE", "Parent", "restore_grid_walk", "set_project_dir"]
