"""DataBundle: one dataset, fully decoded into in-memory tensors, split three ways."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class DataBundle:
    """A dataset held as tensors, ready for a training loop that indexes it directly.

    Images are kept as uint8 (N, C, H, W) so a whole split fits in memory (and on the
    device) cheaply; `normalise` turns a batch into float32 at use time. Text is int64
    token ids (N, L), padded with `pad_id` to the same length L. Labels are int64 (N,)
    in 0..num_classes-1.

    `mean` / `std` are per channel, in [0, 1] pixel units, computed on `x_train` (the
    training images this bundle actually holds); both are () for text. `fingerprint`
    identifies the decoded data, the preprocessing settings and the exact rows chosen
    for each split, so two bundles with equal fingerprints hold the same data.
    """

    name: str
    kind: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    vocab_size: int = 0
    pad_id: int = 0
    source: str = ""
    fingerprint: str = ""
    # Per-device copies of mean/std, so normalising a batch on the GPU does not copy
    # the two small tensors host->device on every call.
    _stats: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("image", "text"):
            raise ValueError(f"kind must be 'image' or 'text', got {self.kind!r}")

    def normalise(self, x: Tensor) -> Tensor:
        """Images: uint8 (..., C, H, W) -> float32 (x / 255 - mean) / std on x's device.

        Text: returns x unchanged (token ids need no normalising).
        """
        if self.kind == "text":
            return x
        if x.dtype != torch.uint8:
            raise ValueError(f"normalise expects uint8 images, got {x.dtype}")
        if x.dim() < 3 or x.shape[-3] != len(self.mean):
            raise ValueError(
                f"normalise expects images shaped (..., {len(self.mean)}, H, W), "
                f"got {tuple(x.shape)}"
            )
        mean, std = self._stats_on(x.device)
        return (x.to(torch.float32) / 255.0 - mean) / std

    def sizes(self) -> dict[str, int]:
        """Rows per split: {"train": n, "val": n, "test": n}."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def _stats_on(self, device: torch.device) -> tuple[Tensor, Tensor]:
        key = str(device)
        if key not in self._stats:
            shape = (len(self.mean), 1, 1)
            mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(shape)
            std = torch.tensor(self.std, dtype=torch.float32, device=device).view(shape)
            self._stats[key] = (mean, std)
        return self._stats[key]


def channel_stats(images: Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images (N, C, H, W) in [0, 1] units.

    Works in chunks of `chunk` images with float64 sums, so CIFAR-10 sized sets never
    need a full float copy in memory and the sums do not lose precision.
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(
            f"channel_stats expects uint8 images (N, C, H, W), got {images.dtype} "
            f"{tuple(images.shape)}"
        )
    n, c = images.shape[0], images.shape[1]
    if n == 0:
        raise ValueError("channel_stats needs at least one image, got 0")
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, n, chunk):
        block = images[start : start + chunk].to(torch.float64) / 255.0
        total += block.sum(dim=(0, 2, 3))
        total_sq += (block * block).sum(dim=(0, 2, 3))
    count = n * images.shape[2] * images.shape[3]
    mean = total / count
    var = (total_sq / count - mean * mean).clamp_min(0.0)
    # A constant channel would give std 0 and divide by zero in normalise; 1.0 leaves it
    # merely centred.
    std = torch.where(var > 0, var.sqrt(), torch.ones_like(var))
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
