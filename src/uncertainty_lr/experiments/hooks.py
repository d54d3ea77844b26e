"""Run hooks: objects with any of ``on_run_start(run)``, ``on_epoch_end(run, epoch, record)``
and ``on_run_end(run, status, test)`` (TensorBoard and MLflow loggers, test probes).

``run`` is the dict of `run_info`. Torch-free: the executors replay hooks in the parent.
"""

from __future__ import annotations


def call_hooks(hooks, method: str, *args) -> None:
    """Call ``method(*args)`` on every hook that has it, in order."""
    for hook in hooks:
        fn = getattr(hook, method, None)
        if fn is not None:
            fn(*args)


def run_info(run_id: str, problem: str, schedule: str, seed: int, config: dict) -> dict:
    """The ``run`` dict every hook call gets (``schedule`` is the schedule label)."""
    return {"run_id": run_id, "problem": problem, "schedule": schedule, "seed": seed,
            "config": config}  # fmt: skip
