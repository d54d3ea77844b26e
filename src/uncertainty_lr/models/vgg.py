"""VGG-16 with BatchNorm, CIFAR variant (Simonyan & Zisserman 2015; one linear classifier)."""

from __future__ import annotations

import torch
from torch import nn

from uncertainty_lr.checks import check_number
from uncertainty_lr.models.mlp import ImageClassifier, classifier_head

#: Conv widths of VGG-16; "M" = 2x2 max pool.
VGG16_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip


class VGG16(ImageClassifier):
    """CIFAR VGG-16-BN: 13 conv3x3-BN-ReLU layers, 5 max pools, global pool, Dropout + Linear.

    ~14.7M parameters at width_mult 1 with 10 classes. For images under 32 px a pool that
    would shrink a side below 1 px is skipped (MNIST 28 px: 28-14-7-3-1, last pool skipped),
    so every size >= 1 px works; the final global average pool makes features (N, 512 *
    width_mult) whatever the input size.

    Args (besides those of every `ImageClassifier`):
        width_mult: multiplies every conv width (default 1.0; tests use ~1/16); widths are
            rounded and at least 1.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int | tuple[int, int],
        width_mult: float = 1.0,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_channels, image_size)
        in_channels, height, width = self.in_shape
        check_number("width_mult", width_mult)
        layers: list[nn.Module] = []
        previous = in_channels
        self.skipped_pools = 0
        for item in VGG16_CFG:
            if item == "M":
                if min(height, width) >= 2:
                    layers.append(nn.MaxPool2d(2))
                    height, width = height // 2, width // 2
                else:
                    self.skipped_pools += 1
                continue
            channels = max(1, round(int(item) * width_mult))
            layers += [
                nn.Conv2d(previous, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
            previous = channels
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.feature_dim = previous
        self.head = classifier_head(previous, num_classes, dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (N, C, H, W) matching in_shape -> (N, 512 * width_mult)."""
        return self.body(self.check_shape(x))
