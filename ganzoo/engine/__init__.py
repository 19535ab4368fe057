"""The one training engine every architecture shares.

- ``loop``: the Trainer (phases, EMA, then log/evaluate/sample/checkpoint), callbacks, the evaluator interface
- ``settings``: the plain settings it trains with (a recipe's ``train`` section turns into them)
- ``writer``: the interface through which it writes records, grids and checkpoints
- ``checkpoint``, ``ema``, ``batches``, ``augment``, ``ada`` and ``ada_pipeline`` (adaptive augmentation),
  ``images``: its parts
- ``device``, ``memory``, ``distributed``, ``syncbn``: devices, precision, torchrun

It may import the contract (``ganzoo.api``, ``ganzoo.errors``, ``ganzoo.fileio``) and nothing above it:
no recipe, no run directory, no plugin host.
"""
from ganzoo.engine.loop import Callback, Evaluator, Trainer, TrainingDiverged, train
from ganzoo.engine.settings import Budget, EMASettings, OptimizerOverride, TrainSettings
from ganzoo.engine.writer import RunWriter

__all__ = ["Budget", "Callback", "EMASettings", "Evaluator", "OptimizerOverride", "RunWriter", "TrainSettings",
           "Trainer", "TrainingDiverged", "train"]
