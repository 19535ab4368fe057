"""Evaluation during training: the engine's Evaluator behind a recipe's ``eval.every_images``.

Every ``every_images`` real images (and at the last step) the trainer calls it to
score the EMA (or raw) generator against the run's own data; the trainer appends
the record (``eval/fid``, ``eval/kid``, ... and ``eval/protocol``) to stats.jsonl,
hands it to the callbacks' ``on_metrics`` and counts its time apart from training.
It runs under a forked RNG and restores the generator's mode, so training goes
on exactly as it would have without it; the record is written before that
step's checkpoint, so a resumed run keeps or replays it like any other record.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from ganzoo.engine.loop import Trainer
from ganzoo.metrics.evaluate import EvalOptions, RunEvaluator
from ganzoo.rundir import RunDir


class PeriodicEval:
    def __init__(self, evaluator: RunEvaluator, every_images: int, info: dict[str, Any]):
        self.evaluator, self.every_images, self.info = evaluator, every_images, info

    def evaluate(self, trainer: Trainer) -> dict[str, Any]:
        which = self.evaluator.options.generator
        generator = trainer.sampling_generator if which == "ema" else trainer.generator
        if which == "ema" and trainer.ema is None:
            which = "raw"  # EMA is off in this recipe: there is only the raw generator
        devices = [trainer.device] if trainer.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            result = self.evaluator.evaluate(trainer.architecture, generator, which,
                                             {**self.info, "step": trainer.step}, self.evaluator.options.settings.seed)
        return {f"eval/{k}": v for k, v in result.items()}


def from_recipe(resolved, host, data, device: torch.device, run_dir: RunDir) -> Optional[PeriodicEval]:
    """The evaluator for the recipe's eval section, or None when it does not evaluate during training.

    Builds and loads the extractor now, so missing weights stop the run before it starts.
    """
    section = resolved.recipe.eval
    if not section.every_images:
        return None
    options = EvalOptions.from_section(section, resolved.extractor_config.model_dump())
    reference_info = {"kind": resolved.recipe.data.kind, "split": getattr(resolved.data_config, "split", None),
                      "data": resolved.to_dict()["data"]}
    evaluator = RunEvaluator(host, options, data, reference_info, device)
    return PeriodicEval(evaluator, section.every_images, {"run": str(run_dir.path)})
