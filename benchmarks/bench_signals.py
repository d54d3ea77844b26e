"""Signal overhead: epoch wall time under the uncertainty schedule per signal / under constant.

Every epoch of every schedule already runs one validation pass for its metrics (loss,
accuracy, F1, ECE, confidence, entropy, margin), so the "one validation pass" signal
adds nothing beyond it, and overconfidence (the default arm) only compares that pass's
confidence with its accuracy; the training-batch signal adds a softmax per batch; the MC
signals add T=10 stochastic passes (last-layer: the head only; full: the whole model).
The last-layer Laplace signal adds a feature pass over at most 1,024 training inputs, the
K-FAC fit of the head and T=10 draws of the logits; the loop does not yet hand evaluate()
the training inputs, so its row is the "one validation pass" epoch plus the extra time of
evaluate() with ``la_mutual_information`` over evaluate() alone, measured on the same
model and data, alternating, in the same repeats.
Targets: training-batch <= 1.01, last-layer MC T=10 <= 1.05; the rest are reported as is.

    python benchmarks/bench_signals.py            # MNIST CNN on real data when ../shared has it
    python benchmarks/bench_signals.py --smoke    # digits MLP, seconds (CI)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_source, header, median, study_plan_arm  # noqa: E402

from uncertainty_lr.experiments.build import build_model, load_problem_data  # noqa: E402
from uncertainty_lr.experiments.config import RunConfig, resolve  # noqa: E402
from uncertainty_lr.experiments.evaluate import evaluate  # noqa: E402
from uncertainty_lr.experiments.run import train  # noqa: E402
from uncertainty_lr.experiments.runtime import pick_device  # noqa: E402
from uncertainty_lr.signals.laplace import LAPLACE_FIT_SIZE  # noqa: E402

ARMS = {
    "constant": ("constant", {}),
    "training-batch signal": study_plan_arm("train_entropy"),
    "one validation pass": study_plan_arm("entropy"),
    "overconfidence (default)": ("uncertainty", {}),
    "last-layer MC T=10": study_plan_arm("ll_mutual_information"),
    "full MC dropout T=10": study_plan_arm("mc_mutual_information"),
}
TARGETS = {"training-batch signal": 1.01, "last-layer MC T=10": 1.05}
LAPLACE = "last-layer Laplace T=10"


def laplace_extra_seconds(config: RunConfig, data, calls: int) -> list[float]:
    """Seconds evaluate() takes with la_mutual_information minus without, ``calls`` pairs.

    The same model (the run's initial weights), validation data and transform as the loop;
    the two calls alternate in order so drift in the machine's load hits both alike.
    """
    device = pick_device(config.device)
    model = build_model(config, data).to(device)
    x_train, x_val, y_val = (t.to(device) for t in (data.x_train, data.x_val, data.y_val))

    def transform(xb):
        return data.normalise(xb.to(device))

    def timed(signals: tuple[str, ...], seed: int) -> float:
        t0 = time.perf_counter()
        evaluate(model, x_val, y_val, num_classes=data.num_classes, transform=transform,
                 batch_size=config.eval_batch_size, extra_signals=signals,
                 mc_samples=config.mc_samples, mc_seed=seed, fit_inputs=x_train)  # fmt: skip
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    extra = []
    for call in range(calls):
        if call % 2 == 0:
            plain, laplace = timed((), call), timed(("la_mutual_information",), call)
        else:
            laplace, plain = timed(("la_mutual_information",), call), timed((), call)
        extra.append(laplace - plain)
    return extra


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
           repeats=repeats, mc_samples=10,
           laplace_fit_rows=min(LAPLACE_FIT_SIZE, len(data.y_train)))  # fmt: skip
    train(config=configs["constant"], data=data)  # warm-up
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    laplace_extra: list[float] = []
    for r in range(repeats):
        order = list(ARMS) if r % 2 == 0 else list(reversed(ARMS))
        for arm in order:
            result = train(config=configs[arm], data=data)
            times[arm] += [h["train_time"] + h["eval_time"] for h in result.history]
        laplace_extra += laplace_extra_seconds(configs["constant"], data, base["epochs"])
    times[LAPLACE] = [t + median(laplace_extra) for t in times["one validation pass"]]
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
    print(f"{LAPLACE}: one-validation-pass epoch + {median(laplace_extra):.3f} s, the median extra "
          f"time of evaluate() with la_mutual_information over {len(laplace_extra)} pairs")  # fmt: skip


if __name__ == "__main__":
    main()
