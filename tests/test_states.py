"""A trial's state: an enum whose members are the plain words every store and tag already holds."""

from __future__ import annotations

import doctest
import json
import pickle

import pytest

from automl import states
from automl.states import TrialState


def test_the_examples_of_the_module_hold() -> None:
    assert doctest.testmod(states).failed == 0


@pytest.mark.parametrize("state", list(TrialState))
def test_a_state_is_stored_tagged_and_printed_as_its_word(state: TrialState) -> None:
    word = state.name
    assert state == word and str(state) == word and f"{state:>9}" == f"{word:>9}"
    assert json.dumps({"state": state}) == json.dumps({"state": word})  # Optuna's attributes, automl.json
    assert {word: 1}[state] == 1 and TrialState(word) is state  # a stored word reads back as the member
    assert pickle.loads(pickle.dumps(state)) is state  # across the trial process's pipe
    assert repr([state]) == repr([word])  # a script printing its trials' states prints what it did before


def test_only_ended_trials_are_finished() -> None:
    assert [s for s in TrialState if s.finished] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
