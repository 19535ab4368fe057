"""Evaluation during training: the callback behind a recipe's ``eval.every_images``.

Every ``every_images`` real images (and at the last step) it scores the EMA (or
raw) generator against the run's own data, appends a record to the run's
``stats.jsonl`` (``eval/fid``, ``eval/kid``, ... and ``eval/protocol``) and hands
it to the other callbacks' ``on_metrics`` (the progress display prints it).
It runs under a forked RNG and restores the generator's mode, so training goes
on exactly as it would have without it; the record is written before that
step's checkpoint, so a resumed run keeps or replays it like any other record.
"""
from __future__ import annotations

import json
import time
from typing import Any, Optional

import torch

from ganzoo.engine.loop import Callback
from ganzoo.metrics.evaluate import RunEvaluator
from ganzoo.rundir import RunDir


class PeriodicEval(Callback):
    def __init__(self, evaluator: RunEvaluator, every_images: int, run_dir: Optional[RunDir], info: dict[str, Any]):
        self.evaluator, self.every, self.run_dir, self.info = evaluator, every_images, run_dir, info
        self.trainer = None
        self.next_at = every_images

    def attach(self, trainer) -> None:
        self.trainer = trainer

    def on_start(self, info: dict[str, Any]) -> None:
        self.next_at = (info["images_seen"] // self.every + 1) * self.every

    def on_log(self, record: dict[str, Any]) -> None:
        images, step = record["images_seen"], record["step"]
        # The last record always evaluates: the budget may end between multiples of every_images (and
        # before the estimated last step, when a lazy regulariser also shows real images, as StyleGAN's R1).
        if images < self.next_at and not self.trainer.budget_reached():
            return
        self.next_at = (images // self.every + 1) * self.every
        started = time.perf_counter()
        result = self.evaluate(step)
        seconds = time.perf_counter() - started
        self.trainer.eval_seconds += seconds  # a wall-clock budget counts training time only
        line = {"step": step, "images_seen": images,
                **{f"eval/{k}": v for k, v in result.items() if k != "protocol"},
                "eval/seconds": round(seconds, 3), "eval/protocol": result["protocol"]}
        if not self.trainer.is_main:  # every process extracts its share of the features; rank 0 reports
            return
        if self.run_dir is not None:
            with open(self.run_dir.stats_file, "a") as handle:
                handle.write(json.dumps(line) + "\n")
        for cb in self.trainer.callbacks:
            if cb is not self:
                cb.on_metrics(line)

    def evaluate(self, step: int) -> dict[str, Any]:
        trainer = self.trainer
        which = self.evaluator.options.generator
        generator = trainer.sampling_generator if which == "ema" else trainer.generator
        if which == "ema" and trainer.ema is None:
            which = "raw"  # EMA is off in this recipe: there is only the raw generator
        devices = [trainer.device] if trainer.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return self.evaluator.evaluate(trainer.architecture, generator, which,
                                           {**self.info, "step": step}, self.evaluator.options.settings.seed)


def from_recipe(resolved, host, data, device: torch.device, run_dir: RunDir) -> Optional[PeriodicEval]:
    """The callback for the recipe's eval section, or None when it does not evaluate during training.

    Builds and loads the extractor now, so missing weights stop the run before it starts.
    """
    from ganzoo.metrics.evaluate import EvalOptions
    section = resolved.recipe.eval
    if not section.every_images:
        return None
    options = EvalOptions.from_section(section, resolved.extractor_config.model_dump())
    reference_info = {"kind": resolved.recipe.data.kind, "split": getattr(resolved.data_config, "split", None),
                      "data": resolved.to_dict()["data"]}
    evaluator = RunEvaluator(host, options, data, reference_info, device)
    return PeriodicEval(evaluator, section.every_images, run_dir, {"run": str(run_dir.path)})
