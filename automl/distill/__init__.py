"""Knowledge distillation: the study's best model teaches a smaller student (see docs/export.md).

The student study is a session of the one study loop with the student objective
(:class:`automl.distill.objective.StudentObjective`); the distillation loss and the ``Distiller`` model are in
:mod:`automl.builders.distiller`. Nothing heavy is imported until a distillation runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.distill.study import DistillResult, distill

__all__ = ["DistillResult", "distill"]


def __getattr__(name: str) -> Any:
    # lazy: this package's study imports the loop, which is heavy (TensorFlow, the engines)
    if name in __all__:
        from automl.distill import study

        return getattr(study, name)
    raise AttributeError(f"module 'automl.distill' has no attribute {name!r}")
