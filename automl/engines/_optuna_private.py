"""Optuna past its public API: the one call automl cannot make through it, kept here and nowhere else.

Everything else the Optuna engine needs has a public name: the storage it made (``RDBStorage``) and that
storage's methods (``get_study_id_from_name``, ``get_trial_id_from_study_id_trial_number``,
``record_heartbeat``, ``set_trial_user_attr``, ``set_trial_state_values``), ``Trial.storage``, ``Study.tell``,
``create_trial`` / ``add_trial`` for a retry. A release of Optuna that renames what this module reaches fails
``tests/engines/test_library_seams.py`` by the function's name; that test also fails when another module of
automl names one of :data:`PRIVATE`.
"""

from __future__ import annotations

from typing import Any

#: the private names of Optuna this module uses (no other module of automl may name them)
PRIVATE = ("_get_stale_trial_ids",)


def stale_trial_ids(storage: Any, study_id: int) -> list[int]:
    """The storage ids of study ``study_id``'s RUNNING trials whose heartbeat stopped for longer than the
    storage's grace period (their process or host died).

    Why private: ``optuna.storages.fail_stale_trials`` fails these trials at once, and a finished trial takes no
    more attributes, so the reason automl records (``fail_reason``) could not be written after it; automl reads
    the list that function reads (``BaseHeartbeat._get_stale_trial_ids``), records the reason, then fails each
    trial through the public ``set_trial_state_values``. ``storage`` is an ``RDBStorage`` made with a
    ``heartbeat_interval``.
    """
    return list(storage._get_stale_trial_ids(study_id))


__all__ = ["PRIVATE", "stale_trial_ids"]
