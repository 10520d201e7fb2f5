"""Model blocks: the feature extractor between a model's preprocessing and its head.

Importing this package registers every block in :data:`BLOCKS`; a new block is one more module here.
"""

from automl.builders.blocks import conv, dense, mobilenet, resnet, rnn, transformer  # noqa: F401  (register)
from automl.builders.blocks.base import BLOCKS, RANK_NAMES, Block, BuildContext

__all__ = ["BLOCKS", "RANK_NAMES", "Block", "BuildContext"]
