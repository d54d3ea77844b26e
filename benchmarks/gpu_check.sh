#!/usr/bin/env bash
# GPU readiness: cifar10_resnet18 for 2 epochs with the data on the device, bf16 autocast and
# channels_last; prints the epoch time and training samples/s of each epoch.
#
#   bash benchmarks/gpu_check.sh [DATA_DIR]    # DATA_DIR holds cifar10/ in the hub layout
#                                              # (default ../shared/datasets)
# Needs a CUDA build of torch and the package's dependencies (pip install -e .).
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir="${1:-../shared/datasets}"
out="${OUT:-/tmp}/gpu_check"
rm -rf "$out"

python3 - <<'PY'
import torch
if not torch.cuda.is_available():
    raise SystemExit("no CUDA GPU visible to torch: this check needs one")
print(f"gpu: {torch.cuda.get_device_name()}, torch {torch.__version__}, cuda {torch.version.cuda}")
PY

PYTHONPATH=src python3 -m uncertainty_lr run --problem cifar10_resnet18 --data-dir "$data_dir" \
    --schedule uncertainty --epochs 2 --device cuda --bf16 --channels-last --quiet --no-report --out "$out"

PYTHONPATH=src python3 - "$out" <<'PY'
import sys
from uncertainty_lr.experiments.store import Store

store = Store(sys.argv[1], create=False)
(run,) = store.runs()
n = run["config"]["data_sizes"]["train"]
batch = run["config"]["batch_size"]
seen = (n // batch) * batch
print(f"cifar10_resnet18: {n} training images, batch {batch}, bf16, channels_last")
for e in store.epochs(run["run_id"]):
    print(f"epoch {e['epoch']}: train {e['train_time']:.2f} s ({seen / e['train_time']:,.0f} samples/s), "
          f"eval {e['eval_time']:.2f} s, val acc {e['val_accuracy']:.4f}")
PY
