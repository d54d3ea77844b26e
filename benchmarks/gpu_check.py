"""GPU check: what the harness and the uncertainty signals cost on a CUDA device.

cifar10_resnet18 (its batch 128, Adam, bf16 autocast, channels_last, data on the device,
a seeded 20,000-image training subset by default). Per
variant, epoch 1 warms up (cuDNN autotuning, allocator) and epoch 2 is timed; variants
alternate over the repeats. Printed per variant: training samples/s of epoch 2 and its
ratio to a plain loop, and train + evaluation seconds with its ratio to `constant`.

- plain: the loop a user writes (no per-step host sync).
- plain + item(): the same plus one `.item()` per step, i.e. what a per-step host read
  (a finiteness check, a float signal) costs when the GPU runs ahead of Python.
- harness <schedule / signal>: `train()` itself.

    python benchmarks/gpu_check.py --data-dir ../shared/datasets   # needs a CUDA GPU
    python benchmarks/gpu_check.py --smoke                         # CPU, digits: it runs

CIFAR-10 is read with pyarrow and PIL straight from the parquet files (the same tensors
and splits as `load_data`, checked by fingerprint where `datasets` is installed), so the
check runs on a machine that has torch but not `datasets`. Results are appended to
``--out`` (JSON lines) as each measurement ends.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, cifar10_payload, header, median, study_plan_arm  # noqa: E402

from uncertainty_lr.data.load import carve  # noqa: E402
from uncertainty_lr.experiments.build import build_model, build_optimizer  # noqa: E402
from uncertainty_lr.experiments.config import RunConfig, resolve  # noqa: E402
from uncertainty_lr.experiments.loop import epoch_seed  # noqa: E402
from uncertainty_lr.experiments.run import train  # noqa: E402

HARNESS = {  # variant -> (schedule, schedule options)
    "harness constant": ("constant", {}),
    "harness uncertainty, train_entropy": study_plan_arm("train_entropy"),
    "harness uncertainty, entropy (val pass)": study_plan_arm("entropy"),
    "harness uncertainty, ll_entropy T=10": study_plan_arm("ll_entropy"),
    "harness uncertainty, mc_entropy T=10": study_plan_arm("mc_entropy"),
}
PLAIN = ("plain", "plain + item()")


def plain_epochs(cfg, data, device, sync: bool) -> float:
    """Seconds of epoch 2 of the plain loop (epoch 1 warms up), with GPU settings as train()."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, data).to(device)
    cuda = device.type == "cuda"
    if cuda and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(cfg, model)
    x, y = data.x_train.to(device), data.y_train.to(device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and cuda)
    steps = len(y) // cfg.batch_size
    seconds = 0.0
    for epoch in (1, 2):
        gen = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch))
        order = torch.randperm(len(y), generator=gen).to(device)
        model.train()
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(0, steps * cfg.batch_size, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            xb = data.normalise(x[idx])
            if cuda and cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with amp:
                loss = F.cross_entropy(model(xb).float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sync and not torch.isfinite(loss).item():
                raise RuntimeError("plain loop diverged")
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    return seconds


def measure(variant: str, cfg, data, device) -> dict:
    seen = (len(data.y_train) // cfg.batch_size) * cfg.batch_size
    if variant in PLAIN:
        train_s = plain_epochs(cfg, data, device, sync=variant != "plain")
        return {
            "variant": variant,
            "train_s": train_s,
            "eval_s": 0.0,
            "samples_per_s": seen / train_s,
        }
    schedule, options = HARNESS[variant]
    result = train(config=replace(cfg, schedule=schedule, schedule_options=options), data=data)
    row = result.history[1]  # epoch 2
    return {"variant": variant, "train_s": row["train_time"], "eval_s": row["eval_time"],
            "samples_per_s": seen / row["train_time"], "val_accuracy": row["val_accuracy"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=str(SHARED))
    ap.add_argument("--train-size", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="gpu_check.jsonl")
    ap.add_argument("--smoke", action="store_true", help="digits MLP on the CPU, 1 repeat")
    args = ap.parse_args()
    if args.smoke:
        from uncertainty_lr.experiments.build import load_problem_data

        cfg = resolve(RunConfig(problem="digits_mlp", epochs=2, device="cpu"))
        data, repeats = load_problem_data(cfg), 1
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA GPU visible to torch: this check needs one (or --smoke)")
        payload = cifar10_payload(Path(args.data_dir) / "cifar10")
        data = carve(payload, 0, 0.1, args.train_size, None, None)
        cfg = resolve(RunConfig(problem="cifar10_resnet18", epochs=2, device="cuda", bf16=True,
                                channels_last=True, train_size=args.train_size))  # fmt: skip
        repeats = args.repeats
    device = torch.device(cfg.device)
    header("GPU check: harness and signal cost per epoch", problem=cfg.problem,
           splits=data.sizes(), batch=cfg.batch_size, bf16=cfg.bf16,
           channels_last=cfg.channels_last, repeats=repeats, fingerprint=data.fingerprint)  # fmt: skip
    variants = list(PLAIN) + list(HARNESS)
    rows: dict[str, list[dict]] = {v: [] for v in variants}
    with open(args.out, "a") as log:
        for r in range(repeats):
            for variant in variants if r % 2 == 0 else variants[::-1]:
                row = measure(variant, cfg, data, device)
                rows[variant].append(row)
                log.write(json.dumps({"repeat": r + 1, **row}) + "\n")
                log.flush()
                print(f"  repeat {r + 1}: {variant}: train {row['train_s']:.2f} s, "
                      f"eval {row['eval_s']:.2f} s", flush=True)  # fmt: skip
    plain = median(r["samples_per_s"] for r in rows["plain"])
    const = median(r["train_s"] + r["eval_s"] for r in rows["harness constant"])
    print(f"\n{'variant':<42} {'samples/s':>10} {'/ plain':>8} {'epoch s':>8} {'/ constant':>10}")
    for variant in variants:
        sps = median(r["samples_per_s"] for r in rows[variant])
        epoch = median(r["train_s"] + r["eval_s"] for r in rows[variant])
        ratio = f"{epoch / const:10.3f}" if variant not in PLAIN else f"{'-':>10}"
        print(f"{variant:<42} {sps:10,.0f} {sps / plain:8.3f} {epoch:8.2f} {ratio}")


if __name__ == "__main__":
    main()
