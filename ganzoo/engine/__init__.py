"""The one training engine every architecture shares."""
from ganzoo.engine.loop import Callback, TrainingDiverged, train

__all__ = ["Callback", "TrainingDiverged", "train"]
