"""Model blocks: the feature extractor between a model's preprocessing and its head.

Importing this package registers every block in :data:`BLOCKS`; a new block is one more module here.
"""

from automl.builders.blocks import (  # noqa: F401  (register)
    conv,
    dense,
    mobilenet,
    pretrained,
    resnet,
    rnn,
    transformer,
)
from automl.builders.blocks.base import BLOCKS, RANK_NAMES, Block, BuildContext, FineTuning, ParamProblem

__all__ = ["BLOCKS", "RANK_NAMES", "Block", "BuildContext", "FineTuning", "ParamProblem"]
