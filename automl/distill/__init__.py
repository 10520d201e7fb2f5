"""Knowledge distillation: the study's best model teaches a smaller student (see docs/export.md).

Keras is imported only when a distillation runs: ``Distiller`` and ``distillation_loss`` live in
:mod:`automl.distill.loss`.
"""

from __future__ import annotations

from automl.distill.study import DistillResult, distill

__all__ = ["DistillResult", "distill"]
