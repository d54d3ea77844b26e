"""Signal overhead: epoch wall time under the uncertainty schedule per signal / under constant.

Every epoch of every schedule already runs one validation pass for its metrics (loss,
accuracy, F1, ECE, confidence, entropy, margin), so the "one validation pass" signal
adds nothing beyond it; the training-batch signal adds a softmax per batch; the MC
signals add T=10 stochastic passes (last-layer: the head only; full: the whole model).
Targets: training-batch <= 1.01, last-layer MC T=10 <= 1.05; full MC is reported as is.

    python benchmarks/bench_signals.py            # MNIST CNN on real data when ../shared has it
    python benchmarks/bench_signals.py --smoke    # digits MLP, seconds (CI)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_source, header, median  # noqa: E402

from uncertainty_lr.experiments.config import RunConfig, resolve  # noqa: E402
from uncertainty_lr.train import load_problem_data, train  # noqa: E402

ARMS = {
    "constant": ("constant", {}),
    "training-batch signal": ("uncertainty", {"signal": "train_entropy"}),
    "one validation pass": ("uncertainty", {"signal": "entropy"}),
    "last-layer MC T=10": ("uncertainty", {"signal": "ll_mutual_information"}),
    "full MC dropout T=10": ("uncertainty", {"signal": "mc_mutual_information"}),
}
TARGETS = {"training-batch signal": 1.01, "last-layer MC T=10": 1.05}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    problem, data_dir = data_source(args.smoke)
    sizes = {} if args.smoke else {"train_size": 4096, "val_size": 1024, "test_size": 256}
    base = dict(
        problem=problem,
        epochs=1 if args.smoke else args.epochs,
        data_dir=data_dir,
        mc_samples=10,
        **sizes,
    )
    configs = {
        arm: resolve(RunConfig(schedule=s, schedule_options=o, **base))
        for arm, (s, o) in ARMS.items()
    }
    data = load_problem_data(configs["constant"])
    repeats = 1 if args.smoke else args.repeats
    header("signal overhead: epoch time (train + evaluation) relative to constant", problem=problem,
           **data.sizes(), batch=configs["constant"].batch_size, epochs_per_run=base["epochs"],
           repeats=repeats, mc_samples=10)  # fmt: skip
    train(config=configs["constant"], data=data)  # warm-up
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for r in range(repeats):
        order = list(ARMS) if r % 2 == 0 else list(reversed(ARMS))
        for arm in order:
            result = train(config=configs[arm], data=data)
            times[arm] += [h["train_time"] + h["eval_time"] for h in result.history]
    ref = median(times["constant"])
    print(f"{'arm':<24} {'median epoch s':>15} {'ratio':>7}  target")
    for arm, values in times.items():
        ratio = median(values) / ref
        target = (
            f"<= {TARGETS[arm]:.2f} {'met' if ratio <= TARGETS[arm] else 'MISSED'}"
            if arm in TARGETS
            else ""
        )
        print(f"{arm:<24} {median(values):>15.3f} {ratio:>7.3f}  {target}")


if __name__ == "__main__":
    main()
