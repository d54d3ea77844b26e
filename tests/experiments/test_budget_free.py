"""A budget-free arm never reads the budget: the first k epochs of a long run are the
k-epoch run, bit for bit, so one run at the longest budget scores every shorter one.
Budget-aware arms are the control: told another T, they train differently."""

import pytest

from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.run import train
from uncertainty_lr.schedulers.registry import SCHEDULES

TIMES = ("train_time", "eval_time", "wall_time")
# step's default step_epochs is epochs // 3: 6 epochs (2) tells it apart from 2 (1).
SHORT, LONG = 2, 6


def _history(schedule: str, epochs: int):
    cfg = RunConfig(problem="digits_mlp", schedule=schedule, epochs=epochs, seed=0,
                    train_size=200, batch_size=32, test_every_epoch=True)  # fmt: skip
    result = train(config=cfg)
    assert result.status == "done"
    history = [{k: v for k, v in h.items() if k not in TIMES} for h in result.history]
    return history, result.test


@pytest.mark.parametrize("name", [n for n, spec in SCHEDULES.items() if not spec.budget])
def test_budget_free_arm_truncates_to_the_short_run(name):
    long, _ = _history(name, LONG)
    short, test = _history(name, SHORT)
    assert long[:SHORT] == short
    # the short run's final test is the long run's per-epoch test at that epoch
    at_short = {k: v for k, v in long[SHORT - 1].items() if k.startswith("test_")}
    assert at_short == {k: v for k, v in test.items() if k != "epochs"}
    assert long[SHORT]["val_loss"] != long[SHORT - 1]["val_loss"]  # the run went on


@pytest.mark.parametrize("name", [n for n, spec in SCHEDULES.items() if spec.budget])
def test_budget_aware_arm_differs_when_told_another_budget(name):
    long, _ = _history(name, LONG)
    short, _ = _history(name, SHORT)
    assert long[:SHORT] != short
