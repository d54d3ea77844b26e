"""Training-time image augmentation on uint8 batches, on whatever device they live on.

`CropFlip` is airbench's augmentation: a random translation by up to ``pad`` pixels with
reflected borders (the same as reflect-padding by ``pad`` and taking a random crop of the
original size) and a random horizontal flip, both per image. The random parameters of a
whole epoch are drawn up front, on the CPU, from a seeded generator, so a run's
augmentation depends on its seed and epoch alone: the same under every schedule, on every
device, and after a resume.

    crop_flip = AUGMENTATIONS["crop_flip"]
    params = crop_flip.draw(len(x_train), generator)          # int64 (N, 3), on the CPU
    xb = crop_flip(x_train[idx], params[idx].to(x_train.device))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def reflect(index: Tensor, size: int) -> Tensor:
    """Indices outside [0, size) mirrored back inside without repeating the edge
    (-1 -> 1, size -> size - 2), as ``F.pad(mode="reflect")``; needs |overshoot| < size."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


@dataclass(frozen=True)
class CropFlip:
    """Random translation by up to ``pad`` px (reflected borders) and horizontal flip.

    ``draw(n, generator)`` -> int64 (n, 3): row shift, column shift (each in [-pad, pad])
    and flip (0 or 1) per image. ``__call__(images, params)``: uint8 (N, C, H, W) and their
    params (N, 3) on the same device -> uint8 (N, C, H, W), one gather for all three.
    """

    pad: int = 2

    def draw(self, n: int, generator: torch.Generator) -> Tensor:
        shifts = torch.randint(-self.pad, self.pad + 1, (n, 2), generator=generator)
        flips = torch.randint(0, 2, (n, 1), generator=generator)
        return torch.cat([shifts, flips], dim=1)

    def __call__(self, images: Tensor, params: Tensor) -> Tensor:
        if images.dim() != 4 or len(params) != len(images):
            raise ValueError(
                f"CropFlip expects images (N, C, H, W) and params (N, 3), got "
                f"{tuple(images.shape)} and {tuple(params.shape)}"
            )
        n, _, height, width = images.shape
        device = images.device
        rows = reflect(torch.arange(height, device=device) + params[:, :1], height)  # (N, H)
        cols = torch.arange(width, device=device).expand(n, width)
        # Column j of a shifted-then-flipped image is column W-1-j of the shifted one.
        cols = torch.where(params[:, 2:] == 1, cols.flip(1), cols)
        cols = reflect(cols + params[:, 1:2], width)
        batch = torch.arange(n, device=device)[:, None, None]
        # Advanced indexing around the channel slice gives (N, H, W, C); the permuted view
        # is (N, C, H, W) with channels_last strides, which is what the GPU path wants.
        return images[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


#: Augmentations a problem can name (`problems.Problem.augment`).
AUGMENTATIONS: dict[str, CropFlip] = {"crop_flip": CropFlip(pad=2)}
