"""``from uncertainty_lr.train import train``: the run loop's public names, where users import them.

The code lives in `uncertainty_lr.experiments`: `run` (one run), `loop` (one epoch),
`build` (data, model, optimizer) and `results` (RunResult).
"""

from uncertainty_lr.experiments.build import build_model, build_optimizer, load_problem_data
from uncertainty_lr.experiments.loop import Diverged, epoch_seed, steps_per_epoch
from uncertainty_lr.experiments.results import RunResult
from uncertainty_lr.experiments.run import train

__all__ = ["Diverged", "RunResult", "build_model", "build_optimizer", "epoch_seed",
           "load_problem_data", "steps_per_epoch", "train"]  # fmt: skip
